#include "libs/pg/pool.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/retry.h"
#include "libs/metrics/metrics.h"
#include "libs/pg/connections.h"
#include "libs/pg/errors.h"
#include "libs/pg/values.h"

namespace upshift::pg {

Pool::Pool(std::string conninfo, int size, absl::Duration acquire_timeout, std::string name)
    : conninfo_(std::move(conninfo)),
      size_(size < 1 ? 1 : size),
      acquire_timeout_(acquire_timeout),
      name_(std::move(name)) {
  static metrics::Family& connections = metrics::Default().Gauge(
      "upshift_pg_pool_connections", "Connections of a PostgreSQL pool: open, idle, and the most it opens (max)",
      {"pool", "state"});
  scrape_hook_ = metrics::Default().OnScrape([this] {
    absl::MutexLock lock(&mu_);
    connections.Set({name_, "open"}, open_);
    connections.Set({name_, "idle"}, static_cast<double>(idle_.size()));
    connections.Set({name_, "max"}, size_);
  });
}

Pool::~Pool() { metrics::Default().RemoveOnScrape(scrape_hook_); }

std::unique_ptr<pqxx::connection> Pool::Acquire(absl::Status* error) {
  static metrics::Family& waits = metrics::Default().Counter(
      "upshift_pg_pool_waits_total", "Callers that found every connection of the pool in use and waited", {"pool"});
  static metrics::Family& waited = metrics::Default().Histogram(
      "upshift_pg_pool_wait_seconds", "How long callers waited for a connection of a full pool", {"pool"},
      metrics::RequestBuckets());
  static metrics::Family& exhausted = metrics::Default().Counter(
      "upshift_pg_pool_exhausted_total", "Callers that gave up waiting for a connection (RESOURCE_EXHAUSTED)",
      {"pool"});
  {
    absl::MutexLock lock(&mu_);
    const bool full = idle_.empty() && open_ >= size_;
    const absl::Time wait_start = absl::Now();
    auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !idle_.empty() || open_ < size_; };
    bool available = mu_.AwaitWithTimeout(absl::Condition(&free), acquire_timeout_);
    if (full) {
      waits.Increment({name_});
      waited.ObserveDuration({name_}, absl::Now() - wait_start);
    }
    if (!available) {
      exhausted.Increment({name_});
      *error = absl::ResourceExhaustedError(absl::StrCat("all ", size_, " connections to the database were in use for ",
                                                         absl::FormatDuration(acquire_timeout_)));
      return nullptr;
    }
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;
  }
  try {
    return std::make_unique<pqxx::connection>(conninfo_);
  } catch (const std::exception& e) {
    *error = StatusFromException(e);
    if (error->code() == absl::StatusCode::kInternal) *error = absl::UnavailableError(e.what());
    // A connection string libpq cannot use fails the same way forever: not worth a retry.
    if (absl::Status usable = CheckConnInfo(conninfo_); !usable.ok()) *error = usable;
    absl::MutexLock lock(&mu_);
    --open_;
    return nullptr;
  }
}

void Pool::Release(std::unique_ptr<pqxx::connection> conn) {
  absl::MutexLock lock(&mu_);
  if (conn != nullptr && conn->is_open()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
}

absl::Status Pool::Transact(const std::function<absl::Status(pqxx::work&)>& fn, int attempts) {
  absl::Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) absl::SleepFor(Backoff(attempt, absl::Milliseconds(20), absl::Seconds(1)));
    absl::Status error;
    std::unique_ptr<pqxx::connection> conn = Acquire(&error);
    if (conn == nullptr) {
      // A pool that stayed busy for the whole timeout is not waited for again: the caller decides.
      if (error.code() == absl::StatusCode::kResourceExhausted) return error;
      last = error;
      continue;
    }
    // The transaction's id once `fn` wrote (none for a read-only one), taken just before COMMIT.
    std::optional<int64_t> xid;
    bool committing = false;
    try {
      absl::Status status;
      {
        // The transaction ends here, before its connection goes back to the pool: ended later (by
        // the destructor, when `fn` failed), its ROLLBACK would reach a connection another thread
        // had taken meanwhile, and both would wait forever for answers the other one read.
        pqxx::work tx(*conn);
        status = fn(tx);
        if (status.ok()) {
          pqxx::field id = tx.exec1("SELECT txid_current_if_assigned()")[0];
          if (!id.is_null()) xid = id.as<int64_t>();
          committing = true;
          tx.commit();
        } else {
          tx.abort();
        }
      }
      Release(std::move(conn));
      return status;
    } catch (const std::exception& e) {
      last = StatusFromException(e);
      if (!conn->is_open() && last.code() == absl::StatusCode::kInternal) {
        last = absl::UnavailableError(absl::StrCat("database connection lost: ", last.message()));
      }
      bool broken = !conn->is_open() || last.code() == absl::StatusCode::kUnavailable;
      if (broken) conn.reset();
      Release(std::move(conn));
      if (committing && broken && xid.has_value()) {
        // The connection went during COMMIT: the transaction may have committed. It is never run
        // again blindly (it may write an audit row or an outbox record twice): the server says.
        absl::StatusOr<bool> committed = Committed(*xid);
        if (!committed.ok()) return committed.status();
        if (*committed) return absl::OkStatus();
        // Rolled back: running it again is safe.
      }
      if (!IsRetryable(last)) return last;
    }
  }
  return last;
}

absl::StatusOr<bool> Pool::Committed(int64_t xid) {
  static metrics::Family& in_doubt = metrics::Default().Counter(
      "upshift_pg_commits_in_doubt_total",
      "Commits whose connection was lost before the answer, by pool and what the server said of them "
      "(committed, rolled_back, unknown)",
      {"pool", "outcome"});
  // A backend whose client vanished finishes its commit (or rolls back) at once; a server that
  // restarts knows the outcome from its WAL once it is up. Asked for a while, then given up.
  const absl::Time until = absl::Now() + absl::Seconds(15);
  absl::Status last = absl::UnavailableError("no answer");
  for (int attempt = 0; absl::Now() < until; ++attempt) {
    if (attempt > 0) absl::SleepFor(Backoff(attempt, absl::Milliseconds(20), absl::Seconds(1)));
    absl::Status error;
    std::unique_ptr<pqxx::connection> conn = Acquire(&error);
    if (conn == nullptr) {
      last = error;
      continue;
    }
    std::optional<std::string> outcome;
    try {
      pqxx::nontransaction tx(*conn);
      pqxx::field f = tx.exec_params1("SELECT txid_status($1)", xid)[0];
      outcome = f.is_null() ? "" : f.as<std::string>();
    } catch (const std::exception& e) {
      last = StatusFromException(e);
      if (!conn->is_open() || last.code() == absl::StatusCode::kUnavailable) conn.reset();
    }
    Release(std::move(conn));
    if (!outcome.has_value() || *outcome == "in progress") continue;
    if (*outcome == "committed") {
      in_doubt.Increment({name_, "committed"});
      return true;
    }
    if (*outcome == "aborted") {
      in_doubt.Increment({name_, "rolled_back"});
      return false;
    }
    break;  // NULL: too old for the server to remember
  }
  in_doubt.Increment({name_, "unknown"});
  return absl::UnavailableError(absl::StrCat("commit outcome unknown (transaction ", xid,
                                             "); not run again: ", last.message()));
}

absl::Status Pool::NoTransaction(const std::function<absl::Status(pqxx::nontransaction&)>& fn) {
  absl::Status error;
  std::unique_ptr<pqxx::connection> conn = Acquire(&error);
  if (conn == nullptr) return error;
  absl::Status status;
  try {
    pqxx::nontransaction tx(*conn);
    status = fn(tx);
  } catch (const std::exception& e) {
    status = StatusFromException(e);
    if (status.code() == absl::StatusCode::kUnavailable) conn.reset();
  }
  Release(std::move(conn));
  return status;
}

absl::Status Pool::Ping() {
  return NoTransaction([](pqxx::nontransaction& tx) {
    tx.exec("SELECT 1");
    return absl::OkStatus();
  });
}

absl::StatusOr<QueueDepth> QueueDepthOf(Pool& pool, const std::string& table, const std::string& time_column) {
  QueueDepth depth;
  absl::Status status = pool.NoTransaction([&](pqxx::nontransaction& tx) {
    pqxx::row row = tx.exec1(absl::StrCat("SELECT count(*), coalesce(", MicrosOf(absl::StrCat("now() - min(", time_column, ")")),
                                          ", 0) FROM ", table));
    depth.rows = row[0].as<int64_t>();
    depth.oldest_age = absl::Microseconds(row[1].as<int64_t>());
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return depth;
}

absl::Status DrainQueue(Pool& pool, const std::string& lock_name, const std::string& table,
                        const std::string& columns, int limit,
                        const std::function<absl::Status(const pqxx::result&)>& handle, int* count) {
  *count = 0;
  return pool.Transact([&](pqxx::work& tx) {
    *count = 0;
    // One relay at a time keeps the records in order; other replicas skip this round.
    if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock(hashtext($1))", lock_name)[0].as<bool>()) {
      return absl::OkStatus();
    }
    pqxx::result rows =
        tx.exec_params(absl::StrCat("SELECT ", columns, " FROM ", table, " ORDER BY id LIMIT $1"), limit);
    if (rows.empty()) return absl::OkStatus();
    std::string ids;
    for (const auto& row : rows) absl::StrAppend(&ids, ids.empty() ? "{" : ",", row[0].as<int64_t>());
    ids += "}";
    if (absl::Status s = handle(rows); !s.ok()) return s;
    // Exactly the ids read: a smaller id may still commit later and must stay for the next round.
    tx.exec_params(absl::StrCat("DELETE FROM ", table, " WHERE id = ANY($1::bigint[])"), ids);
    *count = static_cast<int>(rows.size());
    return absl::OkStatus();
  });
}

}  // namespace upshift::pg
