#include "services/migrator/pg_migration_target.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/common/subprocess.h"
#include "libs/hosting/tenant_logins.h"
#include "libs/pg/connections.h"
#include "libs/pg/errors.h"
#include "libs/pg/pool.h"
#include "libs/pg/tables.h"
#include "libs/pg/tenant_sessions.h"

namespace upshift::migrator {
namespace {

constexpr char kHistory[] = R"sql(
CREATE TABLE IF NOT EXISTS upshift.migration_history (
  hop           text NOT NULL,
  step          text NOT NULL,
  checksum      text NOT NULL,
  applied_at    timestamptz NOT NULL DEFAULT now(),
  duration_ms   bigint NOT NULL,
  rows_affected bigint NOT NULL,
  PRIMARY KEY (hop, step)
);
)sql";

// An SQL error inside a step is the step's failure (permanent); connection trouble is not.
absl::Status StepError(const std::exception& e, const StepRun& step) {
  absl::Status mapped = pg::StatusFromException(e);
  if (mapped.code() != absl::StatusCode::kInternal && mapped.code() != absl::StatusCode::kAlreadyExists) {
    return mapped;
  }
  return absl::InternalError(
      absl::StrCat("step ", step.hop, "/", step.name, " failed: ", absl::StripTrailingAsciiWhitespace(e.what())));
}

// OK when `fence` is empty or the database holds the lease of upgrade `fence`; in the caller's transaction.
absl::Status CheckFence(pqxx::transaction_base& tx, const std::string& database, const std::string& fence) {
  if (fence.empty()) return absl::OkStatus();
  if (absl::Status ours = pg::CheckPlatformSchema(tx); !ours.ok()) return ours;
  bool held = pg::PlatformTableExists(tx, "production_lease") &&
              !tx.exec_params("SELECT 1 FROM upshift.production_lease WHERE upgrade_id = $1", fence).empty();
  if (held) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("database \"", database, "\" holds no lease for upgrade ", fence,
                                                    ": it was restored or replaced, so nothing is run in it"));
}

// In a platform session: makes the migration history if it is missing, unless `fence` keeps the
// worker out (a database restored from its restore point must not be touched, not even by the
// history's creation), and lets `login` (empty: none) record and read steps in it, nothing more.
absl::Status PrepareHistory(pqxx::connection& conn, const std::string& database, const std::string& fence,
                            const std::string& login) {
  pqxx::work setup(conn);
  setup.exec("SELECT pg_advisory_xact_lock(hashtext('upshift.migration_history'))");
  if (absl::Status fenced = CheckFence(setup, database, fence); !fenced.ok()) return fenced;
  if (absl::Status ours = pg::EnsurePlatformSchema(setup); !ours.ok()) return ours;
  setup.exec(kHistory);
  if (!login.empty()) {
    const std::string role = setup.quote_name(login);
    setup.exec(absl::StrCat("GRANT USAGE ON SCHEMA upshift TO ", role));
    // UPDATE only for LOCK ... SHARE ROW EXCLUSIVE, which PostgreSQL 15 allows with it.
    setup.exec(absl::StrCat("GRANT SELECT, INSERT, UPDATE ON upshift.migration_history TO ", role));
  }
  setup.commit();
  return absl::OkStatus();
}

// Ends the session `pid` (its transaction rolls back) if `deadline` passes before this is
// destroyed: a step's SQL, and the customer's code it fires, run no longer than the offline
// window's bound. Terminated, not cancelled: PL/pgSQL can catch a cancellation, not this.
class EndAtDeadline {
 public:
  EndAtDeadline(pg::Pool& admin, int pid, absl::Time deadline) {
    if (deadline == absl::InfiniteFuture()) return;
    thread_ = std::thread([this, &admin, pid, deadline] {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithDeadline(absl::Condition(&done_), deadline)) return;
      LogWarning(absl::StrCat("the offline window's bound passed while a step ran: ending its session (pid ", pid, ")"));
      absl::Status ended = admin.Transact([&](pqxx::work& tx) {
        tx.exec_params("SELECT pg_terminate_backend($1)", pid);
        return absl::OkStatus();
      });
      if (!ended.ok()) LogWarning(absl::StrCat("could not end the step's session: ", ended.ToString()));
    });
  }
  ~EndAtDeadline() {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  EndAtDeadline(const EndAtDeadline&) = delete;
  EndAtDeadline& operator=(const EndAtDeadline&) = delete;

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

class PgMigrationTarget::Sessions {
 public:
  // `open` makes a new session in a database.
  using Opener = std::function<absl::StatusOr<std::unique_ptr<pqxx::connection>>(const std::string& database)>;
  explicit Sessions(Opener open) : open_(std::move(open)) {}

  // Runs `fn` on the kept session of `database` (opened if there is none, or if another call holds
  // it), and keeps the session afterwards unless it broke.
  absl::Status Run(const std::string& database, const std::function<absl::Status(pqxx::connection&)>& fn) {
    std::unique_ptr<pqxx::connection> conn = Take(database);
    if (conn == nullptr) {
      absl::StatusOr<std::unique_ptr<pqxx::connection>> opened = open_(database);
      if (!opened.ok()) return opened.status();
      conn = std::move(*opened);
    }
    absl::Status status;
    try {
      status = fn(*conn);
      // What a step set for its session (SET, temporary tables) must not reach the next one.
      if (conn->is_open()) pqxx::nontransaction(*conn).exec("DISCARD ALL");
    } catch (const std::exception& e) {
      // A kept session the server closed meanwhile fails here once; the caller's retry opens another.
      if (status.ok()) status = pg::StatusFromException(e);
      conn.reset();
    }
    if (conn != nullptr && conn->is_open()) {
      absl::MutexLock lock(&mu_);
      idle_.try_emplace(database, std::move(conn));  // one kept per database; a second is closed
    }
    return status;
  }

  // Closes the kept session of `database`.
  void End(const std::string& database) { Take(database).reset(); }

 private:
  std::unique_ptr<pqxx::connection> Take(const std::string& database) {
    absl::MutexLock lock(&mu_);
    auto it = idle_.find(database);
    if (it == idle_.end()) return nullptr;
    std::unique_ptr<pqxx::connection> conn = std::move(it->second);
    idle_.erase(it);
    return conn;
  }

  const Opener open_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
};

namespace {

absl::StatusOr<std::unique_ptr<pqxx::connection>> Open(const std::string& conninfo) {
  try {
    return std::make_unique<pqxx::connection>(conninfo);
  } catch (const std::exception& e) {
    return pg::StatusFromException(e);
  }
}

}  // namespace

PgMigrationTarget::PgMigrationTarget(std::string conninfo)
    : conninfo_(std::move(conninfo)),
      admin_(std::make_unique<pg::Pool>(pg::PlatformSession(conninfo_, "postgres"), 2, absl::Seconds(10), "hosting")),
      logins_(std::make_unique<TenantLogins>(conninfo_)),
      platform_(std::make_unique<Sessions>(
          [this](const std::string& database) { return Open(pg::PlatformSession(conninfo_, database)); })),
      tenant_(std::make_unique<Sessions>([this](const std::string& database) -> absl::StatusOr<std::unique_ptr<pqxx::connection>> {
        UPSHIFT_ASSIGN_OR_RETURN(Tenancy tenancy, TenancyOf(database));
        if (tenancy.login.empty()) return Open(pg::PlatformSession(conninfo_, database));
        // The customer's code may have changed the login's password: OpenAsTenant repairs it once.
        return OpenAsTenant(*logins_, conninfo_, tenancy.owner, database);
      })) {}

PgMigrationTarget::~PgMigrationTarget() = default;

void PgMigrationTarget::EndSession(const std::string& database) {
  tenant_->End(database);
  platform_->End(database);
}

absl::StatusOr<PgMigrationTarget::Tenancy> PgMigrationTarget::TenancyOf(const std::string& database) {
  Tenancy tenancy;
  absl::Status status = admin_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params(
        "SELECT r.rolname, r.rolsuper FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1",
        database);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("database \"", database, "\" does not exist"));
    tenancy.owner = rows[0][0].as<std::string>();
    tenancy.owner_is_superuser = rows[0][1].as<bool>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  // A superuser owner has no login below it: the platform's session acts as it. An offline
  // database still admits the owner's login (HostingServer::SetConnectionLimit).
  if (tenancy.owner_is_superuser) return tenancy;
  absl::StatusOr<TenantLogin> login = logins_->For(tenancy.owner);
  if (!login.ok()) return login.status();
  tenancy.login = login->login;
  return tenancy;
}

absl::StatusOr<bool> PgMigrationTarget::ApplyStep(const StepRun& step) {
  bool ran = false;
  UPSHIFT_ASSIGN_OR_RETURN(Tenancy tenancy, TenancyOf(step.database));
  UPSHIFT_RETURN_IF_ERROR(platform_->Run(step.database, [&](pqxx::connection& conn) {
    return PrepareHistory(conn, step.database, step.fence, tenancy.login);
  }));
  // A step the catalog marks superuser runs in the platform's session; every other one in the
  // owner's login's (the platform's own for an offline database: see TenancyOf).
  Sessions& sessions = step.superuser ? *platform_ : *tenant_;
  absl::Status status = sessions.Run(step.database, [&](pqxx::connection& conn) {
    try {
      pqxx::work tx(conn);
      // The lock keeps two workers (a redelivery racing the original) from running one step twice.
      tx.exec("LOCK TABLE upshift.migration_history IN SHARE ROW EXCLUSIVE MODE");
      if (absl::Status fenced = CheckFence(tx, step.database, step.fence); !fenced.ok()) return fenced;
      pqxx::result recorded = tx.exec_params(
          "SELECT checksum FROM upshift.migration_history WHERE hop = $1 AND step = $2", step.hop, step.name);
      if (!recorded.empty()) {
        std::string checksum = recorded[0][0].as<std::string>();
        if (checksum != step.checksum) {
          return absl::FailedPreconditionError(absl::StrCat(
              "step ", step.hop, "/", step.name, " was applied with checksum ", checksum,
              " but the catalog's script now has checksum ", step.checksum, ": the script changed after it ran"));
        }
        return absl::OkStatus();
      }
      absl::Time start = absl::Now();
      int64_t affected = 0;
      const std::string owner = pg::DatabaseOwner(tx);
      if (step.command.empty()) {
        if (step.superuser) {
          pg::ActAsSuperuser(tx);
        } else {
          pg::ActAsOwner(tx, owner);
        }
        EndAtDeadline bound(*admin_, conn.backendpid(), step.deadline);
        affected = tx.exec(step.sql).affected_rows();
        pg::ActAsPlatform(tx);
      } else {
        // The lock on the history is held while the command runs: no second worker runs it meanwhile.
        // The command connects as the session running it does: the owner's login, or the platform.
        std::string connect = pg::ConnInfoFor(conninfo_, step.database);
        if (!step.superuser && !tenancy.login.empty()) {
          absl::StatusOr<TenantLogin> login = logins_->For(tenancy.owner);
          if (!login.ok()) return login.status();
          connect = login->ConnInfo(conninfo_, step.database);
        }
        absl::StatusOr<std::map<std::string, std::string>> env = pg::EnvironmentFor(connect);
        if (!env.ok()) return env.status();
        if (!step.superuser) (*env)["PGOPTIONS"] = pg::OwnerOptions(owner);
        std::vector<std::string> argv = {step.command};
        argv.insert(argv.end(), step.args.begin(), step.args.end());
        const absl::Duration left = step.deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError(absl::StrCat("step ", step.hop, "/", step.name, " not started: the offline window's bound passed"));
        }
        absl::Status ran = RunPipeline({{argv, *env}}, std::min(step.timeout, left));
        if (!ran.ok()) {
          return absl::InternalError(absl::StrCat("step ", step.hop, "/", step.name, " failed: ", ran.message()));
        }
      }
      tx.exec_params(
          "INSERT INTO upshift.migration_history (hop, step, checksum, duration_ms, rows_affected) "
          "VALUES ($1, $2, $3, $4, $5)",
          step.hop, step.name, step.checksum, absl::ToInt64Milliseconds(absl::Now() - start), affected);
      tx.commit();
      ran = true;
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return StepError(e, step);
    }
  });
  if (!status.ok()) return status;
  return ran;
}

absl::StatusOr<int> PgMigrationTarget::ApplyStepsTogether(const std::vector<StepRun>& steps) {
  if (steps.empty()) return 0;
  const StepRun& first = steps.front();
  int ran = 0;
  UPSHIFT_ASSIGN_OR_RETURN(Tenancy tenancy, TenancyOf(first.database));
  UPSHIFT_RETURN_IF_ERROR(platform_->Run(first.database, [&](pqxx::connection& conn) {
    return PrepareHistory(conn, first.database, first.fence, tenancy.login);
  }));
  // All in the owner's login's session unless one of them needs the superuser (then all in the
  // platform's, each of the others as the owner).
  bool superuser = false;
  for (const StepRun& step : steps) superuser = superuser || step.superuser;
  Sessions& sessions = superuser ? *platform_ : *tenant_;
  absl::Status status = sessions.Run(first.database, [&](pqxx::connection& conn) {
    const StepRun* current = &first;
    try {
      pqxx::work tx(conn);
      tx.exec("LOCK TABLE upshift.migration_history IN SHARE ROW EXCLUSIVE MODE");
      if (absl::Status fenced = CheckFence(tx, first.database, first.fence); !fenced.ok()) return fenced;
      const std::string owner = pg::DatabaseOwner(tx);
      for (const StepRun& step : steps) {
        current = &step;
        pqxx::result recorded = tx.exec_params(
            "SELECT checksum FROM upshift.migration_history WHERE hop = $1 AND step = $2", step.hop, step.name);
        if (!recorded.empty()) {
          if (recorded[0][0].as<std::string>() != step.checksum) {
            return absl::FailedPreconditionError(absl::StrCat("step ", step.hop, "/", step.name,
                                                              " was applied with another script: the script changed"));
          }
          continue;
        }
        absl::Time start = absl::Now();
        if (step.superuser) {
          pg::ActAsSuperuser(tx);
        } else {
          pg::ActAsOwner(tx, owner);
        }
        EndAtDeadline bound(*admin_, conn.backendpid(), step.deadline);
        int64_t affected = tx.exec(step.sql).affected_rows();
        pg::ActAsPlatform(tx);
        tx.exec_params(
            "INSERT INTO upshift.migration_history (hop, step, checksum, duration_ms, rows_affected) "
            "VALUES ($1, $2, $3, $4, $5)",
            step.hop, step.name, step.checksum, absl::ToInt64Milliseconds(absl::Now() - start), affected);
        ++ran;
      }
      tx.commit();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      ran = 0;
      return StepError(e, *current);
    }
  });
  if (!status.ok()) return status;
  return ran;
}

absl::Status PgMigrationTarget::SetVersion(const std::string& database, const std::string& set_version_sql,
                                           const std::string& version, const std::string& fence) {
  return tenant_->Run(database, [&](pqxx::connection& conn) {
    try {
      pqxx::work tx(conn);
      if (absl::Status fenced = CheckFence(tx, database, fence); !fenced.ok()) return fenced;
      pg::ActAsOwner(tx, pg::DatabaseOwner(tx));
      tx.exec_params(set_version_sql, version);
      tx.commit();
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      absl::Status mapped = pg::StatusFromException(e);
      if (mapped.code() != absl::StatusCode::kInternal) return mapped;
      return absl::InternalError(absl::StrCat("the catalog's set_version failed: ", e.what()));
    }
  });
}

absl::StatusOr<std::string> PgMigrationTarget::ReadVersion(const std::string& database,
                                                           const std::string& version_query) {
  std::string version;
  absl::Status status = tenant_->Run(database, [&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    pg::ActAsOwner(tx, pg::DatabaseOwner(tx));
    pqxx::result rows = tx.exec(version_query);
    if (rows.size() != 1 || rows.columns() != 1 || rows[0][0].is_null()) {
      return absl::FailedPreconditionError(absl::StrCat("the version query returned ", rows.size(), " rows in ", database));
    }
    version = rows[0][0].as<std::string>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return version;
}

absl::Status PgMigrationTarget::Heartbeat(const std::string& database, const std::string& upgrade_id) {
  return platform_->Run(database, [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    if (absl::Status ours = pg::CheckPlatformSchema(tx); !ours.ok()) return ours;
    tx.exec_params("UPDATE upshift.production_lease SET heartbeat_at = now() WHERE upgrade_id = $1", upgrade_id);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> PgMigrationTarget::RunCheck(const std::string& database, const std::string& sql) {
  bool passed = false;
  absl::Status status = tenant_->Run(database, [&](pqxx::connection& conn) {
    try {
      pqxx::read_transaction tx(conn);
      pg::ActAsOwner(tx, pg::DatabaseOwner(tx));
      pqxx::result rows = tx.exec(sql);
      if (rows.size() != 1 || rows.columns() != 1 || rows[0][0].is_null()) {
        return absl::InternalError(absl::StrCat("check returned ", rows.size(), " rows instead of one boolean"));
      }
      passed = rows[0][0].as<bool>();
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      absl::Status mapped = pg::StatusFromException(e);
      return mapped.code() == absl::StatusCode::kInternal ? absl::InternalError(e.what()) : mapped;
    } catch (const pqxx::conversion_error& e) {
      return absl::InternalError(absl::StrCat("check did not return a boolean: ", e.what()));
    }
  });
  if (!status.ok()) return status;
  return passed;
}

absl::StatusOr<bool> PgMigrationTarget::AcceptsConnections(const std::string& database) {
  bool accepts = false;
  absl::Status status = admin_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT ", pg::kDatabaseOnlineSql,
                     " FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1"),
        database);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("database \"", database, "\" does not exist"));
    accepts = rows[0][0].as<bool>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return accepts;
}

absl::StatusOr<std::map<std::string, int64_t>> PgMigrationTarget::CountRows(const std::string& database) {
  std::map<std::string, int64_t> counts;
  absl::Status status = platform_->Run(database, [&](pqxx::connection& conn) {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    // The platform's own tables (history, lease) are not the application's data.
    for (const auto& [schema, table] : pg::UserTables(tx, "upshift")) {
      counts[absl::StrCat(schema, ".", table)] = pg::CountTableRows(tx, schema, table);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

absl::StatusOr<std::map<std::string, std::string>> PgMigrationTarget::ChecksumTables(
    const std::string& database, const std::vector<std::string>& tables, const std::function<void()>& pinned) {
  bool pinned_called = false;
  auto pin = [&] {
    if (pinned && !pinned_called) pinned();
    pinned_called = true;
  };
  std::map<std::string, std::string> sums;
  absl::Status status = platform_->Run(database, [&](pqxx::connection& conn) {
    // The snapshot is fixed by the first query; the locks, all taken before `pinned`, make sure a
    // concurrent step that alters these tables waits for this reader and never the reverse (no
    // deadlock whatever order the step takes its locks in).
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    std::vector<std::string> quoted;
    for (const std::string& qualified : tables) {
      size_t dot = qualified.find('.');
      std::string schema = qualified.substr(0, dot), table = qualified.substr(dot + 1);
      if (tx.exec_params("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = $2", schema, table).empty()) {
        return absl::NotFoundError(absl::StrCat("table ", qualified, " does not exist"));
      }
      quoted.push_back(absl::StrCat(tx.quote_name(schema), ".", tx.quote_name(table)));
    }
    if (!quoted.empty()) tx.exec(absl::StrCat("LOCK TABLE ", absl::StrJoin(quoted, ", "), " IN ACCESS SHARE MODE"));
    pin();
    for (const std::string& qualified : tables) {
      size_t dot = qualified.find('.');
      sums[qualified] = pg::ChecksumTable(tx, qualified.substr(0, dot), qualified.substr(dot + 1));
    }
    return absl::OkStatus();
  });
  pin();
  if (!status.ok()) return status;
  return sums;
}

absl::StatusOr<std::vector<std::string>> PgMigrationTarget::ValidateConstraints(const std::string& database) {
  std::vector<std::string> validated;
  absl::Status status = tenant_->Run(database, [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    const std::string owner = pg::DatabaseOwner(tx);
    pqxx::result rows = tx.exec(
        "SELECT n.nspname, c.relname, k.conname, pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_constraint k "
        "JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT k.convalidated ORDER BY 1, 2, 3");
    for (const auto& row : rows) {
      std::string schema = row[0].as<std::string>(), table = row[1].as<std::string>(), name = row[2].as<std::string>();
      try {
        pqxx::subtransaction sub(tx);
        // A check's expression may call the customer's functions: as the owner, where it owns the
        // table (validating needs the table's owner).
        if (row[3].as<std::string>() == owner) pg::ActAsOwner(sub, owner);
        sub.exec(absl::StrCat("ALTER TABLE ", tx.quote_name(schema), ".", tx.quote_name(table),
                              " VALIDATE CONSTRAINT ", tx.quote_name(name)));
        pg::ActAsPlatform(sub);
        sub.commit();
      } catch (const pqxx::sql_error& e) {
        return absl::FailedPreconditionError(absl::StrCat("constraint ", table, ".", name, " does not hold: ",
                                                          absl::StripTrailingAsciiWhitespace(e.what())));
      }
      validated.push_back(absl::StrCat(table, ".", name));
    }
    tx.commit();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return validated;
}

absl::StatusOr<std::vector<upgrade::v1::StepReport>> PgMigrationTarget::History(const std::string& database) {
  std::vector<upgrade::v1::StepReport> steps;
  absl::Status status = platform_->Run(database, [&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    if (absl::Status ours = pg::CheckPlatformSchema(tx); !ours.ok()) return ours;
    if (!pg::PlatformTableExists(tx, "migration_history")) return absl::OkStatus();
    for (const auto& row : tx.exec("SELECT hop, step, duration_ms, rows_affected FROM upshift.migration_history "
                                   "ORDER BY applied_at, hop, step")) {
      upgrade::v1::StepReport& s = steps.emplace_back();
      s.set_hop(row[0].as<std::string>());
      s.set_step(row[1].as<std::string>());
      s.set_duration_ms(row[2].as<int64_t>());
      s.set_rows_affected(row[3].as<int64_t>());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return steps;
}

}  // namespace upshift::migrator
