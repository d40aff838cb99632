#ifndef UPSHIFT_SERVICES_CLONER_CLONER_H_
#define UPSHIFT_SERVICES_CLONER_CLONER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/common/concurrent.h"
#include "libs/common/time.h"
#include "libs/gate/gate.h"
#include "libs/gate/work_claim.h"
#include "libs/hosting/hosting_server.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/publisher.h"
#include "services/cloner/clone_store.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::cloner {

enum class CloneMethod {
  // CREATE DATABASE ... TEMPLATE, falling back to dump/restore when the source has sessions.
  kAuto,
  // CREATE DATABASE ... TEMPLATE only: fails while the source has sessions.
  kTemplate,
  // pg_dump | pg_restore: the source stays in use.
  kDump,
};

// A check's copy is dropped when its check ends; one still there this long after it was made
// belongs to a check that never ended, and is dropped by the sweeper.
inline constexpr absl::Duration kAbandonedCheckCopyTtl = absl::Hours(24);

struct ClonerOptions {
  CloneMethod method = CloneMethod::kAuto;
  // CREATE DATABASE strategy: "file_copy", "wal_log", or "auto": wal_log for a database smaller than
  // file_copy_from_bytes on disk, file_copy from there. file_copy copies the files at disk
  // speed but forces two checkpoints of the whole server, which cost more than writing a small
  // database through the WAL (and slow every other database on the server).
  std::string template_strategy = "auto";
  // How long the restore point of a successful Production upgrade is kept.
  absl::Duration restore_point_retention = absl::Hours(24 * 7);
  // A Production upgrade whose migrator has not renewed its lease for this long is rolled back.
  absl::Duration migration_lease = absl::Minutes(10);
  // At most this many test copies per database: the oldest goes first.
  int max_test_copies = 5;
  // A test copy is dropped this long after it was made, unless extended.
  absl::Duration test_copy_ttl = absl::Hours(24 * 30);
  // With template_strategy "auto": the size on disk (pg_database_size) from which file_copy is used.
  int64_t file_copy_from_bytes = int64_t{128} << 20;
  // The platform's own databases on the hosting server: never created, dropped or replaced.
  std::vector<std::string> reserved = {"upshift"};
  // Test and check copies made at once (each reads its whole source and writes its whole copy on the
  // hosting server). A restore point does not wait for this bound: its database is offline meanwhile.
  int max_concurrent_copies = 2;
  // This replica's claims on the copies and restore points it makes.
  ClaimOptions claims{"cloner"};
  // How long the ids of the events acted on are kept (a replay older than this meets the stored
  // order's checks only), and how many are forgotten per transaction.
  absl::Duration applied_events_retention = absl::Hours(24 * 90);
  int prune_batch = 1000;
};

// Makes the test copy of every accepted Test upgrade (and the throwaway copy of every check), checks
// that it equals its source table by table, and drops the copy of a Test upgrade that failed (and of
// every check that ended). Idempotent under redelivery.
class Cloner {
 public:
  Cloner(ClonerOptions options, HostingServer& hosting, CloneStore& store, Publisher& publisher, Gate& gate,
         Clock& clock)
      : options_(options),
        hosting_(hosting),
        store_(store),
        publisher_(publisher),
        gate_(gate),
        clock_(clock),
        copies_(options.max_concurrent_copies) {}

  // Consumer entry point for upgrade.orders and upgrade.events. Acts on the order request stored
  // for the record's upgrade (the gate's), never on the names the record carries: a record that
  // disagrees with the stored order is refused with PERMISSION_DENIED and changes nothing.
  absl::Status Handle(const ConsumedRecord& record);

  absl::Status OnAccepted(const upgrade::v1::Order& order);
  absl::Status OnFailed(const upgrade::v1::Order& order);

  // Production: takes the database offline and makes and verifies its restore point.
  absl::Status OnProductionAccepted(const upgrade::v1::Order& order);
  // Production: brings the upgraded database back online.
  absl::Status OnMigrated(const upgrade::v1::Order& order, const upgrade::v1::IntegrityReport& report = {});
  // Production: replaces the database by its restore point and brings it back online. `cancelled`:
  // the cause is a cancellation, not a failure.
  absl::Status OnMigrationFailed(const upgrade::v1::Order& order, const std::string& error, bool cancelled = false);

  // Check: drops the throwaway copy once the check ended (however it ended).
  absl::Status OnCheckEnded(const upgrade::v1::Order& order);

  // Test: drops the copy of a cancelled upgrade.
  absl::Status OnCancelled(const upgrade::v1::Order& order);

  // Test: the customer extended the copy's life.
  absl::Status OnTestCopyExtended(const upgrade::v1::Order& order, absl::Time expires_at);

  // Warns 7 days and 1 day before a test copy expires, and drops expired copies (recording each
  // drop). Returns how many copies were dropped.
  absl::StatusOr<int> ExpireTestCopies();
  // Every replica sweeps (drops and rollbacks are idempotent): expired restore points, stalled
  // upgrades, expired test copies, each whatever the others' outcome. The first failure's code, with
  // every failure's message.
  absl::Status Sweep();
  // Forgets the ids of events acted on longer than applied_events_retention ago. Returns how many.
  absl::StatusOr<int> ForgetAppliedEvents();

  // Drops the restore points kept longer than their retention, recording each drop. Returns how many.
  absl::StatusOr<int> DropExpiredRestorePoints();

  // Rolls back the Production upgrades whose lease expired (the migrator died or hangs), so that no
  // database stays offline. Returns how many.
  absl::StatusOr<int> RollBackStalledUpgrades();

 private:
  // Runs `fn` under this replica's claim on `work` of `order`'s upgrade: UNAVAILABLE (retried) while
  // another replica holds it, OK at once when the work is done.
  absl::Status Claimed(const upgrade::v1::Order& order, const std::string& work, const std::function<absl::Status()>& fn);
  // OnAccepted and OnProductionAccepted, under the claim.
  absl::Status Copy(const upgrade::v1::Order& order);
  absl::Status TakeOffline(const upgrade::v1::Order& order);

  // Publishes the event `kind` about `order`, filled in by `fill`.
  absl::Status Emit(const upgrade::v1::Order& order, const std::string& kind,
                    const std::function<void(upgrade::v1::Event&)>& fill);
  // Makes the restore point of an offline database; a permanent error means it could not be verified.
  absl::StatusOr<upgrade::v1::SnapshotSucceeded> MakeRestorePoint(const upgrade::v1::Order& order);
  // What to do with the stored order of `event`'s upgrade, or nullptr when the event asks nothing
  // of the cloner.
  using Action = std::function<absl::Status(const upgrade::v1::Order&)>;
  Action ActionFor(const upgrade::v1::Event& event);

  // Drops `database` if the cloner recorded making it for `upgrade_id` (false, and nothing is done,
  // otherwise). PERMISSION_DENIED for a reserved database.
  absl::StatusOr<bool> DropIfMade(const std::string& upgrade_id, const std::string& database);
  // Makes `database` for `upgrade_id` with `create`, recorded first as made by the cloner. A
  // leftover of an earlier attempt of the same upgrade is dropped and made again; a database of that
  // name the cloner did not make stays (ALREADY_EXISTS).
  absl::Status Create(const std::string& upgrade_id, const std::string& database,
                      const std::function<absl::Status()>& create);
  // Drops a test's or a check's copy if the cloner made it, and records why.
  absl::Status DropCopy(const upgrade::v1::Order& order, const std::string& reason);
  // Drops a test copy, records why, and announces it.
  absl::Status DropTestCopy(const upgrade::v1::Order& order, const std::string& reason);

  // The CREATE DATABASE strategy for copying `database` (see ClonerOptions::template_strategy).
  absl::StatusOr<std::string> StrategyFor(const std::string& database);

  // Makes `order`'s copy (replacing an unfinished one); a non-retryable error is the order's failure.
  // A copy made by dump comes with the source's row counts in the snapshot it copied; one made from
  // the template with none (the source is counted beside the copy).
  absl::StatusOr<std::optional<TableRowCounts>> MakeCopy(const upgrade::v1::Order& order);
  // Counts the source and its copy: `dumped`, the source's counts in the snapshot a dump copied, or
  // none after a template copy (both are counted now, side by side).
  absl::Status CountCopy(const upgrade::v1::Order& order, const std::optional<TableRowCounts>& dumped,
                         TableRowCounts* source_rows, TableRowCounts* copy_rows);
  absl::Status Fail(const upgrade::v1::Order& order, const std::string& error);

  const ClonerOptions options_;
  HostingServer& hosting_;
  CloneStore& store_;
  Publisher& publisher_;
  Gate& gate_;
  Clock& clock_;
  Semaphore copies_;  // test and check copies at work
};

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_CLONER_H_
