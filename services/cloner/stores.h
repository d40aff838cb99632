#ifndef UPSHIFT_SERVICES_CLONER_STORES_H_
#define UPSHIFT_SERVICES_CLONER_STORES_H_

// What the cloner remembers, as four narrow ports, one per aggregate. One adapter implements them
// all (PgCloneStore, schema `cloner`); each is thread-safe and answers UNAVAILABLE when the platform
// database is unreachable.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::cloner {

// The databases the cloner made (copies and restore points): it drops only those, and keeps a
// successful upgrade's restore point for its retention.
// A restore point kept after its upgrade succeeded: its name, and the server its order names.
struct KeptRestorePoint {
  std::string name, server;
  bool operator==(const KeptRestorePoint& o) const { return name == o.name && server == o.server; }
};

class DatabaseLedger {
 public:
  virtual ~DatabaseLedger() = default;
  // Records, before it is created, that the cloner makes `database` for `upgrade_id`. Idempotent.
  virtual absl::Status RecordMaking(const std::string& upgrade_id, const std::string& database) = 0;
  // Takes back RecordMaking, when the name turned out to be taken by a database the cloner did not make.
  virtual absl::Status ForgetMaking(const std::string& upgrade_id, const std::string& database) = 0;
  // Whether RecordMaking(upgrade_id, database) was recorded.
  virtual absl::StatusOr<bool> Made(const std::string& upgrade_id, const std::string& database) = 0;
  // Records that a database the cloner made was dropped, and why.
  virtual absl::Status RecordDrop(const std::string& upgrade_id, const std::string& database,
                                  const std::string& reason) = 0;
  // Restore points of upgrades that succeeded before `cutoff` and are not dropped yet, by upgrade id.
  virtual absl::StatusOr<std::map<std::string, KeptRestorePoint>> RestorePointsKeptSince(absl::Time cutoff) = 0;
  virtual absl::Status SaveRestorePointDropped(const std::string& upgrade_id) = 0;
};

// A test (or check) copy that exists: made, not dropped.
struct CopyRecord {
  upgrade::v1::Order order;
  absl::Time cloned_at;
  absl::Time expires_at;
  int warned_days = 0;  // the last expiry warning sent: 0 none, 7, then 1
};

// The copies the cloner finished: a redelivered order republishes the recorded result instead of
// copying again; a copy lives until it is dropped or expires.
class TestCopyStore {
 public:
  virtual ~TestCopyStore() = default;
  virtual absl::StatusOr<std::optional<upgrade::v1::CloneSucceeded>> Find(const std::string& upgrade_id) = 0;
  // Idempotent: the first result recorded for an upgrade stays.
  virtual absl::Status Save(const upgrade::v1::Order& order, const upgrade::v1::CloneSucceeded& result,
                            absl::Time cloned_at, absl::Time expires_at) = 0;
  // Copies not dropped, oldest first; of one database, or of all when `database` is empty.
  virtual absl::StatusOr<std::vector<CopyRecord>> LiveCopies(const std::string& database) = 0;
  virtual absl::Status MarkCopyDropped(const std::string& upgrade_id) = 0;
  virtual absl::Status SetCopyWarned(const std::string& upgrade_id, int days) = 0;
  // A new expiry; the warnings start over.
  virtual absl::Status SetCopyExpiry(const std::string& upgrade_id, absl::Time expires_at) = 0;
};

// How a Production upgrade ends, decided once.
enum class ProductionOutcome { kSucceeded, kRolledBack };

// What the cloner remembers of a Production upgrade between its phases.
struct ProductionRecord {
  int32_t previous_connection_limit = -1;
  absl::Time offline_at;
  // The oid of the database that went offline (0: recorded before oids were): the files the
  // restore point is, once the copy took its name (HostingServer::SwapDatabases).
  int64_t database_oid = 0;
  std::optional<upgrade::v1::SnapshotSucceeded> snapshot;  // set once the restore point is verified
  bool rolled_back = false;
};

class ProductionStore {
 public:
  virtual ~ProductionStore() = default;
  virtual absl::StatusOr<std::optional<ProductionRecord>> FindProduction(const std::string& upgrade_id) = 0;
  // Records the order, the connection limit to restore and the oid of the database, before it is
  // taken offline. The first call wins (a record without an oid takes the first one given).
  virtual absl::Status SaveOffline(const upgrade::v1::Order& order, int32_t previous_connection_limit,
                                   absl::Time at, int64_t database_oid) = 0;
  virtual absl::Status SaveSnapshot(const std::string& upgrade_id, const upgrade::v1::SnapshotSucceeded& snapshot) = 0;
  // Production upgrades with a verified restore point that neither succeeded (nor claimed success)
  // nor were rolled back, each with when its restore point was verified.
  virtual absl::StatusOr<std::vector<std::pair<upgrade::v1::Order, absl::Time>>> InFlightProductions() = 0;
  // Decides how a Production upgrade ends, once: true when `outcome` is now (or already was) the
  // upgrade's, false when the other outcome was claimed first. A success and a rollback (a
  // migration that failed, or the sweep finding the lease silent) may race; only the first acts.
  virtual absl::StatusOr<bool> ClaimOutcome(const std::string& upgrade_id, ProductionOutcome outcome) = 0;
  virtual absl::Status SaveRolledBack(const std::string& upgrade_id) = 0;
  // Records that the upgrade succeeded: its restore point's retention starts at `at`.
  virtual absl::Status SaveSucceeded(const std::string& upgrade_id, const std::string& restore_point, absl::Time at) = 0;
};

// Events acted on, by id, so that one delivered again (or replayed) changes nothing.
class AppliedEvents {
 public:
  virtual ~AppliedEvents() = default;
  virtual absl::StatusOr<bool> WasApplied(const std::string& event_id) = 0;
  virtual absl::Status MarkApplied(const std::string& event_id) = 0;
  // Forgets at most `batch` events applied before `cutoff`; returns how many.
  virtual absl::StatusOr<int> ForgetAppliedBefore(absl::Time cutoff, int batch) = 0;
};

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_STORES_H_
