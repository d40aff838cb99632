#ifndef UPSHIFT_SERVICES_STATUS_QUERIES_H_
#define UPSHIFT_SERVICES_STATUS_QUERIES_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/auth/principal.h"
#include "libs/common/stream_slots.h"
#include "services/status/change_hub.h"
#include "services/status/database_view.h"
#include "services/status/status_store.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::status {

// What a caller may read of the record. Every read needs upgrades.read and shows only the caller's
// tenant's databases and upgrades (an operator's shows every tenant's). Another tenant's database
// or upgrade answers NOT_FOUND in the very words used for one that does not exist, so a caller
// learns nothing of other tenants. Thread-safe.
class Queries {
 public:
  // WatchUpgrade streams take a slot of `watches` for as long as they run; `hub` wakes them when
  // this replica records a change.
  Queries(UpgradeHistory& store, DatabaseView& view, StreamSlots& watches, ChangeHub& hub)
      : store_(store), view_(view), watches_(watches), hub_(hub) {}

  // A page of main databases by name, with their copies nested. INVALID_ARGUMENT: a negative
  // page_size, or a page_token this service did not hand out.
  absl::StatusOr<upgrade::v1::ListDatabasesResponse> ListDatabases(const Principal& caller,
                                                                   const upgrade::v1::ListDatabasesRequest& request);
  // INVALID_ARGUMENT: malformed name. NOT_FOUND: no such database, or another tenant's.
  absl::StatusOr<upgrade::v1::Database> GetDatabase(const Principal& caller, const std::string& name);
  // INVALID_ARGUMENT: malformed id. NOT_FOUND: no such upgrade, or another tenant's.
  absl::StatusOr<upgrade::v1::Upgrade> GetUpgrade(const Principal& caller, const std::string& upgrade_id);
  // A page of the caller's tenant's upgrades of the database, newest first. INVALID_ARGUMENT: a
  // malformed name, a negative page_size, or a page_token not handed out for this database.
  absl::StatusOr<upgrade::v1::ListUpgradesResponse> ListUpgrades(const Principal& caller,
                                                                 const upgrade::v1::ListUpgradesRequest& request);

  // Hands `send` the upgrade now and again after each change, and returns OK once it sent a final
  // state. An upgrade admitted a moment ago may not be recorded yet: NOT_FOUND only if it stays
  // unknown for a few seconds. Ends early with CANCELLED when `send` returns false, and with what
  // `interrupted` returns when that is not OK (checked at least once a second).
  // RESOURCE_EXHAUSTED when the caller, or everyone, holds too many watches.
  // Each worker group's backlog (see Backlog). PERMISSION_DENIED unless the caller is an operator.
  absl::StatusOr<upgrade::v1::GetBacklogResponse> GetBacklog(const Principal& caller);

  // The fleet's failures grouped by cause (GroupFailures). PERMISSION_DENIED unless the caller is
  // an operator; INVALID_ARGUMENT for a `since` in the future or a malformed version.
  absl::StatusOr<upgrade::v1::ListFailureGroupsResponse> ListFailureGroups(
      const Principal& caller, const upgrade::v1::ListFailureGroupsRequest& request);

  absl::Status WatchUpgrade(const Principal& caller, const std::string& upgrade_id,
                            const std::function<bool(const upgrade::v1::Upgrade&)>& send,
                            const std::function<absl::Status()>& interrupted);

 private:
  UpgradeHistory& store_;
  DatabaseView& view_;
  StreamSlots& watches_;
  ChangeHub& hub_;
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_QUERIES_H_
