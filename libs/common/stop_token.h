#ifndef UPSHIFT_LIBS_COMMON_STOP_TOKEN_H_
#define UPSHIFT_LIBS_COMMON_STOP_TOKEN_H_

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace upshift {

// One stop for a piece of work: set once, never cleared. Work checks it between steps and waits on
// it instead of sleeping, so that a stop ends every wait at once. Thread-safe; passed by reference.
class StopToken {
 public:
  StopToken() = default;
  StopToken(const StopToken&) = delete;
  StopToken& operator=(const StopToken&) = delete;

  // Sets the stop and wakes every wait (a second call does nothing).
  void Stop() {
    if (!set_.exchange(true)) stopped_.Notify();
  }
  bool stopped() const { return stopped_.HasBeenNotified(); }
  // Waits `d` at most, or until the stop; true once stopped.
  bool WaitFor(absl::Duration d) const { return stopped_.WaitForNotificationWithTimeout(d); }

 private:
  std::atomic<bool> set_{false};
  absl::Notification stopped_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_STOP_TOKEN_H_
