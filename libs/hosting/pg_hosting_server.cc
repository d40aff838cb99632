#include "libs/hosting/pg_hosting_server.h"

#include <algorithm>
#include <future>
#include <map>

#include "absl/strings/str_cat.h"
#include "libs/common/concurrent.h"
#include "libs/common/deadline.h"
#include "libs/common/subprocess.h"
#include "libs/hosting/tenant_logins.h"
#include "libs/pg/connections.h"
#include "libs/pg/errors.h"
#include "libs/pg/pool.h"
#include "libs/pg/tables.h"
#include "libs/pg/tenant_sessions.h"
#include "libs/pg/values.h"

namespace upshift {


namespace {

// Maps the SQLSTATEs of CREATE/DROP DATABASE that callers act on.
absl::Status DatabaseDdlStatus(const std::exception& e, const std::string& source, const std::string& target) {
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    if (state == "42P04") return absl::AlreadyExistsError(absl::StrCat("database \"", target, "\" already exists"));
    if (state == "55006") {
      return absl::FailedPreconditionError(
          absl::StrCat("database \"", source, "\" is in use by other sessions: ", e.what()));
    }
    if (state == "3D000") return absl::NotFoundError(absl::StrCat("database \"", source, "\" does not exist"));
  }
  return pg::StatusFromException(e);
}

// A database as HostedDatabase describes it: name, online, connection limit (0 while offline),
// owner, whether the owner is a superuser, and its oid.
const std::string kDescribed = absl::StrCat(
    "SELECT d.datname, ", pg::kDatabaseOnlineSql, ", CASE WHEN ", pg::kDatabaseOnlineSql,
    " THEN d.datconnlimit ELSE 0 END, r.rolname, r.rolsuper, d.oid::pg_catalog.int8 "
    "FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles r ON r.oid = d.datdba");

// Where the server keeps what a database's ACL was before the platform took it offline (in the
// maintenance database, readable by superusers only), by database name.
constexpr char kOfflineTable[] = R"sql(
CREATE TABLE IF NOT EXISTS upshift.offline_databases (
  datname  text PRIMARY KEY,
  acl      aclitem[],
  taken_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON upshift.offline_databases FROM PUBLIC;
)sql";

// Exact row counts of every table outside the system schemas, in `tx`'s snapshot.
TableRowCounts CountAllRows(pqxx::transaction_base& tx) {
  TableRowCounts counts;
  for (const auto& [schema, table] : pg::UserTables(tx)) {
    counts[absl::StrCat(schema, ".", table)] = pg::CountTableRows(tx, schema, table);
  }
  return counts;
}

}  // namespace

PgHostingServer::PgHostingServer(PgHostingOptions options)
    : options_(std::move(options)),
      admin_(std::make_unique<pg::Pool>(pg::PlatformSession(options_.conninfo, "postgres"), options_.admin_sessions,
                                        absl::Seconds(10), "hosting")),
      logins_(std::make_unique<TenantLogins>(options_.conninfo)),
      reads_(std::make_unique<Semaphore>(options_.max_reads)) {}

PgHostingServer::~PgHostingServer() = default;

absl::StatusOr<std::vector<HostedDatabase>> PgHostingServer::ListDatabases() { return Listed(nullptr); }

absl::StatusOr<std::vector<HostedDatabase>> PgHostingServer::FindDatabases(const std::vector<std::string>& names) {
  return Listed(&names);
}

absl::StatusOr<std::vector<HostedDatabase>> PgHostingServer::Listed(const std::vector<std::string>* only) {
  std::vector<HostedDatabase> out;
  absl::Status status = admin_->Transact([&](pqxx::work& tx) {
    out.clear();
    const std::string query = absl::StrCat(kDescribed, " WHERE NOT d.datistemplate AND d.datname <> 'postgres'");
    pqxx::result rows = only == nullptr ? tx.exec(query + " ORDER BY d.datname")
                                        : tx.exec_params(query + " AND d.datname = ANY($1::text[]) ORDER BY d.datname",
                                                         pg::TextArrayLiteral(*only));
    for (const auto& row : rows) {
      std::string name = row[0].as<std::string>();
      if (std::find(options_.reserved.begin(), options_.reserved.end(), name) != options_.reserved.end()) continue;
      out.push_back({name, row[1].as<bool>(), row[2].as<int32_t>(), row[3].as<std::string>(), row[4].as<bool>()});
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<HostedDatabase> PgHostingServer::GetDatabase(const std::string& name) {
  HostedDatabase db;
  absl::Status status = admin_->Transact([&](pqxx::work& tx) {
    pqxx::result rows =
        tx.exec_params(absl::StrCat(kDescribed, " WHERE d.datname = $1 AND NOT d.datistemplate"), name);
    if (rows.empty()) return DatabaseNotFound(name);
    db = {rows[0][0].as<std::string>(), rows[0][1].as<bool>(), rows[0][2].as<int32_t>(), rows[0][3].as<std::string>(),
          rows[0][4].as<bool>(), rows[0][5].as<int64_t>()};
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return db;
}

absl::StatusOr<std::string> PgHostingServer::ReadVersion(const std::string& database,
                                                         const std::string& version_query) {
  absl::StatusOr<HostedDatabase> db = GetDatabase(database);
  if (!db.ok()) return db.status();
  // No longer than the caller waits: its deadline bounds the wait for a place and the read.
  if (WithinCallDeadline(options_.read_timeout) <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError(absl::StrCat("the caller's deadline passed before database \"", database,
                                                    "\" was read"));
  }
  const absl::Duration wait = WithinCallDeadline(options_.read_wait);
  std::optional<Semaphore::Hold> place = reads_->AcquireWithin(wait);
  if (!place && wait < options_.read_wait) {
    return absl::DeadlineExceededError(absl::StrCat("the caller's deadline passed while every read of customer "
                                                    "databases was busy"));
  }
  if (!place) {
    return absl::ResourceExhaustedError(absl::StrCat("all ", options_.max_reads,
                                                     " reads of customer databases were busy for ",
                                                     absl::FormatDuration(options_.read_wait), "; try again"));
  }
  std::string version;
  const absl::Duration budget = std::max(WithinCallDeadline(options_.read_timeout), absl::Milliseconds(1));
  absl::Status status = AsTenant(*logins_, options_.conninfo, db->owner, database, [&](pqxx::connection& conn) {
    try {
      pqxx::read_transaction tx(conn);
      const std::string limit = absl::StrCat(absl::ToInt64Milliseconds(budget));
      tx.exec(absl::StrCat("SET LOCAL statement_timeout = ", limit));
      tx.exec(absl::StrCat("SET LOCAL lock_timeout = ", limit));
      // The query is the catalog's, in a database the customer controls: as its owner.
      pg::ActAsOwner(tx, db->owner);
      pqxx::result rows = tx.exec(version_query);
      if (rows.size() != 1 || rows.columns() != 1 || rows[0][0].is_null()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "database \"", database, "\" has no application version (the catalog's version query returned ",
            rows.size(), " rows)"));
      }
      version = rows[0][0].as<std::string>();
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      absl::Status mapped = pg::StatusFromException(e);
      if (mapped.code() != absl::StatusCode::kInternal) return mapped;
      // 57014: statement_timeout; 55P03: lock_timeout. The database made the query wait: not a
      // verdict on what the database is.
      if (e.sqlstate() == "57014" || e.sqlstate() == "55P03") {
        return absl::DeadlineExceededError(absl::StrCat("reading the version of database \"", database,
                                                        "\" took longer than ", absl::FormatDuration(budget)));
      }
      return absl::FailedPreconditionError(absl::StrCat("database \"", database,
                                                        "\" is not an application database of this catalog: ",
                                                        e.what()));
    }
  });
  if (!status.ok()) return status;
  return version;
}

absl::StatusOr<int64_t> PgHostingServer::DatabaseSizeBytes(const std::string& database) {
  int64_t bytes = 0;
  absl::Status status = admin_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params(
        "SELECT pg_database_size(oid) FROM pg_database WHERE datname = $1 AND NOT datistemplate", database);
    if (rows.empty()) {
      return DatabaseNotFound(database);
    }
    bytes = rows[0][0].as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return bytes;
}

absl::StatusOr<int64_t> PgHostingServer::DataSizeBytes(const std::string& database) {
  int64_t bytes = 0;
  absl::Status status = pg::WithPlatformSession(options_.conninfo, database, [&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    bytes = tx.exec1(
        "SELECT coalesce(pg_catalog.sum(pg_catalog.pg_total_relation_size(c.oid::pg_catalog.regclass)), 0)::pg_catalog.int8 "
        "FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'")[0]
                .as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return bytes;
}

absl::StatusOr<TableRowCounts> PgHostingServer::CountRows(const std::string& database) {
  TableRowCounts counts;
  absl::Status status = pg::WithPlatformSession(options_.conninfo, database, [&](pqxx::connection& conn) {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    counts = CountAllRows(tx);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return counts;
}

absl::StatusOr<TableChecksums> PgHostingServer::ChecksumTables(const std::string& database) {
  TableChecksums sums;
  absl::Status status = pg::WithPlatformSession(options_.conninfo, database, [&](pqxx::connection& conn) {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    for (const auto& [schema, table] : pg::UserTables(tx)) {
      sums[absl::StrCat(schema, ".", table)] = pg::ChecksumTable(tx, schema, table);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return sums;
}

absl::Status PgHostingServer::CloneFromTemplate(const std::string& source, const std::string& target,
                                                const std::string& strategy) {
  if (strategy != "wal_log" && strategy != "file_copy") {
    return absl::InvalidArgumentError(absl::StrCat("unknown clone strategy \"", strategy, "\""));
  }
  absl::StatusOr<HostedDatabase> from = GetDatabase(source);
  if (!from.ok()) return from.status();
  return admin_->NoTransaction([&](pqxx::nontransaction& tx) {
    try {
      tx.exec(absl::StrCat("CREATE DATABASE ", tx.quote_name(target), " OWNER ", tx.quote_name(from->owner),
                           " TEMPLATE ", tx.quote_name(source), " STRATEGY ", strategy));
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return DatabaseDdlStatus(e, source, target);
    }
  });
}

absl::Status PgHostingServer::Checkpoint() {
  return admin_->NoTransaction([](pqxx::nontransaction& tx) {
    tx.exec("CHECKPOINT");
    return absl::OkStatus();
  });
}

absl::StatusOr<TableRowCounts> PgHostingServer::CloneByDump(const std::string& source, const std::string& target) {
  absl::StatusOr<HostedDatabase> from = GetDatabase(source);
  if (!from.ok()) return from.status();
  absl::Status created = admin_->NoTransaction([&](pqxx::nontransaction& tx) {
    try {
      tx.exec(absl::StrCat("CREATE DATABASE ", tx.quote_name(target), " OWNER ", tx.quote_name(from->owner),
                           " TEMPLATE template0"));
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return DatabaseDdlStatus(e, source, target);
    }
  });
  if (!created.ok()) return created;
  auto bin = [&](const char* name) {
    return options_.pg_bin_dir.empty() ? std::string(name) : absl::StrCat(options_.pg_bin_dir, "/", name);
  };
  // The restore runs the customer's code (a CHECK constraint, an index expression, a generated
  // column calls its functions): as the owner's login, with every object made by the owner. The
  // dump itself only reads (pg_dump pins its own search_path); the platform's schema stays out of
  // the copy, which the migrator makes anew.
  absl::StatusOr<TenantLogin> login = logins_->For(from->owner);
  if (!login.ok()) {
    DropDatabase(target).IgnoreError();
    return login.status();
  }
  // Connection settings (a password among them) go through the environment, never the command line.
  absl::StatusOr<std::map<std::string, std::string>> env = pg::EnvironmentFor(options_.conninfo);
  if (!env.ok()) return env.status();
  absl::StatusOr<std::map<std::string, std::string>> restore_env =
      pg::EnvironmentFor(login->ConnInfo(options_.conninfo, target));
  if (!restore_env.ok()) return restore_env.status();
  restore_env->erase("PGDATABASE");
  std::vector<std::string> restore = {bin("pg_restore"), "--exit-on-error", "--single-transaction"};
  if (!login->login.empty()) {
    restore.insert(restore.end(), {"--no-owner", absl::StrCat("--role=", from->owner)});
  }
  restore.insert(restore.end(), {"--dbname", target});
  TableRowCounts counts;
  absl::Status copied = pg::WithPlatformSession(options_.conninfo, source, [&](pqxx::connection& conn) {
    // The dump copies the snapshot this transaction exports (it must stay open until pg_dump has
    // taken it), and the source is counted in that snapshot meanwhile: the copy is compared with
    // the source as it was copied, not as its sessions have changed it since.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    const std::string snapshot = tx.exec1("SELECT pg_export_snapshot()")[0].as<std::string>();
    std::future<absl::Status> dumped = std::async(std::launch::async, [&] {
      return RunPipeline({{{bin("pg_dump"), "--format=custom", "--snapshot", snapshot,
                            absl::StrCat("--exclude-schema=", pg::kPlatformSchema), "--dbname", source},
                           *env},
                          {restore, *restore_env}},
                         options_.dump_timeout);
    });
    absl::Status counted = absl::OkStatus();
    try {
      counts = CountAllRows(tx);
    } catch (const std::exception& e) {
      counted = pg::StatusFromException(e);
    }
    absl::Status status = dumped.get();
    return status.ok() ? counted : status;
  });
  if (!copied.ok()) {
    // Leave no half-copied database behind: a retry starts over.
    DropDatabase(target).IgnoreError();
    return copied;
  }
  return counts;
}

absl::Status PgHostingServer::DropDatabase(const std::string& name) {
  if (absl::Status dropped = Drop(name); !dropped.ok()) return dropped;
  return ForgetOffline(name);
}

absl::Status PgHostingServer::Drop(const std::string& name) {
  return admin_->NoTransaction([&](pqxx::nontransaction& tx) {
    try {
      tx.exec(absl::StrCat("DROP DATABASE IF EXISTS ", tx.quote_name(name), " WITH (FORCE)"));
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return DatabaseDdlStatus(e, name, name);
    }
  });
}

absl::Status PgHostingServer::ForgetOffline(const std::string& name) {
  return admin_->Transact([&](pqxx::work& tx) {
    if (absl::Status ours = pg::CheckPlatformSchema(tx); !ours.ok()) return ours;
    if (pg::PlatformTableExists(tx, "offline_databases")) {
      tx.exec_params("DELETE FROM upshift.offline_databases WHERE datname = $1", name);
    }
    return absl::OkStatus();
  });
}

absl::Status PgHostingServer::SetConnectionLimit(const std::string& name, int32_t limit) {
  absl::StatusOr<HostedDatabase> db = GetDatabase(name);
  if (!db.ok()) return db.status();
  if (db->owner_is_superuser) {
    // No ACL keeps a superuser out, and no tenant login acts for one: the connection limit, which
    // the platform's own sessions pass, is what takes such a database offline.
    return admin_->NoTransaction([&](pqxx::nontransaction& tx) {
      try {
        tx.exec(absl::StrCat("ALTER DATABASE ", tx.quote_name(name), " CONNECTION LIMIT ", limit));
        return absl::OkStatus();
      } catch (const std::exception& e) {
        return DatabaseDdlStatus(e, name, name);
      }
    });
  }
  absl::StatusOr<TenantLogin> login = logins_->For(db->owner);
  if (!login.ok()) return login.status();
  return admin_->Transact([&](pqxx::work& tx) {
    const std::string database = tx.quote_name(name);
    if (absl::Status ours = pg::EnsurePlatformSchema(tx); !ours.ok()) return ours;
    tx.exec(kOfflineTable);
    if (limit == 0) {
      // Offline: CONNECT revoked from every role the ACL names (PUBLIC and the owner among them),
      // granted to the owner's tenant login only. What the ACL was is kept the first time, so a
      // second call (a redelivery) does not overwrite it with the offline one.
      tx.exec_params(
          "INSERT INTO upshift.offline_databases (datname, acl) SELECT datname, datacl FROM pg_catalog.pg_database "
          "WHERE datname = $1 ON CONFLICT (datname) DO NOTHING",
          name);
      for (const auto& row : tx.exec_params(
               "SELECT DISTINCT a.grantee = 0, CASE WHEN a.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee) END "
               "FROM pg_catalog.pg_database d, pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a "
               "WHERE d.datname = $1",
               name)) {
        const std::string grantee = row[0].as<bool>() ? "PUBLIC" : tx.quote_name(row[1].as<std::string>());
        tx.exec(absl::StrCat("REVOKE CONNECT ON DATABASE ", database, " FROM ", grantee, " CASCADE"));
      }
      tx.exec(absl::StrCat("GRANT CONNECT ON DATABASE ", database, " TO ", tx.quote_name(login->login)));
      return absl::OkStatus();
    }
    // Online: the ACL it had before, privilege by privilege, then the limit asked for.
    pqxx::result saved =
        tx.exec_params("SELECT acl IS NULL FROM upshift.offline_databases WHERE datname = $1", name);
    if (!saved.empty()) {
      tx.exec(absl::StrCat("REVOKE ALL ON DATABASE ", database, " FROM ", tx.quote_name(login->login)));
      for (const auto& row : tx.exec_params(
               "SELECT a.grantee = 0, CASE WHEN a.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee) END, "
               "a.privilege_type, a.is_grantable "
               "FROM pg_catalog.pg_database d, upshift.offline_databases o, "
               "pg_catalog.aclexplode(coalesce(o.acl, pg_catalog.acldefault('d', d.datdba))) a "
               "WHERE d.datname = $1 AND o.datname = d.datname",
               name)) {
        const std::string grantee = row[0].as<bool>() ? "PUBLIC" : tx.quote_name(row[1].as<std::string>());
        const std::string privilege = row[2].as<std::string>();
        if (privilege != "CONNECT" && privilege != "CREATE" && privilege != "TEMPORARY") continue;
        tx.exec(absl::StrCat("GRANT ", privilege, " ON DATABASE ", database, " TO ", grantee,
                             row[3].as<bool>() ? " WITH GRANT OPTION" : ""));
      }
      tx.exec_params("DELETE FROM upshift.offline_databases WHERE datname = $1", name);
    }
    tx.exec(absl::StrCat("ALTER DATABASE ", database, " CONNECTION LIMIT ", limit));
    return absl::OkStatus();
  });
}

absl::Status PgHostingServer::TerminateSessions(const std::string& name) {
  return admin_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        // Each waits (up to 5 s) for its session to end, so that what follows finds none.
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        name);
    return absl::OkStatus();
  });
}

absl::Status PgHostingServer::PutLease(const std::string& database, const std::string& upgrade_id) {
  absl::StatusOr<HostedDatabase> db = GetDatabase(database);
  if (!db.ok()) return db.status();
  std::string reader;  // the owner's login checks the fence before each step
  if (!db->owner_is_superuser) {
    absl::StatusOr<TenantLogin> login = logins_->For(db->owner);
    if (!login.ok()) return login.status();
    reader = login->login;
  }
  return pg::WithPlatformSession(options_.conninfo, database, [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    if (absl::Status ours = pg::EnsurePlatformSchema(tx); !ours.ok()) return ours;
    tx.exec(
        "CREATE TABLE IF NOT EXISTS upshift.production_lease ("
        "  upgrade_id text PRIMARY KEY, heartbeat_at timestamptz NOT NULL)");
    if (!reader.empty()) {
      tx.exec(absl::StrCat("GRANT USAGE ON SCHEMA upshift TO ", tx.quote_name(reader)));
      tx.exec(absl::StrCat("GRANT SELECT ON upshift.production_lease TO ", tx.quote_name(reader)));
    }
    tx.exec_params(
        "INSERT INTO upshift.production_lease (upgrade_id, heartbeat_at) VALUES ($1, now()) "
        "ON CONFLICT (upgrade_id) DO UPDATE SET heartbeat_at = now()",
        upgrade_id);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<absl::Duration>> PgHostingServer::LeaseAge(const std::string& database,
                                                                          const std::string& upgrade_id) {
  std::optional<absl::Duration> age;
  absl::Status status = pg::WithPlatformSession(options_.conninfo, database, [&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    if (absl::Status ours = pg::CheckPlatformSchema(tx); !ours.ok()) return ours;
    if (pg::PlatformTableExists(tx, "production_lease")) {
      pqxx::result rows = tx.exec_params(
          "SELECT (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000000)::bigint "
          "FROM upshift.production_lease WHERE upgrade_id = $1",
          upgrade_id);
      if (!rows.empty()) age = absl::Microseconds(rows[0][0].as<int64_t>());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return age;
}

absl::Status PgHostingServer::DeleteLease(const std::string& database, const std::string& upgrade_id) {
  return pg::WithPlatformSession(options_.conninfo, database, [&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    if (absl::Status ours = pg::CheckPlatformSchema(tx); !ours.ok()) return ours;
    if (pg::PlatformTableExists(tx, "production_lease")) {
      tx.exec_params("DELETE FROM upshift.production_lease WHERE upgrade_id = $1", upgrade_id);
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgHostingServer::ReplaceDatabase(const std::string& name, const std::string& replacement) {
  absl::StatusOr<HostedDatabase> found = GetDatabase(replacement);
  if (!found.ok()) return found.status();
  // What `name`'s ACL was before it went offline stays kept: bringing `name` online again restores
  // it; what the replacement's was is forgotten with its name.
  if (absl::Status dropped = Drop(name); !dropped.ok()) return dropped;
  absl::Status renamed = admin_->NoTransaction([&](pqxx::nontransaction& tx) {
    try {
      tx.exec(absl::StrCat("ALTER DATABASE ", tx.quote_name(replacement), " RENAME TO ", tx.quote_name(name)));
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return DatabaseDdlStatus(e, replacement, name);
    }
  });
  if (!renamed.ok()) return renamed;
  return ForgetOffline(replacement);
}

absl::Status PgHostingServer::SwapDatabases(const std::string& name, const std::string& copy) {
  return admin_->Transact([&](pqxx::work& tx) {
    std::map<std::string, int64_t> oids;
    for (const auto& row : tx.exec_params("SELECT datname, oid::pg_catalog.int8 FROM pg_catalog.pg_database "
                                          "WHERE datname IN ($1, $2)",
                                          name, copy)) {
      oids[row[0].as<std::string>()] = row[1].as<int64_t>();
    }
    for (const std::string& db : {name, copy}) {
      if (oids.count(db) == 0) return DatabaseNotFound(db);
    }
    // What PostgreSQL keeps by the database's oid, not in its files, follows the name: the copy
    // serves under it. Catalog rows copied as they are (no SQL rebuilt from a tenant's values, no
    // privilege regained that the tenant revoked); `name` keeps its own, now the restore point.
    tx.exec_params("UPDATE pg_catalog.pg_database c SET datacl = d.datacl, datconnlimit = d.datconnlimit "
                   "FROM pg_catalog.pg_database d WHERE c.oid = $2::pg_catalog.oid AND d.oid = $1::pg_catalog.oid",
                   oids[name], oids[copy]);
    tx.exec_params("DELETE FROM pg_catalog.pg_db_role_setting WHERE setdatabase = $1::pg_catalog.oid", oids[copy]);
    tx.exec_params("INSERT INTO pg_catalog.pg_db_role_setting (setdatabase, setrole, setconfig) "
                   "SELECT $2::pg_catalog.oid, setrole, setconfig FROM pg_catalog.pg_db_role_setting "
                   "WHERE setdatabase = $1::pg_catalog.oid",
                   oids[name], oids[copy]);
    tx.exec_params("DELETE FROM pg_catalog.pg_shdescription WHERE objoid = $1::pg_catalog.oid "
                   "AND classoid = 'pg_catalog.pg_database'::pg_catalog.regclass",
                   oids[copy]);
    tx.exec_params("INSERT INTO pg_catalog.pg_shdescription (objoid, classoid, description) "
                   "SELECT $2::pg_catalog.oid, classoid, description FROM pg_catalog.pg_shdescription "
                   "WHERE objoid = $1::pg_catalog.oid AND classoid = 'pg_catalog.pg_database'::pg_catalog.regclass",
                   oids[name], oids[copy]);
    // A name no database may hold (a database's name is at most 63 bytes; this one is the copy's oid).
    const std::string aside = tx.quote_name(absl::StrCat("upshift_swap_", oids[copy]));
    try {
      tx.exec(absl::StrCat("ALTER DATABASE ", tx.quote_name(name), " RENAME TO ", aside));
      tx.exec(absl::StrCat("ALTER DATABASE ", tx.quote_name(copy), " RENAME TO ", tx.quote_name(name)));
      tx.exec(absl::StrCat("ALTER DATABASE ", aside, " RENAME TO ", tx.quote_name(copy)));
    } catch (const std::exception& e) {
      return DatabaseDdlStatus(e, name, copy);
    }
    return absl::OkStatus();
  });
}

}  // namespace upshift
