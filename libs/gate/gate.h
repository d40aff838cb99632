#ifndef UPSHIFT_LIBS_GATE_GATE_H_
#define UPSHIFT_LIBS_GATE_GATE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift {

// Asks request, which owns orders, whether an upgrade may pass a checkpoint that a cancellation
// must not race with. Thread-safe.
class Gate {
 public:
  virtual ~Gate() = default;
  // nullopt: go ahead. A string: the upgrade was cancelled (why). UNAVAILABLE: ask again later.
  virtual absl::StatusOr<std::optional<std::string>> Pass(const std::string& upgrade_id,
                                                          upgrade::v1::Checkpoint checkpoint) = 0;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_GATE_H_
