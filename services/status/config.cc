#include "services/status/config.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50052", "gRPC listen address (port 0: any free port)");
ABSL_FLAG(std::string, port_file, "", "If set, the bound gRPC port is written there");
ABSL_FLAG(std::string, platform_db, "", "Required: libpq connection string of the platform database");
ABSL_FLAG(std::vector<std::string>, reserved_databases, {"upshift"},
          "Databases of the platform on the hosting server, never listed");
ABSL_FLAG(std::string, catalog, "", "Required: path of the migration catalog folder (for the version query)");
ABSL_FLAG(absl::Duration, stall_timeout, absl::Minutes(2),
          "An unfinished upgrade no worker reported on for this long is marked stalled (keep well above the "
          "workers' --heartbeat_interval)");
ABSL_FLAG(int, pool_size, 8, "PostgreSQL connections to the platform database");

ABSL_FLAG(int, max_watch_streams, 1000, "WatchUpgrade streams served at once; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_watch_streams_per_caller, 16, "WatchUpgrade streams one caller (token subject) may hold at once");

namespace upshift::status {

absl::StatusOr<Config> ConfigFromFlags() {
  Config c{absl::GetFlag(FLAGS_listen),      absl::GetFlag(FLAGS_port_file),
           absl::GetFlag(FLAGS_platform_db), absl::GetFlag(FLAGS_catalog),
           absl::GetFlag(FLAGS_reserved_databases), absl::GetFlag(FLAGS_pool_size), absl::GetFlag(FLAGS_stall_timeout),
           absl::GetFlag(FLAGS_max_watch_streams), absl::GetFlag(FLAGS_max_watch_streams_per_caller)};
  if (c.stall_timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("--stall_timeout must be longer than 0");
  if (c.max_watch_streams < 1 || c.max_watch_streams_per_caller < 1) {
    return absl::InvalidArgumentError("--max_watch_streams and --max_watch_streams_per_caller must be at least 1");
  }
  return c;
}

}  // namespace upshift::status
