#ifndef UPSHIFT_LIBS_PG_PG_H_
#define UPSHIFT_LIBS_PG_PG_H_

// PostgreSQL plumbing for adapter .cc files only: no service logic header includes this file, so
// libpqxx stays out of every public interface. libpqxx exceptions stop here and become absl::Status.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace upshift::pg {

// Maps a libpqxx (or std) exception to a status: lost connection -> UNAVAILABLE, serialization
// failure / deadlock -> ABORTED, unique violation -> ALREADY_EXISTS, other SQL errors -> INTERNAL
// (with the server's message), in-doubt commit -> UNAVAILABLE.
absl::Status StatusFromException(const std::exception& e);

// OK when libpq can use `conninfo` as it is: it parses, its keywords are libpq's, its port(s) and
// connect_timeout are numbers, its sslmode is one of libpq's. INVALID_ARGUMENT otherwise, saying
// why (never quoting a password): a connection with it could never succeed, so it is not retried.
absl::Status CheckConnInfo(const std::string& conninfo);

// `base` libpq connection string with the database replaced by `dbname` (quoted for libpq).
std::string ConnInfoFor(absl::string_view base, absl::string_view dbname);
// A value for a libpq keyword=value connection string: single-quoted, its quotes and backslashes
// escaped.
std::string QuoteConnValue(absl::string_view value);

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

// The PG* environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, ...) that make libpq clients
// such as pg_dump connect as `conninfo` says, so that no secret appears on a command line.
// INVALID_ARGUMENT when `conninfo` does not parse.
absl::StatusOr<std::map<std::string, std::string>> EnvironmentFor(const std::string& conninfo);

// A timestamptz literal for a bound parameter (UTC, microseconds).
std::string FormatTime(absl::Time t);

// A text[] literal of `values` (each double-quoted, its quotes and backslashes escaped), to pass as
// one parameter: `... = ANY($1::text[])`.
std::string TextArrayLiteral(const std::vector<std::string>& values);
// SQL expression reading a timestamptz column as microseconds since the epoch (NULL stays NULL).
std::string MicrosOf(absl::string_view column);
// Microseconds since the epoch (as from MicrosOf) to absl::Time; NULL -> InfinitePast().
absl::Time TimeFromField(const pqxx::field& f);


// A queue table's depth: its rows, and how long ago the oldest was written (by `time_column`; zero
// when empty). `table` and `time_column` are the caller's constants, never input.
struct QueueDepth {
  int64_t rows = 0;
  absl::Duration oldest_age;
};
absl::StatusOr<QueueDepth> QueueDepthOf(Pool& pool, const std::string& table, const std::string& time_column);

// The tables of the database outside the system schemas (and outside `also_exclude`, a schema
// name, when given), as (schema, table), ordered.
std::vector<std::pair<std::string, std::string>> UserTables(pqxx::transaction_base& tx,
                                                             const std::string& also_exclude = "");
// Exact row count of one table.
int64_t CountTableRows(pqxx::transaction_base& tx, const std::string& schema, const std::string& table);
// A content checksum of one table, independent of row order.
std::string ChecksumTable(pqxx::transaction_base& tx, const std::string& schema, const std::string& table);

// One round of a transactional outbox `table` whose first selected column is its bigserial `id`: in
// one transaction that only one caller holds at a time (advisory lock `lock_name`; the others hand
// nothing), reads up to `limit` rows of `columns`, oldest first, hands them to `handle`, and deletes
// exactly those rows when it returns OK. *count is how many rows were handed.
absl::Status DrainQueue(Pool& pool, const std::string& lock_name, const std::string& table,
                        const std::string& columns, int limit,
                        const std::function<absl::Status(const pqxx::result&)>& handle, int* count);

// Opens a connection with `conninfo` (keyword form) and runs SELECT 1: a health probe. UNAVAILABLE
// when the server does not answer within 2 seconds.
absl::Status PingServer(absl::string_view conninfo);

// The search_path of every session the platform's own role opens in a customer's database, set at
// connection time (PlatformSession) so that it also overrides a database-level search_path the
// customer set: the built-ins only, and the session's own temporary schema last, which no other
// role can write. Upshift's statements there also name pg_catalog's functions in full.
inline constexpr char kPlatformSearchPath[] = "pg_catalog, pg_temp";

// `conninfo` with `-c name=value` settings appended to its `options` (those it has are kept). The
// values are escaped as libpq splits options: a backslash before every space and backslash.
std::string WithSessionSettings(const std::string& conninfo, const std::vector<std::pair<std::string, std::string>>& settings);

// The connection string of a platform session in a customer's database `dbname` on the server
// `base` describes: kPlatformSearchPath from the first statement on.
std::string PlatformSession(absl::string_view base, absl::string_view dbname);

// Opens a platform session (PlatformSession) in `dbname`, runs `fn`, closes it.
absl::Status WithPlatformSession(absl::string_view base, absl::string_view dbname,
                                 const std::function<absl::Status(pqxx::connection&)>& fn);

// The schema the platform keeps its own tables in, inside a customer's database.
inline constexpr char kPlatformSchema[] = "upshift";

// OK when schema `upshift` of `tx`'s database is absent or the platform's: owned by a superuser
// (no customer can make one so), and every relation in it an ordinary table owned by a superuser,
// with no trigger and no rule (no code of a customer's runs when the platform writes it).
// FAILED_PRECONDITION saying what is wrong otherwise: the platform then neither reads nor writes it.
absl::Status CheckPlatformSchema(pqxx::transaction_base& tx);
// Makes schema `upshift` if it is missing, then CheckPlatformSchema. Needs a superuser session.
absl::Status EnsurePlatformSchema(pqxx::transaction_base& tx);
// Whether table upshift.<name> exists (after CheckPlatformSchema said the schema is the platform's).
bool PlatformTableExists(pqxx::transaction_base& tx, const std::string& name);

// Over pg_database `d` joined with its owner's pg_roles `r`: whether applications can connect. A
// database whose owner is an ordinary role (a tenant) is offline while that owner may not CONNECT
// (the platform revoked it from everyone but the owner's tenant login); one owned by a superuser,
// which no ACL can keep out, while its connection limit is 0.
inline constexpr char kDatabaseOnlineSql[] =
    "(d.datallowconn AND d.datconnlimit <> 0 AND "
    "(r.rolsuper OR pg_catalog.has_database_privilege(d.datdba, d.oid, 'CONNECT')))";

// The search_path catalog SQL runs with: `public` (where unqualified names are created and found)
// and the built-ins, nothing else, so that nothing a customer puts in another schema (its role's
// "$user" schema among them) or in a database-level search_path changes what the SQL names.
// (pg_catalog first would make it the schema CREATE TABLE creates in.)
inline constexpr char kPinnedSearchPath[] = "public, pg_catalog";

// The owner role of the database `tx` is connected to: the role catalog SQL runs as.
std::string DatabaseOwner(pqxx::transaction_base& tx);

// For the rest of `tx` (SET LOCAL): acts as `owner` (DatabaseOwner) with the pinned search_path.
// The session stays the platform's: it can enter an offline database (connection limit 0 admits
// superusers only), and ActAsPlatform ends the switch. What the SQL calls runs with the owner's
// privileges, not the superuser's.
void ActAsOwner(pqxx::transaction_base& tx, const std::string& owner);
// Ends ActAsOwner inside `tx`: the platform's own statements that follow run as the session's role,
// with kPlatformSearchPath.
void ActAsPlatform(pqxx::transaction_base& tx);
// For the rest of `tx`: catalog SQL the catalog marks `superuser` runs in the platform's session
// with the search_path catalog SQL has (kPinnedSearchPath), so that its unqualified names mean what
// they mean in every other step.
void ActAsSuperuser(pqxx::transaction_base& tx);
// The PGOPTIONS that make a libpq client (a command step) act as `owner` with the pinned search_path.
// Every character libpq would split on (white space) or read as an escape (backslash) is escaped.
std::string OwnerOptions(const std::string& owner);

// Opens a one-off connection to `dbname` on the server described by `base`, runs `fn`, closes it.
absl::Status WithConnection(absl::string_view base, absl::string_view dbname,
                            const std::function<absl::Status(pqxx::connection&)>& fn);
// The same with a whole connection string.
absl::Status WithConnInfo(const std::string& conninfo, const std::function<absl::Status(pqxx::connection&)>& fn);

}  // namespace upshift::pg

#endif  // UPSHIFT_LIBS_PG_PG_H_
