#ifndef UPSHIFT_LIBS_PG_POOL_H_
#define UPSHIFT_LIBS_PG_POOL_H_

// A pool of connections to one database, and the queue tables (outboxes) kept in it.

#include <cstdint>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace upshift::pg {

// A small pool of connections to one database. Thread-safe. Connections are opened lazily and
// re-opened after they break. A caller waits at most `acquire_timeout` for a connection: then
// RESOURCE_EXHAUSTED (retryable), so that a burst of calls cannot queue without bound.
//
// Its use is on /metrics, by `name` ("platform", "hosting"): upshift_pg_pool_connections{pool,state}
// (open, idle, max), upshift_pg_pool_waits_total and upshift_pg_pool_wait_seconds (callers that
// found every connection in use), upshift_pg_pool_exhausted_total (those that gave up).
class Pool {
 public:
  Pool(std::string conninfo, int size, absl::Duration acquire_timeout = absl::Seconds(10),
       std::string name = "platform");
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs `fn` in one transaction and commits it when `fn` returns OK. A non-OK status from `fn`
  // aborts the transaction and is returned as is. The whole transaction is retried (up to
  // `attempts` times) when it fails with ABORTED (serialization, deadlock) or UNAVAILABLE (lost
  // connection), but only when it cannot have committed: a connection lost during COMMIT is
  // resolved by asking the server for the transaction's outcome (txid_status), and the
  // transaction is run again only if it was rolled back. OK if it committed; UNAVAILABLE ("commit
  // outcome unknown") if the server cannot say within 15 s. The last error is returned otherwise.
  absl::Status Transact(const std::function<absl::Status(pqxx::work&)>& fn, int attempts = 3);

  // Runs `fn` outside any transaction (e.g. CREATE DATABASE), once.
  absl::Status NoTransaction(const std::function<absl::Status(pqxx::nontransaction&)>& fn);

  // OK when a connection answers `SELECT 1`.
  absl::Status Ping();

  const std::string& conninfo() const { return conninfo_; }

 private:
  std::unique_ptr<pqxx::connection> Acquire(absl::Status* error);
  // Whether transaction `xid` committed, asked on a connection of this pool.
  absl::StatusOr<bool> Committed(int64_t xid);
  void Release(std::unique_ptr<pqxx::connection> conn);

  const std::string conninfo_;
  const int size_;
  const absl::Duration acquire_timeout_;
  const std::string name_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  int scrape_hook_ = -1;
};

// A queue table's depth: its rows, and how long ago the oldest was written (by `time_column`; zero
// when empty). `table` and `time_column` are the caller's constants, never input.
struct QueueDepth {
  int64_t rows = 0;
  absl::Duration oldest_age;
};
absl::StatusOr<QueueDepth> QueueDepthOf(Pool& pool, const std::string& table, const std::string& time_column);

// One round of a transactional outbox `table` whose first selected column is its bigserial `id`: in
// one transaction that only one caller holds at a time (advisory lock `lock_name`; the others hand
// nothing), reads up to `limit` rows of `columns`, oldest first, hands them to `handle`, and deletes
// exactly those rows when it returns OK. *count is how many rows were handed.
absl::Status DrainQueue(Pool& pool, const std::string& lock_name, const std::string& table,
                        const std::string& columns, int limit,
                        const std::function<absl::Status(const pqxx::result&)>& handle, int* count);

}  // namespace upshift::pg

#endif  // UPSHIFT_LIBS_PG_POOL_H_
