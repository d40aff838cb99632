#ifndef UPSHIFT_LIBS_COMMON_HEALTH_H_
#define UPSHIFT_LIBS_COMMON_HEALTH_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/common/stop_token.h"

namespace upshift {

// One dependency a service needs to do its work, e.g. "platform database".
struct HealthProbe {
  std::string name;
  std::function<absl::Status()> check;  // OK while the dependency answers
  // The server's RPCs still work without it (request's outbox keeps orders while the broker is
  // away): its failure turns the overall health ("") NOT_SERVING, and the named services stay
  // SERVING, so that a readiness probe on the service name keeps the RPCs in rotation.
  bool rpcs_survive = false;
};

// Keeps `server`'s health (grpc.health.v1) SERVING while every probe passes and NOT_SERVING while
// one fails, probing every `interval`, until `stop`; then NOT_SERVING everywhere, so that a stopping
// process is taken out of rotation before it ends its work. `services`: the names of the server's
// services (see HealthProbe::rpcs_survive). Logs every change with the failing probe's error, and
// recovers by itself when the dependency comes back.
void MonitorHealth(grpc::Server& server, const std::vector<HealthProbe>& probes,
                   const std::vector<std::string>& services, absl::Duration interval, const StopToken& stop);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_HEALTH_H_
