#ifndef UPSHIFT_SERVICES_REQUEST_SERVER_BOARD_H_
#define UPSHIFT_SERVICES_REQUEST_SERVER_BOARD_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/auth/principal.h"
#include "libs/common/time.h"
#include "libs/hosting/inventory.h"
#include "services/request/claim_store.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::request {

// What request knows of each hosting server: whether it answered its last health check, and the
// work its claims hold there. It feeds ListServers and the per-server metrics:
//   upshift_hosting_server_up{server}            1 when it answered its last check
//   upshift_hosting_server_work{server,pool}     copies and plans whose claims are live there
//   upshift_hosting_server_limit{server,pool}    its inventory limits (0: none)
// Server names come from the inventory: a bounded label. Thread-safe.
class ServerBoard {
 public:
  // `servers`: the inventory's servers now; `ping`: whether one answers (UNAVAILABLE when not).
  ServerBoard(std::function<std::vector<ServerSpec>()> servers, std::function<absl::Status(const std::string&)> ping,
              ClaimStore& claims, Clock& clock)
      : servers_(std::move(servers)), ping_(std::move(ping)), claims_(claims), clock_(clock) {}

  // Checks every server once, in turn, and exports upshift_hosting_server_up.
  void CheckAll();

  // Exports the work and the limits per server (at each scrape).
  void Export();

  // PERMISSION_DENIED without upgrades.operator. UNAVAILABLE when the claims cannot be read.
  absl::StatusOr<upgrade::v1::ListServersResponse> List(const Principal& caller);

 private:
  struct Health {
    bool answering = false;
    absl::Time checked_at = absl::InfinitePast();
    std::string error;
  };

  const std::function<std::vector<ServerSpec>()> servers_;
  const std::function<absl::Status(const std::string&)> ping_;
  ClaimStore& claims_;
  Clock& clock_;
  absl::Mutex mu_;
  std::map<std::string, Health> health_ ABSL_GUARDED_BY(mu_);
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_SERVER_BOARD_H_
