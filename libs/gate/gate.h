#ifndef UPSHIFT_LIBS_GATE_GATE_H_
#define UPSHIFT_LIBS_GATE_GATE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift {

// What request answers at a checkpoint.
struct Passage {
  enum Kind {
    kProceed,
    kCancelled,  // stop, and announce the cancellation
    kEnded,      // the upgrade ended already (a redelivered record): nothing to do, nothing to announce
  };
  Kind kind = kProceed;
  std::string reason;  // why not, for a person
};

// Asks request, which owns orders, whether an upgrade may pass a checkpoint that a cancellation
// must not race with. Thread-safe.
class Gate {
 public:
  virtual ~Gate() = default;
  // UNAVAILABLE: ask again later.
  virtual absl::StatusOr<Passage> Pass(const std::string& upgrade_id, upgrade::v1::Checkpoint checkpoint) = 0;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_GATE_H_
