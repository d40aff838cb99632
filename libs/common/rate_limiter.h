#ifndef UPSHIFT_LIBS_COMMON_RATE_LIMITER_H_
#define UPSHIFT_LIBS_COMMON_RATE_LIMITER_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/time.h"

namespace upshift {

// Token buckets by key (a tenant): each key may take `burst` at once, and one more every
// `per` / `rate` after that. Thread-safe.
class Limiter {
 public:
  virtual ~Limiter() = default;
  // Takes one for `key`. RESOURCE_EXHAUSTED saying when the next one is free when none is left
  // (nothing is taken then); UNAVAILABLE when a shared limiter's store cannot be reached.
  virtual absl::Status Take(const std::string& key, const std::string& what) = 0;
};

// What a limit allows, in its refusal's words: "<what> allows 60 per 1h (10 at once); the next in 6m".
absl::Status LimitReached(const std::string& what, int rate, absl::Duration per, int burst, absl::Duration wait);

// A Limiter whose buckets live in memory: each replica limits on its own.
class RateLimiter final : public Limiter {
 public:
  // `rate` takes per `per`; 0 disables the limit.
  RateLimiter(Clock& clock, int rate, absl::Duration per, int burst);

  absl::Status Take(const std::string& key, const std::string& what) override;

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time at;
  };

  Clock& clock_;
  const int rate_;
  const absl::Duration per_;
  const int burst_;
  absl::Mutex mu_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_RATE_LIMITER_H_
