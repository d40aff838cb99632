#include "services/status/change_hub.h"

namespace upshift::status {

void ChangeHub::Notify() {
  absl::MutexLock lock(&mu_);
  ++generation_;
}

uint64_t ChangeHub::generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

uint64_t ChangeHub::Wait(uint64_t seen, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto moved = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return generation_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&moved), timeout);
  return generation_;
}

}  // namespace upshift::status
