#ifndef UPSHIFT_SERVICES_REQUEST_MAINTENANCE_WINDOW_H_
#define UPSHIFT_SERVICES_REQUEST_MAINTENANCE_WINDOW_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/auth/principal.h"
#include "libs/common/time.h"
#include "libs/hosting/hosting_fleet.h"
#include "services/request/order_store.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::request {

// INVALID_ARGUMENT, naming the field, unless `window` is a usable maintenance window: weekdays 1
// (Monday) to 7 (Sunday), each once and at least one; start "HH:MM"; a length of 30 minutes to
// 24 hours; an IANA time zone this host knows (tzdata).
absl::Status ValidateWindow(const upgrade::v1::MaintenanceWindow& window);

// One opening of a maintenance window: [start, end).
struct WindowOpening {
  absl::Time start;
  absl::Time end;
};

// The opening of `window` that is open at `now` or opens next. Local times are the window's time
// zone's: a start that a daylight-saving change skips (02:30 on the night clocks go forward) opens
// at the change (03:00); a start that it repeats (the night clocks go back) opens at its first
// occurrence. A window lasts its length in real time, whatever the clocks do meanwhile.
// `window` must be valid (ValidateWindow).
WindowOpening NextOpening(const upgrade::v1::MaintenanceWindow& window, absl::Time now);

// Where a Production upgrade with this estimated downtime starts, ordered at `now` under `window`:
// `now` when the open window leaves room for the downtime, else the next opening that does; and
// the latest it may start (that opening's end less the downtime). FAILED_PRECONDITION when the
// downtime is longer than the window.
struct WindowStart {
  absl::Time not_before;
  absl::Time latest;
};
absl::StatusOr<WindowStart> StartInWindow(const upgrade::v1::MaintenanceWindow& window, absl::Duration downtime,
                                          absl::Time now);

// SetMaintenanceWindow and GetMaintenanceWindow: whose window it is, checked against the caller.
// Thread-safe (its collaborators are).
class MaintenanceWindows {
 public:
  MaintenanceWindows(HostingFleet& fleet, std::vector<std::string> reserved_databases, WindowBook& book, Clock& clock)
      : fleet_(fleet), reserved_(std::move(reserved_databases)), book_(book), clock_(clock) {}

  // PERMISSION_DENIED without upgrades.production (an operator's scope: any tenant's).
  absl::StatusOr<upgrade::v1::SetMaintenanceWindowResponse> Set(const upgrade::v1::SetMaintenanceWindowRequest& request,
                                                                const Principal& caller, const AuditOf& audit_of);
  // PERMISSION_DENIED without upgrades.read.
  absl::StatusOr<upgrade::v1::GetMaintenanceWindowResponse> Get(const upgrade::v1::GetMaintenanceWindowRequest& request,
                                                                const Principal& caller);

 private:
  struct Owner {
    std::string tenant;
    std::string database;  // empty: the tenant's own window
  };
  // The (tenant, database) a request names: a database of the caller's tenant (NOT_FOUND, as a
  // missing one, when it is another's), or the caller's tenant, or for an operator the one named.
  absl::StatusOr<Owner> OwnerOf(const std::string& database, const std::string& tenant, const Principal& caller);

  HostingFleet& fleet_;
  const std::vector<std::string> reserved_;
  WindowBook& book_;
  Clock& clock_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_MAINTENANCE_WINDOW_H_
