#include "libs/pg/pg.h"

#include <typeinfo>

#include <libpq-fe.h>

#include <optional>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/metrics/metrics.h"

namespace upshift::pg {

namespace {

// libpq's messages end with a newline; statuses read better without it. An exception without a
// message is named by its type, so that the error still says something.
std::string What(const std::exception& e) {
  std::string what(absl::StripTrailingAsciiWhitespace(e.what()));
  return what.empty() ? absl::StrCat("(", typeid(e).name(), " without a message)") : what;
}

}  // namespace

absl::Status StatusFromException(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("database connection lost: ", What(e)));
  }
  // libpqxx throws the bare base class when libpq hands back no result at all: the connection died
  // under the query (seen while PostgreSQL crash-restarts). Retry, do not give the record up.
  if (typeid(e) == typeid(pqxx::failure)) {
    return absl::UnavailableError(absl::StrCat("database connection lost: ", What(e)));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("commit outcome unknown: ", What(e)));
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(What(e));
  }
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return absl::AlreadyExistsError(What(e));
  }
  // libpqxx 6.4 throws this one without its SQLSTATE (42501), which would read as a lost
  // connection below: it is the server refusing a statement, a permanent error.
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) return absl::InternalError(What(e));
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    // Class 08: connection exception; 57P01-03: admin shutdown, crash shutdown, cannot connect now.
    // No SQLSTATE: the server sent no error at all, which libpq reports when the connection failed.
    if (state.empty() || state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
      return absl::UnavailableError(absl::StrCat("database unavailable: ", What(e)));
    }
    if (state == "40001" || state == "40P01") return absl::AbortedError(What(e));
    return absl::InternalError(What(e));
  }
  return absl::InternalError(What(e));
}

std::string ConnInfoFor(absl::string_view base, absl::string_view dbname) {
  // libpq takes the last value of a repeated keyword.
  return absl::StrCat(base, " dbname=", QuoteConnValue(dbname));
}

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

absl::Status CheckConnInfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? error : "cannot parse";
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(
        absl::StrCat("connection string: ", RedactSecrets(absl::StripTrailingAsciiWhitespace(why))));
  }
  absl::Status status;
  for (PQconninfoOption* o = options; o->keyword != nullptr && status.ok(); ++o) {
    if (o->val == nullptr) continue;
    const std::string keyword = o->keyword;
    const std::string value = o->val;
    if (keyword == "port") {
      for (absl::string_view port : absl::StrSplit(value, ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(port, &n) || n < 1 || n > 65535) {
          status = absl::InvalidArgumentError(absl::StrCat("connection string: port \"", port, "\" is not a port"));
        }
      }
    } else if (keyword == "connect_timeout") {
      int n = 0;
      if (!absl::SimpleAtoi(value, &n)) {
        status = absl::InvalidArgumentError(absl::StrCat("connection string: connect_timeout \"", value, "\" is not a number"));
      }
    } else if (keyword == "sslmode") {
      static const std::set<std::string> kModes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
      if (!kModes.count(value)) {
        status = absl::InvalidArgumentError(absl::StrCat("connection string: sslmode \"", value, "\" is not libpq's"));
      }
    }
  }
  PQconninfoFree(options);
  return status;
}

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

absl::StatusOr<std::map<std::string, std::string>> EnvironmentFor(const std::string& conninfo) {
  // libpq's own names for its keywords' environment variables.
  static const std::map<std::string, std::string> kVariables = {
      {"host", "PGHOST"},         {"hostaddr", "PGHOSTADDR"},       {"port", "PGPORT"},
      {"dbname", "PGDATABASE"},   {"user", "PGUSER"},               {"password", "PGPASSWORD"},
      {"passfile", "PGPASSFILE"}, {"sslmode", "PGSSLMODE"},         {"sslcert", "PGSSLCERT"},
      {"sslkey", "PGSSLKEY"},     {"sslrootcert", "PGSSLROOTCERT"}, {"connect_timeout", "PGCONNECT_TIMEOUT"},
      {"application_name", "PGAPPNAME"}, {"options", "PGOPTIONS"},
  };
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? error : "cannot parse";
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat("connection string: ", absl::StripTrailingAsciiWhitespace(why)));
  }
  std::map<std::string, std::string> env;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    auto it = kVariables.find(o->keyword);
    if (o->val != nullptr && it != kVariables.end()) env[it->second] = o->val;
  }
  PQconninfoFree(options);
  return env;
}

std::string DatabaseOwner(pqxx::transaction_base& tx) {
  return tx.exec1("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database "
                  "WHERE datname = pg_catalog.current_database()")[0]
      .as<std::string>();
}

void ActAsOwner(pqxx::transaction_base& tx, const std::string& owner) {
  tx.exec(absl::StrCat("SET LOCAL ROLE ", tx.quote_name(owner)));
  tx.exec(absl::StrCat("SET LOCAL search_path = ", kPinnedSearchPath));
}

void ActAsPlatform(pqxx::transaction_base& tx) {
  tx.exec("RESET ROLE");
  tx.exec(absl::StrCat("SET LOCAL search_path = ", kPlatformSearchPath));
}

void ActAsSuperuser(pqxx::transaction_base& tx) {
  tx.exec(absl::StrCat("SET LOCAL search_path = ", kPinnedSearchPath));
}

namespace {

// A value inside libpq's `options`: libpq splits them at white space, and a backslash keeps the
// next character as it is.
std::string EscapeOption(absl::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

}  // namespace

std::string QuoteConnValue(absl::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

std::string OwnerOptions(const std::string& owner) {
  // The server takes the role's name as it is (no identifier quoting).
  return absl::StrCat("-c role=", EscapeOption(owner), " -c search_path=public,pg_catalog");
}

std::string WithSessionSettings(const std::string& conninfo,
                                const std::vector<std::pair<std::string, std::string>>& settings) {
  std::string options;
  char* error = nullptr;
  if (PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error)) {
    for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
      if (o->val != nullptr && std::string(o->keyword) == "options") options = o->val;
    }
    PQconninfoFree(parsed);
  }
  if (error != nullptr) PQfreemem(error);
  for (const auto& [name, value] : settings) {
    absl::StrAppend(&options, options.empty() ? "" : " ", "-c ", name, "=", EscapeOption(value));
  }
  // libpq takes the last value of a repeated keyword.
  return absl::StrCat(conninfo, " options=", QuoteConnValue(options));
}

std::string PlatformSession(absl::string_view base, absl::string_view dbname) {
  return WithSessionSettings(ConnInfoFor(base, dbname), {{"search_path", kPlatformSearchPath}});
}

absl::Status WithPlatformSession(absl::string_view base, absl::string_view dbname,
                                 const std::function<absl::Status(pqxx::connection&)>& fn) {
  return WithConnInfo(PlatformSession(base, dbname), fn);
}

absl::Status CheckPlatformSchema(pqxx::transaction_base& tx) {
  pqxx::result schema = tx.exec_params(
      "SELECT r.rolname, r.rolsuper FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner "
      "WHERE n.nspname = $1",
      kPlatformSchema);
  if (schema.empty()) return absl::OkStatus();
  if (!schema[0][1].as<bool>()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "schema \"", kPlatformSchema, "\" of this database was not made by Upshift (it belongs to role \"",
        schema[0][0].as<std::string>(), "\"): Upshift neither reads nor writes it; drop or rename it"));
  }
  // Anything in it that is not a plain table of a superuser's, or that would run code when written.
  pqxx::result odd = tx.exec_params(
      "SELECT c.relname, CASE WHEN c.relkind NOT IN ('r', 'i', 'S') THEN 'is not a table' "
      "WHEN NOT r.rolsuper THEN 'belongs to role ' || r.rolname "
      "WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid) THEN 'has a trigger' "
      "WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid) THEN 'has a rule' "
      "WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) THEN 'has a policy' END "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "JOIN pg_catalog.pg_roles r ON r.oid = c.relowner WHERE n.nspname = $1 "
      "AND (c.relkind NOT IN ('r', 'i', 'S') OR NOT r.rolsuper "
      "OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid) "
      "OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid) "
      "OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)) ORDER BY 1 LIMIT 1",
      kPlatformSchema);
  if (!odd.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("relation ", kPlatformSchema, ".", odd[0][0].as<std::string>(),
                                                      " of this database ", odd[0][1].as<std::string>(),
                                                      ": it was not made by Upshift, which neither reads nor writes "
                                                      "its schema now"));
  }
  return absl::OkStatus();
}

absl::Status EnsurePlatformSchema(pqxx::transaction_base& tx) {
  if (absl::Status ours = CheckPlatformSchema(tx); !ours.ok()) return ours;
  tx.exec(absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", kPlatformSchema));
  return CheckPlatformSchema(tx);
}

bool PlatformTableExists(pqxx::transaction_base& tx, const std::string& name) {
  return !tx.exec_params("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'",
                         kPlatformSchema, name)
              .empty();
}

std::string FormatTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

std::string MicrosOf(absl::string_view column) {
  return absl::StrCat("(extract(epoch FROM ", column, ") * 1000000)::bigint");
}

absl::Time TimeFromField(const pqxx::field& f) {
  if (f.is_null()) return absl::InfinitePast();
  return absl::FromUnixMicros(f.as<int64_t>());
}

std::vector<std::pair<std::string, std::string>> UserTables(pqxx::transaction_base& tx,
                                                             const std::string& also_exclude) {
  std::vector<std::pair<std::string, std::string>> tables;
  for (const auto& row : tx.exec_params(
           "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
           "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
           "AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) AND n.nspname NOT LIKE 'pg\\_toast%' "
           "AND n.nspname NOT LIKE 'pg\\_temp%' ORDER BY 1, 2",
           also_exclude)) {
    tables.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
  }
  return tables;
}

int64_t CountTableRows(pqxx::transaction_base& tx, const std::string& schema, const std::string& table) {
  return tx.exec1(absl::StrCat("SELECT pg_catalog.count(*) FROM ", tx.quote_name(schema), ".", tx.quote_name(table)))[0]
      .as<int64_t>();
}

std::string ChecksumTable(pqxx::transaction_base& tx, const std::string& schema, const std::string& table) {
  // The row count and the sum of a 64-bit hash of each row's text: independent of the rows' order
  // without sorting every row's hash first, as an ordered aggregate would.
  // Every function and operator named in full: the table is the customer's, its schema may hold
  // functions and operators of the same names that match these arguments better.
  return tx.exec1(absl::StrCat("SELECT pg_catalog.concat(pg_catalog.count(*), ':', "
                               "coalesce(pg_catalog.sum(pg_catalog.hashtextextended(t::pg_catalog.text, 0::pg_catalog.int8)), 0)) FROM ",
                               tx.quote_name(schema), ".", tx.quote_name(table), " AS t"))[0]
      .as<std::string>();
}

absl::Status WithConnection(absl::string_view base, absl::string_view dbname,
                            const std::function<absl::Status(pqxx::connection&)>& fn) {
  return WithConnInfo(ConnInfoFor(base, dbname), fn);
}

absl::Status WithConnInfo(const std::string& conninfo, const std::function<absl::Status(pqxx::connection&)>& fn) {
  try {
    pqxx::connection conn(conninfo);
    return fn(conn);
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
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

absl::Status PingServer(absl::string_view conninfo) {
  try {
    pqxx::connection conn(absl::StrCat(conninfo, " connect_timeout=2"));
    pqxx::nontransaction tx(conn);
    tx.exec("SELECT 1");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

}  // namespace upshift::pg
