#include "libs/common/health.h"

#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"

namespace upshift {

void MonitorHealth(grpc::Server& server, const std::vector<HealthProbe>& probes,
                   const std::vector<std::string>& services, absl::Duration interval, const StopToken& stop) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  std::string reported = "(starting)";  // what the last change said
  while (!stop.stopped()) {
    std::string failing;  // the first failing probe
    bool rpcs_work = true;
    for (const HealthProbe& probe : probes) {
      absl::Status s = probe.check();
      if (s.ok()) continue;
      if (failing.empty()) failing = absl::StrCat(probe.name, ": ", s.ToString());
      if (!probe.rpcs_survive) rpcs_work = false;
    }
    if (stop.stopped()) break;
    std::string now = failing.empty() ? "SERVING" : absl::StrCat(rpcs_work ? "overall NOT_SERVING" : "NOT_SERVING", ", ", failing);
    if (now != reported) {
      health->SetServingStatus(rpcs_work);
      for (const std::string& service : services) health->SetServingStatus(service, rpcs_work);
      health->SetServingStatus("", failing.empty());
      if (failing.empty()) {
        LogInfo("health: SERVING");
      } else {
        LogWarning(absl::StrCat("health: ", now));
      }
      reported = now;
    }
    stop.WaitFor(interval);
  }
  health->SetServingStatus(false);
}

}  // namespace upshift
