#include "services/migrator/config.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, health_listen, "0.0.0.0:50062", "Address of the grpc.health.v1 server (port 0: any free port)");
ABSL_FLAG(std::string, catalog, "", "Required: path of the migration catalog folder");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(10),
          "How often a heartbeat is sent while an upgrade is worked on, and a Production upgrade's lease "
          "renewed while its plan runs (keep well below status's --stall_timeout and the cloner's "
          "--migration_lease)");
ABSL_FLAG(std::string, gate_addr, "127.0.0.1:50053", "Address of request's UpgradeGate listener (mTLS)");

namespace upshift::migrator {

absl::StatusOr<Config> ConfigFromFlags() {
  Config c{absl::GetFlag(FLAGS_health_listen), absl::GetFlag(FLAGS_catalog),
           absl::GetFlag(FLAGS_gate_addr), absl::GetFlag(FLAGS_heartbeat_interval)};
  if (c.heartbeat_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--heartbeat_interval must be longer than 0");
  }
  return c;
}

}  // namespace upshift::migrator
