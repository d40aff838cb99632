#include "libs/common/retry.h"

#include <algorithm>

#include "absl/random/random.h"

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

}  // namespace upshift
