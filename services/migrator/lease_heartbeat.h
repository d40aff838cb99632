#ifndef UPSHIFT_SERVICES_MIGRATOR_LEASE_HEARTBEAT_H_
#define UPSHIFT_SERVICES_MIGRATOR_LEASE_HEARTBEAT_H_

#include <string>
#include <thread>

#include "absl/time/time.h"
#include "libs/common/stop_token.h"
#include "services/migrator/migration_target.h"

namespace upshift::migrator {

// While it lives, renews a Production upgrade's lease on its database every `every` (once at once),
// so that the cloner knows the upgrade alive through one long step; a renewal that fails is logged,
// and the next one tries again. Stops, and joins its thread, when destroyed.
class LeaseHeartbeat {
 public:
  LeaseHeartbeat(LeaseRenewal& target, std::string database, std::string upgrade_id, absl::Duration every);
  ~LeaseHeartbeat();
  LeaseHeartbeat(const LeaseHeartbeat&) = delete;
  LeaseHeartbeat& operator=(const LeaseHeartbeat&) = delete;

 private:
  void Beat();

  LeaseRenewal& target_;
  const std::string database_, upgrade_id_;
  StopToken stop_;
  std::thread thread_;
};

}  // namespace upshift::migrator

#endif  // UPSHIFT_SERVICES_MIGRATOR_LEASE_HEARTBEAT_H_
