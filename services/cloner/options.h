#ifndef UPSHIFT_SERVICES_CLONER_OPTIONS_H_
#define UPSHIFT_SERVICES_CLONER_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libs/common/time.h"
#include "libs/gate/gate.h"
#include "libs/gate/work_claim.h"
#include "libs/hosting/hosting_fleet.h"
#include "libs/kafka/publisher.h"
#include "services/cloner/stores.h"

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

// What the cloner works with: the hosting servers, its four stores, and the platform around it.
struct ClonerPorts {
  HostingFleet& fleet;
  DatabaseLedger& ledger;
  TestCopyStore& copies;
  ProductionStore& productions;
  AppliedEvents& applied;
  Publisher& publisher;
  Gate& gate;
  Clock& clock;
};

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_OPTIONS_H_
