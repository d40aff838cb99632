#ifndef UPSHIFT_SERVICES_STATUS_CONFIG_H_
#define UPSHIFT_SERVICES_STATUS_CONFIG_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift::status {

// status's own flags, read and checked (the shared ones: libs/*/..._flags.h).
struct Config {
  std::string listen, port_file, platform_db, catalog;
  std::vector<std::string> reserved;
  int pool_size;
  absl::Duration stall_timeout;
  int max_watch_streams;
  int max_watch_streams_per_caller;
};

// INVALID_ARGUMENT naming the flag that is out of range.
absl::StatusOr<Config> ConfigFromFlags();

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_CONFIG_H_
