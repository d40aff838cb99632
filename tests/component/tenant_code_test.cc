// A tenant's own code, planted in its own database, never runs with the hosting server's superuser
// rights when the platform touches that database (issue 20). Each trap is plain PL/pgSQL a tenant
// can write; when it runs it tries to escape: RESET ROLE, then a file written through COPY ... TO
// PROGRAM (proof of the superuser's rights), then ALTER ROLE ... SUPERUSER. The control test shows
// that each trap does escape when a superuser's session runs it, so a trap that stays silent below
// was not run with those rights.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/common/ids.h"
#include "libs/hosting/pg_hosting_server.h"
#include "libs/hosting/tenant_logins.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "services/migrator/pg_migration_target.h"
#include "tests/component/environment.h"
#include "tests/support/wait.h"

namespace upshift::testing {
namespace {

using migrator::PgMigrationTarget;
using migrator::StepRun;

class TenantCodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string id = NewUpgradeId().substr(0, 8);
    db_ = absl::StrCat("trap_", id);
    tenant_ = absl::StrCat("trap_tenant_", id);
    dir_ = MakeTempDir("upshift-traps");
    // The server runs as another OS user: it must be able to write the proof.
    chmod(dir_.c_str(), 0777);
    // A login of its own, as the tenant's applications have: its setup runs none of its code as a
    // superuser (SET ROLE in a superuser's session would not stop the traps).
    ASSERT_TRUE(Postgres().Exec("postgres", absl::StrCat("CREATE ROLE ", tenant_, " LOGIN")).ok());
    ASSERT_TRUE(Postgres().Exec("postgres", absl::StrCat("CREATE DATABASE ", db_, " OWNER ", tenant_)).ok());
    // The tenant's own objects, made as the tenant (as its applications would).
    const std::string sql = absl::StrCat(
        // What every trap calls. It returns 1 whatever happened, so that the statement that ran it
        // goes on as if nothing had.
        "CREATE FUNCTION public.escape(what text) RETURNS integer LANGUAGE plpgsql AS $f$ BEGIN "
        "  BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END; "
        "  BEGIN EXECUTE pg_catalog.format('COPY (SELECT 1) TO PROGRAM %L', 'touch ", dir_, "/' || what); "
        "  EXCEPTION WHEN OTHERS THEN NULL; END; "
        "  BEGIN EXECUTE 'ALTER ROLE ", tenant_, " SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END; "
        "  RETURN 1; END $f$;",
        // 1. CVE-2018-1058: an exact-type match beats the built-in pg_total_relation_size(regclass).
        "CREATE FUNCTION public.pg_total_relation_size(oid) RETURNS bigint LANGUAGE plpgsql AS "
        "$f$ BEGIN PERFORM public.escape('size'); RETURN 0; END $f$;",
        // 2. ... and hashtextextended(text, integer) beats the built-in (text, bigint).
        "CREATE FUNCTION public.hashtextextended(text, integer) RETURNS bigint LANGUAGE plpgsql AS "
        "$f$ BEGIN PERFORM public.escape('hash'); RETURN 0; END $f$;",
        // 3. A shadowing operator: bigint || text, a better match than anynonarray || text.
        "CREATE FUNCTION public.cat(bigint, text) RETURNS text LANGUAGE plpgsql AS "
        "$f$ BEGIN PERFORM public.escape('operator'); RETURN $1::text || $2; END $f$;",
        "CREATE OPERATOR public.|| (LEFTARG = bigint, RIGHTARG = text, FUNCTION = public.cat);",
        // 4. A row trigger on the table a step changes.
        "CREATE TABLE public.things (n integer);",
        "INSERT INTO public.things SELECT pg_catalog.generate_series(1, 3);",
        "CREATE FUNCTION public.on_change() RETURNS trigger LANGUAGE plpgsql AS "
        "$f$ BEGIN PERFORM public.escape('trigger'); RETURN NEW; END $f$;",
        "CREATE TRIGGER watched BEFORE UPDATE ON public.things FOR EACH ROW EXECUTE FUNCTION public.on_change();",
        // 5. A CHECK constraint calling the tenant's function: it runs when a dump is restored.
        "CREATE TABLE public.checked (n integer CHECK (public.escape('check') = 1));",
        "INSERT INTO public.checked VALUES (1);",
        // 6. The version the catalog reads through a function of the tenant's.
        "CREATE FUNCTION public.app_version() RETURNS text LANGUAGE plpgsql AS "
        "$f$ BEGIN PERFORM public.escape('version'); RETURN '16.0'; END $f$;");
    ASSERT_TRUE(AsTenant(sql).ok());
  }

  absl::Status AsTenant(const std::string& sql) {
    return pg::WithConnection(absl::StrCat(Postgres().conninfo(), " user=", tenant_), db_, [&](pqxx::connection& conn) {
      pqxx::nontransaction(conn).exec(sql);
      return absl::OkStatus();
    });
  }

  void TearDown() override {
    Postgres().Exec("postgres", absl::StrCat("DROP DATABASE IF EXISTS ", db_, " WITH (FORCE)")).IgnoreError();
    Postgres().Exec("postgres", absl::StrCat("DROP DATABASE IF EXISTS ", db_, "_copy WITH (FORCE)")).IgnoreError();
    std::filesystem::remove_all(dir_);
  }

  // The traps that escaped: the files they wrote.
  std::vector<std::string> Escaped() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  bool TenantIsSuperuser() {
    return *Postgres().QueryValue("postgres",
                                  absl::StrCat("SELECT rolsuper FROM pg_roles WHERE rolname = '", tenant_, "'")) == "t";
  }

  std::string db_, tenant_, dir_;
};

TEST_F(TenantCodeTest, EachTrapEscapesWhenASuperusersSessionRunsIt) {
  // The queries the platform used to run, run here as the superuser with the default search_path.
  ASSERT_TRUE(Postgres().Exec(db_, "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE relname = 'things'").ok());
  ASSERT_TRUE(Postgres().Exec(db_, "SELECT sum(hashtextextended(t::text, 0)) FROM things t").ok());
  ASSERT_TRUE(Postgres().Exec(db_, "SELECT count(*) || ':' FROM things").ok());
  ASSERT_TRUE(Postgres().Exec(db_, "UPDATE things SET n = n + 1").ok());
  ASSERT_TRUE(Postgres().Exec(db_, "SELECT public.app_version()").ok());
  ASSERT_TRUE(Postgres().Exec(db_, "INSERT INTO checked VALUES (2)").ok());
  EXPECT_EQ(Escaped(), (std::vector<std::string>{"check", "hash", "operator", "size", "trigger", "version"}));
  EXPECT_TRUE(TenantIsSuperuser());
  ASSERT_TRUE(Postgres().Exec("postgres", absl::StrCat("ALTER ROLE ", tenant_, " NOSUPERUSER")).ok());
}

TEST_F(TenantCodeTest, TheHostingServersReadsRunNoTrapAsTheSuperuser) {
  PgHostingServer hosting({Postgres().conninfo(), {}, "", absl::Minutes(1)});
  ASSERT_TRUE(hosting.DataSizeBytes(db_).ok());
  absl::StatusOr<TableChecksums> sums = hosting.ChecksumTables(db_);
  ASSERT_TRUE(sums.ok()) << sums.status();
  EXPECT_EQ(sums->at("public.things").substr(0, 2), "3:");
  ASSERT_TRUE(hosting.CountRows(db_).ok());
  // The version query calls the tenant's function: it runs, as the tenant's login.
  EXPECT_EQ(*hosting.ReadVersion(db_, "SELECT public.app_version()"), "16.0");
  EXPECT_EQ(*hosting.ReadVersion(db_, "SELECT session_user::text"), TenantLogins::LoginName(tenant_));
  EXPECT_EQ(Escaped(), std::vector<std::string>{});
  EXPECT_FALSE(TenantIsSuperuser());
}

TEST_F(TenantCodeTest, ACopyByDumpRestoresAsTheTenantsLogin) {
  PgHostingServer hosting({Postgres().conninfo(), {}, "", absl::Minutes(1)});
  const std::string copy = db_ + "_copy";
  // The CHECK constraint runs the trap during the restore, as the tenant's login: its RESET ROLE
  // leaves the restore's session with the login's own rights (none), so the copy fails and is gone.
  absl::StatusOr<TableRowCounts> trapped = hosting.CloneByDump(db_, copy);
  EXPECT_EQ(trapped.status().code(), absl::StatusCode::kInternal) << trapped.status();
  EXPECT_NE(trapped.status().message().find("permission denied"), std::string::npos) << trapped.status();
  EXPECT_EQ(*Postgres().QueryValue("postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '",
                                                            copy, "'")),
            "0");
  EXPECT_EQ(Escaped(), std::vector<std::string>{});
  EXPECT_FALSE(TenantIsSuperuser());
  // Without the trap the same copy goes through, every object of it the tenant's.
  ASSERT_TRUE(AsTenant("CREATE OR REPLACE FUNCTION public.escape(what text) RETURNS integer LANGUAGE sql "
                       "AS 'SELECT 1'")
                  .ok());
  absl::StatusOr<TableRowCounts> counts = hosting.CloneByDump(db_, copy);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->at("public.checked"), 1);
  EXPECT_EQ(*Postgres().QueryValue(copy, "SELECT count(*) FROM public.checked"), "1");
  EXPECT_EQ(*Postgres().QueryValue(copy, "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class "
                                         "WHERE relnamespace = 'public'::regnamespace"),
            tenant_);
}

TEST_F(TenantCodeTest, StepsChecksAndTheMigratorsReadsRunNoTrapAsTheSuperuser) {
  PgMigrationTarget target(Postgres().conninfo());
  ASSERT_TRUE(*target.ApplyStep({db_, "16.0->17.0", "bump", "c1", "UPDATE public.things SET n = n + 1", ""}));
  EXPECT_TRUE(*target.RunCheck(db_, absl::StrCat("SELECT session_user = '", TenantLogins::LoginName(tenant_),
                                                 "' AND current_user = '", tenant_, "'")));
  EXPECT_TRUE(*target.RunCheck(db_, "SELECT public.escape('check_sql') = 1"));
  EXPECT_EQ(*target.ReadVersion(db_, "SELECT public.app_version()"), "16.0");
  ASSERT_TRUE(target.SetVersion(db_, "SELECT public.escape('set_version') = 1 AND $1 <> ''", "17.0", "").ok());
  ASSERT_TRUE(target.ChecksumTables(db_, {"public.things"}, nullptr).ok());
  ASSERT_TRUE(target.CountRows(db_).ok());
  ASSERT_TRUE(target.History(db_).ok());
  target.EndSession(db_);
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM public.things"), "9");
  EXPECT_EQ(Escaped(), std::vector<std::string>{});
  EXPECT_FALSE(TenantIsSuperuser());
}

TEST_F(TenantCodeTest, ACommandStepGetsTheTenantsLoginNotTheSuperusers) {
  PgMigrationTarget target(Postgres().conninfo());
  const std::string env = dir_ + "/../" + db_ + ".env";
  StepRun step{db_, "16.0->17.0", "command", "c1", ""};
  step.command = "/bin/sh";
  step.args = {"-c", absl::StrCat("env > ", env, "; ", PgBinDir(),
                                  "/psql -X -v ON_ERROR_STOP=0 -c 'RESET ROLE' -c \"COPY (SELECT 1) TO PROGRAM "
                                  "'touch ", dir_, "/command'\" -c 'ALTER ROLE ", tenant_, " SUPERUSER' >/dev/null 2>&1; true")};
  ASSERT_TRUE(*target.ApplyStep(step));
  std::ifstream in(env);
  std::stringstream seen;
  seen << in.rdbuf();
  std::filesystem::remove(env);
  EXPECT_NE(seen.str().find(absl::StrCat("PGUSER=", TenantLogins::LoginName(tenant_), "\n")), std::string::npos)
      << seen.str();
  EXPECT_NE(seen.str().find("PGPASSWORD="), std::string::npos);
  EXPECT_EQ(seen.str().find("PGUSER=postgres"), std::string::npos);
  EXPECT_EQ(Escaped(), std::vector<std::string>{});
  EXPECT_FALSE(TenantIsSuperuser());
}

TEST_F(TenantCodeTest, APlatformSchemaTheTenantMadeIsRefusedAndNeverWritten) {
  // The tenant makes Upshift's schema first, with a trigger and a column default that escape.
  ASSERT_TRUE(AsTenant(absl::StrCat("CREATE SCHEMA upshift; "
                                          "CREATE TABLE upshift.migration_history (hop text, step text, checksum text, "
                                          "applied_at timestamptz DEFAULT now(), duration_ms bigint, "
                                          "rows_affected bigint, trapped integer DEFAULT public.escape('default'), "
                                          "PRIMARY KEY (hop, step));"
                                          "CREATE TRIGGER watched BEFORE INSERT ON upshift.migration_history "
                                          "FOR EACH ROW EXECUTE FUNCTION public.on_change();"
                                          "CREATE TABLE upshift.production_lease (upgrade_id text PRIMARY KEY, "
                                          "heartbeat_at timestamptz DEFAULT now(), "
                                          "trapped integer DEFAULT public.escape('lease'))"))
                  .ok());
  PgMigrationTarget target(Postgres().conninfo());
  absl::StatusOr<bool> step = target.ApplyStep({db_, "16.0->17.0", "bump", "c1", "SELECT 1", ""});
  EXPECT_EQ(step.status().code(), absl::StatusCode::kFailedPrecondition) << step.status();
  EXPECT_NE(step.status().message().find("not made by Upshift"), std::string::npos) << step.status();
  EXPECT_EQ(target.History(db_).status().code(), absl::StatusCode::kFailedPrecondition);
  PgHostingServer hosting({Postgres().conninfo(), {}, "", absl::Minutes(1)});
  EXPECT_EQ(hosting.PutLease(db_, "u1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(hosting.LeaseAge(db_, "u1").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM upshift.migration_history"), "0");
  EXPECT_EQ(Escaped(), std::vector<std::string>{});
  EXPECT_FALSE(TenantIsSuperuser());
}

TEST_F(TenantCodeTest, TheTenantsLoginIsRepairedWhateverItsCodeDidToIt) {
  PgMigrationTarget target(Postgres().conninfo());
  const std::string login = TenantLogins::LoginName(tenant_);
  // The tenant's code, run as the login, changes the login's password, as a role may.
  ASSERT_TRUE(*target.ApplyStep({db_, "16.0->17.0", "repassword", "c1",
                                 absl::StrCat("RESET ROLE; ALTER ROLE ", login, " PASSWORD 'mine'"), ""}));
  target.EndSession(db_);
  // The platform still gets in: it repairs the login once its password is refused.
  EXPECT_EQ(*target.ReadVersion(db_, "SELECT session_user::text"), login);
  EXPECT_EQ(*Postgres().QueryValue("postgres", absl::StrCat("SELECT rolsuper::text || rolinherit::text || "
                                                            "rolcreaterole::text FROM pg_roles WHERE rolname = '",
                                                            login, "'")),
            "falsefalsefalse");
  EXPECT_EQ(*Postgres().QueryValue("postgres", absl::StrCat("SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) "
                                                            "FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                                                            "WHERE m.member = '",
                                                            login, "'::regrole")),
            absl::StrCat(tenant_, ",", kTenantLoginGroup));
}

TEST_F(TenantCodeTest, AnOwnerThatMayCreateRolesIsRefused) {
  ASSERT_TRUE(Postgres().Exec("postgres", absl::StrCat("ALTER ROLE ", tenant_, " CREATEROLE")).ok());
  PgMigrationTarget target(Postgres().conninfo());
  absl::StatusOr<bool> step = target.ApplyStep({db_, "16.0->17.0", "bump", "c1", "SELECT 1", ""});
  EXPECT_EQ(step.status().code(), absl::StatusCode::kFailedPrecondition) << step.status();
  EXPECT_NE(step.status().message().find("may create roles"), std::string::npos) << step.status();
  ASSERT_TRUE(Postgres().Exec("postgres", absl::StrCat("ALTER ROLE ", tenant_, " NOCREATEROLE")).ok());
}

}  // namespace
}  // namespace upshift::testing

namespace upshift::testing {
namespace {

// Offline for applications, open to the owner's tenant login: a Production upgrade's window.
class OfflineTest : public TenantCodeTest {
 protected:
  absl::Status Connects(const std::string& user, const std::string& db, const std::string& password = "") {
    std::string conninfo = absl::StrCat(Postgres().conninfo(), " user=", user);
    if (!password.empty()) absl::StrAppend(&conninfo, " password=", password);
    return pg::WithConnection(conninfo, db, [](pqxx::connection&) { return absl::OkStatus(); });
  }
  // Who may connect, as the server decides it: role -> has CONNECT.
  std::string Access(const std::string& db) {
    return *Postgres().QueryValue(
        "postgres", absl::StrCat("SELECT string_agg(r || '=' || has_database_privilege(r, '", db,
                                 "', 'CONNECT')::text, ',' ORDER BY r) FROM unnest(ARRAY['", tenant_,
                                 "', 'trap_app', 'trap_reader']) r"));
  }
};

TEST_F(OfflineTest, OfflineKeepsApplicationsOutAndTheTenantsLoginInThenRestoresTheAcl) {
  ASSERT_TRUE(Postgres().Exec("postgres", "DO $$ BEGIN CREATE ROLE trap_app LOGIN; CREATE ROLE trap_reader LOGIN; "
                                          "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
                  .ok());
  // The customer's own ACL: PUBLIC out, one reporting role in with the right to pass it on.
  ASSERT_TRUE(AsTenant(absl::StrCat("REVOKE CONNECT ON DATABASE ", db_, " FROM PUBLIC; GRANT CONNECT ON DATABASE ",
                                    db_, " TO trap_reader WITH GRANT OPTION"))
                  .ok());
  const std::string before = Access(db_);
  EXPECT_EQ(before, absl::StrCat("trap_app=false,trap_reader=true,", tenant_, "=true"));
  const std::string acl_before = *Postgres().QueryValue(
      "postgres", absl::StrCat("SELECT datacl::text FROM pg_database WHERE datname = '", db_, "'"));

  PgHostingServer hosting({Postgres().conninfo(), {}, "", absl::Minutes(1)});
  ASSERT_TRUE(hosting.SetConnectionLimit(db_, 0).ok());
  ASSERT_TRUE(hosting.SetConnectionLimit(db_, 0).ok());  // again, as a redelivery would: nothing changes
  absl::StatusOr<HostedDatabase> offline = hosting.GetDatabase(db_);
  ASSERT_TRUE(offline.ok());
  EXPECT_FALSE(offline->online);
  EXPECT_EQ(offline->connection_limit, 0);
  EXPECT_EQ(Access(db_), absl::StrCat("trap_app=false,trap_reader=false,", tenant_, "=false"));
  EXPECT_FALSE(Connects(tenant_, db_).ok());
  EXPECT_FALSE(Connects("trap_reader", db_).ok());
  // The migrator still gets in, as the login, and runs the owner's SQL there.
  PgMigrationTarget target(Postgres().conninfo());
  EXPECT_FALSE(*target.AcceptsConnections(db_));
  EXPECT_EQ(*target.ReadVersion(db_, "SELECT session_user || '/' || current_user"),
            absl::StrCat(TenantLogins::LoginName(tenant_), "/", tenant_));
  target.EndSession(db_);

  ASSERT_TRUE(hosting.SetConnectionLimit(db_, 25).ok());
  absl::StatusOr<HostedDatabase> online = hosting.GetDatabase(db_);
  EXPECT_TRUE(online->online);
  EXPECT_EQ(online->connection_limit, 25);
  EXPECT_EQ(Access(db_), before);
  EXPECT_EQ(*Postgres().QueryValue("postgres",
                                   absl::StrCat("SELECT datacl::text FROM pg_database WHERE datname = '", db_, "'")),
            acl_before);
  EXPECT_TRUE(Connects("trap_reader", db_).ok());
  EXPECT_EQ(Escaped(), std::vector<std::string>{});
}

TEST_F(OfflineTest, ARollbackBringsBackTheOriginalsAclNotTheRestorePoints) {
  ASSERT_TRUE(Postgres().Exec("postgres", "DO $$ BEGIN CREATE ROLE trap_app LOGIN; CREATE ROLE trap_reader LOGIN; "
                                          "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
                  .ok());
  const std::string before = Access(db_);
  EXPECT_EQ(before, absl::StrCat("trap_app=true,trap_reader=true,", tenant_, "=true"));  // PUBLIC may connect
  PgHostingServer hosting({Postgres().conninfo(), {}, "", absl::Minutes(1)});
  const std::string rp = db_ + "_copy";
  ASSERT_TRUE(hosting.SetConnectionLimit(db_, 0).ok());
  ASSERT_TRUE(hosting.CloneFromTemplate(db_, rp, "wal_log").ok());
  ASSERT_TRUE(hosting.SetConnectionLimit(rp, 0).ok());
  EXPECT_EQ(Access(rp), absl::StrCat("trap_app=false,trap_reader=false,", tenant_, "=false"));
  ASSERT_TRUE(hosting.ReplaceDatabase(db_, rp).ok());
  EXPECT_FALSE(hosting.GetDatabase(db_)->online);
  ASSERT_TRUE(hosting.SetConnectionLimit(db_, -1).ok());
  EXPECT_TRUE(hosting.GetDatabase(db_)->online);
  EXPECT_EQ(Access(db_), before);
  EXPECT_EQ(*Postgres().QueryValue("postgres", "SELECT count(*) FROM upshift.offline_databases WHERE datname IN ('" +
                                                   db_ + "', '" + rp + "')"),
            "0");
}

}  // namespace
}  // namespace upshift::testing
