#include "libs/common/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace upshift {

absl::Status LimitReached(const std::string& what, int rate, absl::Duration per, int burst, absl::Duration wait) {
  return absl::ResourceExhaustedError(absl::StrCat(what, " allows ", rate, " per ", absl::FormatDuration(per), " (",
                                                   burst, " at once); the next in ",
                                                   absl::FormatDuration(absl::Ceil(wait, absl::Seconds(1)))));
}

RateLimiter::RateLimiter(Clock& clock, int rate, absl::Duration per, int burst)
    : clock_(clock), rate_(rate), per_(per), burst_(std::max(burst, 1)) {}

absl::Status RateLimiter::Take(const std::string& key, const std::string& what) {
  if (rate_ <= 0) return absl::OkStatus();
  const absl::Time now = clock_.Now();
  const absl::Duration each = per_ / rate_;
  absl::MutexLock lock(&mu_);
  if (buckets_.size() > 100000) {  // forget the full ones now and then: their state is the default
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      it = (now - it->second.at) / each >= burst_ ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{static_cast<double>(burst_), now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min<double>(burst_, b.tokens + absl::FDivDuration(now - b.at, each));
    b.at = now;
  }
  if (b.tokens < 1) return LimitReached(what, rate_, per_, burst_, each * (1 - b.tokens));
  b.tokens -= 1;
  return absl::OkStatus();
}

}  // namespace upshift
