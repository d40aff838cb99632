#include "libs/common/retry.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"

namespace upshift {

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

absl::Duration Backoff(int attempt, absl::Duration base, absl::Duration cap) {
  thread_local absl::BitGen gen;
  absl::Duration ceiling = base;
  for (int i = 0; i < attempt && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  return absl::Nanoseconds(absl::Uniform<int64_t>(gen, 0, absl::ToInt64Nanoseconds(ceiling) + 1));
}

bool RetryUntilReady(const std::function<absl::Status()>& attempt, const StopToken& stop, absl::string_view what) {
  for (int n = 0; !stop.stopped(); ++n) {
    absl::Status status = attempt();
    if (status.ok()) return true;
    LogWarning(absl::StrCat(what, " not ready: ", status.ToString()));
    stop.WaitFor(Backoff(n, absl::Milliseconds(200), absl::Seconds(5)));
  }
  return false;
}

}  // namespace upshift
