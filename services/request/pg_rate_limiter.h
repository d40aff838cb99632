#ifndef UPSHIFT_SERVICES_REQUEST_PG_RATE_LIMITER_H_
#define UPSHIFT_SERVICES_REQUEST_PG_RATE_LIMITER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/common/rate_limiter.h"

namespace upshift::pg {
class Pool;
}

namespace upshift::request {

// A Limiter whose buckets live in the platform database (request.rate_buckets, made by
// PgOrderStore's schema): every replica of request takes from the same bucket, so N replicas
// admit what one would. One statement per take, timed by the database's clock.
class PgRateLimiter final : public Limiter {
 public:
  // Over `pool` (the platform database's; a replica's limits may share one). `name` tells this
  // limit's buckets from another's (e.g. "orders", "reads"). `rate` per `per` (0: no limit), `burst`
  // at once.
  PgRateLimiter(pg::Pool& pool, std::string name, int rate, absl::Duration per, int burst);

  absl::Status Take(const std::string& key, const std::string& what) override;

  // Forgets the buckets left alone since before `idle`: a bucket refills in burst × per / rate, so
  // one idle longer holds its whole burst, which is what a new bucket holds.
  absl::StatusOr<int> ForgetIdle(absl::Duration idle);

 private:
  const std::string name_;
  const int rate_;
  const absl::Duration per_;
  const int burst_;
  pg::Pool& pool_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_PG_RATE_LIMITER_H_
