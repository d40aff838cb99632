#ifndef UPSHIFT_LIBS_COMMON_RETRY_H_
#define UPSHIFT_LIBS_COMMON_RETRY_H_

#include <atomic>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/common/stop_token.h"

namespace upshift {

// Whether an operation that failed with `status` may succeed if tried again unchanged: UNAVAILABLE,
// ABORTED, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are transient; every other code is permanent.
bool IsRetryable(const absl::Status& status);

// Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2^attempt)]. Thread-safe.
absl::Duration Backoff(int attempt, absl::Duration base = absl::Milliseconds(100),
                       absl::Duration cap = absl::Seconds(10));

// Calls `attempt` until it returns OK (true) or `stop` is set (false), backing off between tries
// (up to 5 s) and logging why `what` is not ready yet. For start-up, when a dependency may come later.
bool RetryUntilReady(const std::function<absl::Status()>& attempt, const StopToken& stop, absl::string_view what);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_RETRY_H_
