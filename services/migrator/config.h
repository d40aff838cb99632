#ifndef UPSHIFT_SERVICES_MIGRATOR_CONFIG_H_
#define UPSHIFT_SERVICES_MIGRATOR_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift::migrator {

// The migrator's own flags, read and checked (the shared ones: libs/*/..._flags.h).
struct Config {
  std::string health_listen, catalog, gate_addr;
  absl::Duration heartbeat_interval;
};

// INVALID_ARGUMENT naming the flag that is out of range.
absl::StatusOr<Config> ConfigFromFlags();

}  // namespace upshift::migrator

#endif  // UPSHIFT_SERVICES_MIGRATOR_CONFIG_H_
