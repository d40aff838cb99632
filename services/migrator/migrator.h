#ifndef UPSHIFT_SERVICES_MIGRATOR_MIGRATOR_H_
#define UPSHIFT_SERVICES_MIGRATOR_MIGRATOR_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "libs/catalog/catalog.h"
#include "libs/common/time.h"
#include "libs/gate/gate.h"
#include "libs/gate/work_claim.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/publisher.h"
#include "services/migrator/migration_target.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::migrator {

// One target for every server (tests, tools): not owned.
inline std::function<absl::StatusOr<std::shared_ptr<MigrationTarget>>(const std::string&)> OnlyTarget(
    MigrationTarget& target) {
  return [&target](const std::string&) { return std::shared_ptr<MigrationTarget>(std::shared_ptr<MigrationTarget>(), &target); };
}

// Runs the catalog's plan on each test copy once it is cloned, hop by hop and step by step,
// then neutralizes the copy. Idempotent under redelivery: the database's own history skips
// applied steps, and a finished plan just re-announces its result.
class Migrator {
 public:
  // The target on the hosting server an order names (Order.server; OrderServerName for one that
  // names none). UNAVAILABLE while the server is not in the inventory: the work waits.
  using TargetFor = std::function<absl::StatusOr<std::shared_ptr<MigrationTarget>>(const std::string& server)>;

  // Whether a hosting server answers (by its name; "" for an order that names none): UNAVAILABLE
  // while it does not.
  using PingServer = std::function<absl::Status(const std::string& server)>;

  // `claims`: this replica's claims on the plans it runs. With `ping`, a record whose server does
  // not answer waits for it (AwaitServer), shown waiting.
  Migrator(const Catalog& catalog, TargetFor target_for, Publisher& publisher, Gate& gate, Clock& clock,
           absl::Duration heartbeat_interval = absl::Seconds(10), ClaimOptions claims = {"migrator"},
           PingServer ping = nullptr)
      : catalog_(catalog),
        target_for_(std::move(target_for)),
        publisher_(publisher),
        gate_(gate),
        clock_(clock),
        heartbeat_interval_(heartbeat_interval),
        claims_(std::move(claims)),
        ping_(std::move(ping)) {}

  // Consumer entry point for upgrade.events. Acts on the order request stored for the record's
  // upgrade; a record that disagrees with it is refused (PERMISSION_DENIED) and changes nothing.
  absl::Status Handle(const ConsumedRecord& record);

  // Row counts per table ("schema.table"), as the cloner measured them.
  using RowCounts = std::map<std::string, int64_t>;

  // Both take this replica's claim on the upgrade's plan first: while another replica holds it, they
  // return UNAVAILABLE (retried), and once the plan is done, OK at once.
  //
  // Upgrades `order`'s copy: a Test's test copy (then neutralized and handed over), or a check's
  // throwaway copy (every pre-check and post-check reported; the cloner drops it afterwards).
  // Retryable errors are returned; every other outcome is published. `before`: the copy's row
  // counts measured when it was made (the report's "before"); counted again when absent.
  absl::Status MigrateCopy(const upgrade::v1::Order& order, const std::optional<RowCounts>& before = std::nullopt);

  // Production: upgrades the offline database itself (no neutralization). Refuses to touch a
  // database that accepts connections (its upgrade ended or it never went offline).
  // `before`: the row counts the verified snapshot measured. `offline_at`: when the database went
  // offline; with the order's max_offline it bounds the window (InfinitePast, or no max_offline: no bound).
  // `count_restore_point`: without `before`, the restore point (verified file by file: the same
  // rows) is counted while the steps run, instead of the database before them.
  absl::Status MigrateInPlace(const upgrade::v1::Order& order, const std::optional<RowCounts>& before = std::nullopt,
                              absl::Time offline_at = absl::InfinitePast(), bool count_restore_point = false);

 private:
  // MigrateCopy and MigrateInPlace, under this replica's claim on the plan.
  absl::Status MigrateCopy(const upgrade::v1::Order& order, const std::optional<RowCounts>& before,
                           const WorkClaim& claim);
  absl::Status MigrateInPlace(const upgrade::v1::Order& order, const std::optional<RowCounts>& before,
                              absl::Time deadline, bool count_restore_point, const WorkClaim& claim);

  // One run of the plan.
  struct PlanRun {
    MigrationTarget& target;      // on the server the order names
    const std::string& database;  // the copy, or (Production) the database itself
    const upgrade::v1::Order& order;
    const WorkClaim& claim;  // each step runs only while it holds
    bool neutralize;         // a Test's copy: neutralized, and its assertions checked, after the plan
    std::string fence;       // Production: the upgrade id whose lease the database must hold
    const std::optional<RowCounts>& before;  // the row counts measured when the copy was made
    // Production, without `before`: the verified restore point, counted while the steps run.
    std::string counted_in;
    // Production: the offline window's bound (went offline + Order.max_offline). Reached before the
    // plan and its checks end, the plan stops: FAILED_PRECONDITION saying so, and the cloner restores.
    absl::Time deadline = absl::InfiniteFuture();
  };
  // Applies the plan, each step only while the claim holds (else UNAVAILABLE: another replica took
  // the plan over); a non-retryable error is the upgrade's failure, and `report` then holds what
  // was checked up to it. Fills `report`: row counts before and after, tables declared unchanged
  // compared by checksum (a difference fails the plan), NOT VALID constraints validated, checks. A
  // hop's pre-checks all run before it fails.
  absl::Status RunPlan(const PlanRun& run, upgrade::v1::IntegrityReport* report);

  // A plan's failure met while the order's server does not answer (a step's command that could not
  // connect, say) is the server's, not the plan's: UNAVAILABLE, so that the plan is tried again once
  // the server is back. Any other result as it is.
  absl::Status UnlessServerAway(const upgrade::v1::Order& order, absl::Status ran);

  // Sets `report`'s steps from `database`'s migration history (a failure to read it is logged).
  void AddHistory(MigrationTarget& target, const std::string& database, const upgrade::v1::Order& order, upgrade::v1::IntegrityReport* report);

  const Catalog& catalog_;
  const TargetFor target_for_;
  Publisher& publisher_;
  Gate& gate_;
  Clock& clock_;
  const absl::Duration heartbeat_interval_;
  const ClaimOptions claims_;
  const PingServer ping_;
};

}  // namespace upshift::migrator

#endif  // UPSHIFT_SERVICES_MIGRATOR_MIGRATOR_H_
