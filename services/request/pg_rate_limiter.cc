#include "services/request/pg_rate_limiter.h"

#include <algorithm>

#include "libs/pg/pool.h"

namespace upshift::request {

PgRateLimiter::PgRateLimiter(pg::Pool& pool, std::string name, int rate, absl::Duration per, int burst)
    : name_(std::move(name)), rate_(rate), per_(per), burst_(std::max(burst, 1)), pool_(pool) {}

absl::Status PgRateLimiter::Take(const std::string& key, const std::string& what) {
  if (rate_ <= 0) return absl::OkStatus();
  const double each_seconds = absl::ToDoubleSeconds(per_ / rate_);
  double wait_seconds = 0;
  absl::Status status = pool_.Transact([&](pqxx::work& tx) {
    // A bucket lost to a crash only gives its tenant a few calls back: no need to wait for the disk.
    tx.exec("SET LOCAL synchronous_commit = off");
    // The bucket refilled since it was last taken from, capped at the burst; one taken if one is
    // there. The row is locked for the statement: replicas taking at once take in turn.
    pqxx::result taken = tx.exec_params(
        "INSERT INTO request.rate_buckets AS b (name, key, tokens, at) VALUES ($1, $2, $3 - 1, now()) "
        "ON CONFLICT (name, key) DO UPDATE SET "
        "tokens = least($3, b.tokens + extract(epoch FROM now() - b.at) / $4) - 1, at = now() "
        "WHERE least($3, b.tokens + extract(epoch FROM now() - b.at) / $4) >= 1 "
        "RETURNING tokens",
        name_, key, static_cast<double>(burst_), each_seconds);
    if (!taken.empty()) {
      wait_seconds = 0;
      return absl::OkStatus();
    }
    pqxx::result left = tx.exec_params(
        "SELECT least($3, tokens + extract(epoch FROM now() - at) / $4) FROM request.rate_buckets "
        "WHERE name = $1 AND key = $2",
        name_, key, static_cast<double>(burst_), each_seconds);
    const double tokens = left.empty() ? 0 : left[0][0].as<double>();
    wait_seconds = std::max(0.0, (1 - tokens) * each_seconds);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (wait_seconds > 0) return LimitReached(what, rate_, per_, burst_, absl::Seconds(wait_seconds));
  return absl::OkStatus();
}

absl::StatusOr<int> PgRateLimiter::ForgetIdle(absl::Duration idle) {
  int forgotten = 0;
  absl::Status status = pool_.Transact([&](pqxx::work& tx) {
    forgotten = static_cast<int>(
        tx.exec_params("DELETE FROM request.rate_buckets WHERE name = $1 AND at < now() - make_interval(secs => $2)",
                       name_, absl::ToDoubleSeconds(idle))
            .affected_rows());
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return forgotten;
}

}  // namespace upshift::request
