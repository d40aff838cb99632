#ifndef UPSHIFT_SERVICES_STATUS_CHANGE_HUB_H_
#define UPSHIFT_SERVICES_STATUS_CHANGE_HUB_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace upshift::status {

// Wakes live watchers when this process recorded a change. Thread-safe.
class ChangeHub {
 public:
  void Notify();
  uint64_t generation();
  // Waits until the generation differs from `seen` or `timeout` passes; returns the generation.
  uint64_t Wait(uint64_t seen, absl::Duration timeout);

 private:
  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_CHANGE_HUB_H_
