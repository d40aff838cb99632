// PgMigrationTarget against real PostgreSQL: the per-database history.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "libs/hosting/pg_hosting_server.h"
#include "services/migrator/pg_migration_target.h"
#include "tests/component/environment.h"
#include "tests/support/wait.h"

namespace upshift::migrator {
namespace {

using upshift::testing::Postgres;

class MigrationTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = absl::StrCat("mig_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db_).ok());
    ASSERT_TRUE(Postgres().Exec(db_, "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)").ok());
  }
  std::string db_;
  PgMigrationTarget target_{Postgres().conninfo()};
};

TEST_F(MigrationTargetTest, AStepRunsOnceAndIsRecordedWithWhatItDid) {
  StepRun step{db_, "1->2", "double", "c1", "UPDATE t SET n = n * 2", ""};
  EXPECT_TRUE(*target_.ApplyStep(step));
  EXPECT_FALSE(*target_.ApplyStep(step));
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM t"), "6");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT rows_affected FROM upshift.migration_history WHERE step = 'double'"),
            "2");
}

TEST_F(MigrationTargetTest, AChangedScriptIsRefused) {
  ASSERT_TRUE(target_.ApplyStep({db_, "1->2", "s", "c1", "SELECT 1", ""}).ok());
  EXPECT_EQ(target_.ApplyStep({db_, "1->2", "s", "c2", "SELECT 2", ""}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(MigrationTargetTest, AFailingStepLeavesNothingBehind) {
  absl::StatusOr<bool> ran =
      target_.ApplyStep({db_, "1->2", "bad", "c1", "UPDATE t SET n = 100; SELECT * FROM no_such_table", ""});
  EXPECT_EQ(ran.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(ran.status().message().find("no_such_table"), std::string::npos);
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM t"), "3");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM upshift.migration_history"), "0");
}

TEST_F(MigrationTargetTest, SetsAndReadsTheVersion) {
  ASSERT_TRUE(Postgres().Exec(db_, "CREATE TABLE meta (v text); INSERT INTO meta VALUES ('1')").ok());
  ASSERT_TRUE(target_.SetVersion(db_, "UPDATE meta SET v = $1", "2", "").ok());
  EXPECT_EQ(*target_.ReadVersion(db_, "SELECT v FROM meta"), "2");
}

TEST_F(MigrationTargetTest, AFencedStepRunsOnlyWhereTheUpgradesLeaseIs) {
  PgHostingServer hosting({Postgres().conninfo(), {}, "", absl::Minutes(1)});
  StepRun step{db_, "1->2", "double", "c1", "UPDATE t SET n = n * 2", "upgrade-1"};
  EXPECT_EQ(target_.ApplyStep(step).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(target_.ApplyStepsTogether({step}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(target_.SetVersion(db_, "SELECT $1", "2", "upgrade-1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM t"), "3");
  // Refused before anything is written: not even the platform's history (a restored database stays as restored).
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM pg_namespace WHERE nspname = 'upshift'"), "0");
  ASSERT_TRUE(hosting.PutLease(db_, "upgrade-1").ok());
  EXPECT_TRUE(*target_.ApplyStep(step));
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM t"), "6");
  // Another upgrade's lease does not open the door.
  EXPECT_EQ(target_.ApplyStep({db_, "1->2", "other", "c2", "SELECT 1", "upgrade-2"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(MigrationTargetTest, HeartbeatsRenewTheLease) {
  PgHostingServer hosting({Postgres().conninfo(), {}, "", absl::Minutes(1)});
  EXPECT_FALSE(hosting.LeaseAge(db_, "upgrade-1")->has_value());
  ASSERT_TRUE(hosting.PutLease(db_, "upgrade-1").ok());
  ASSERT_TRUE(Postgres().Exec(db_, "UPDATE upshift.production_lease SET heartbeat_at = now() - interval '1 hour'").ok());
  EXPECT_GE(**hosting.LeaseAge(db_, "upgrade-1"), absl::Minutes(59));
  ASSERT_TRUE(target_.Heartbeat(db_, "upgrade-1").ok());
  EXPECT_LT(**hosting.LeaseAge(db_, "upgrade-1"), absl::Minutes(1));
  ASSERT_TRUE(hosting.DeleteLease(db_, "upgrade-1").ok());
  EXPECT_FALSE(hosting.LeaseAge(db_, "upgrade-1")->has_value());
}

TEST_F(MigrationTargetTest, ChecksumsAreOfTheMomentTheyWerePinnedAt) {
  absl::StatusOr<std::map<std::string, std::string>> before = target_.ChecksumTables(db_, {"public.t"}, nullptr);
  ASSERT_TRUE(before.ok()) << before.status();
  // Changed by another session once the snapshot is fixed, before a single row was read.
  absl::StatusOr<std::map<std::string, std::string>> pinned = target_.ChecksumTables(db_, {"public.t"}, [&] {
    ASSERT_TRUE(Postgres().Exec(db_, "UPDATE t SET n = n + 100").ok());
  });
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(*pinned, *before);
  absl::StatusOr<std::map<std::string, std::string>> after = target_.ChecksumTables(db_, {"public.t"}, nullptr);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(*after, *before);
  bool called = false;
  EXPECT_EQ(target_.ChecksumTables(db_, {"public.missing"}, [&] { called = true; }).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(called);  // a caller waiting for the pin is released even when the call fails
}

std::string SessionsIn(const std::string& db) {
  return *Postgres().QueryValue("postgres", absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE datname = '",
                                                         db, "' AND backend_type = 'client backend'"));
}

TEST_F(MigrationTargetTest, OneSessionServesAPlanUntilItEnds) {
  ASSERT_TRUE(*target_.ApplyStep({db_, "1->2", "a", "c1", "UPDATE t SET n = n + 1", ""}));
  ASSERT_TRUE(target_.CountRows(db_).ok());
  ASSERT_TRUE(*target_.ApplyStep({db_, "1->2", "b", "c2", "UPDATE t SET n = n + 1", ""}));
  // One for the platform's own statements, one for the owner's SQL.
  EXPECT_EQ(SessionsIn(db_), "2");
  target_.EndSession(db_);
  EXPECT_TRUE(upshift::testing::WaitFor([&] { return SessionsIn(db_) == "0"; }));
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM t"), "7");
}

TEST_F(MigrationTargetTest, WhatAStepSetsForItsSessionDoesNotReachTheNext) {
  ASSERT_TRUE(Postgres().Exec(db_, "CREATE SCHEMA other; CREATE TABLE other.t (n int)").ok());
  ASSERT_TRUE(
      *target_.ApplyStep({db_, "1->2", "a", "c1", "SET search_path TO other; CREATE TEMP TABLE scratch (n int)", ""}));
  // Unqualified names resolve as in a new session: public.t, and no scratch table.
  ASSERT_TRUE(*target_.ApplyStep({db_, "1->2", "b", "c2", "INSERT INTO t VALUES (10)", ""}));
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM public.t"), "13");
  EXPECT_EQ(target_.ApplyStep({db_, "1->2", "c", "c3", "SELECT * FROM scratch", ""}).status().code(),
            absl::StatusCode::kInternal);
}

TEST_F(MigrationTargetTest, ASessionTheServerClosedIsReplacedOnTheNextAttempt) {
  ASSERT_TRUE(target_.CountRows(db_).ok());
  ASSERT_TRUE(Postgres()
                  .Exec("postgres", absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                                 "WHERE datname = '", db_, "' AND backend_type = 'client backend'"))
                  .ok());
  ASSERT_TRUE(upshift::testing::WaitFor([&] { return SessionsIn(db_) == "0"; }));
  // The first call finds the kept session dead: retryable, like any lost connection.
  absl::StatusOr<std::map<std::string, int64_t>> first = target_.CountRows(db_);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  absl::StatusOr<std::map<std::string, int64_t>> again = target_.CountRows(db_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->at("public.t"), 2);
}

// Least privilege: catalog SQL runs as the database's owner with a pinned search_path, never as the
// superuser, whatever the customer put in its database; a step the catalog marks superuser is the
// exception.
class OwnedDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = absl::StrCat("own_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres()
                    .Exec("postgres", "DO $$ BEGIN CREATE ROLE lp_tenant NOLOGIN; EXCEPTION WHEN duplicate_object "
                                      "THEN NULL; END $$")
                    .ok());
    ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db_ + " OWNER lp_tenant").ok());
    // The customer's own: a table, a trigger that notes who runs the statements touching it, a
    // schema named after its role (first in the default search_path, "$user") with a shadowing
    // table, and a database-level search_path of its own.
    ASSERT_TRUE(Postgres()
                    .Exec(db_,
                          "SET ROLE lp_tenant;"
                          "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2);"
                          "CREATE TABLE seen (who text);"
                          "CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN INSERT INTO public.seen VALUES (current_user); RETURN NEW; END $$;"
                          "CREATE TRIGGER noted BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION note();"
                          "CREATE SCHEMA lp_tenant; CREATE TABLE lp_tenant.t (n int); INSERT INTO lp_tenant.t VALUES (100);")
                    .ok());
    ASSERT_TRUE(Postgres().Exec("postgres", "ALTER DATABASE " + db_ + " SET search_path = lp_tenant, public").ok());
  }
  std::string db_;
  PgMigrationTarget target_{Postgres().conninfo()};
};

TEST_F(OwnedDatabaseTest, StepsChecksAndTheVersionQueryRunAsTheOwnerWithThePinnedSearchPath) {
  ASSERT_TRUE(*target_.ApplyStep({db_, "1->2", "double", "c1", "UPDATE t SET n = n * 2", ""}));
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM public.t"), "6");      // public.t, not the shadow
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(n) FROM lp_tenant.t"), "100");  // untouched
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT string_agg(DISTINCT who, ',') FROM public.seen"), "lp_tenant");
  EXPECT_EQ(*target_.RunCheck(db_, "SELECT current_user = 'lp_tenant' AND current_setting('search_path') = "
                                   "'public, pg_catalog'"),
            true);
  EXPECT_EQ(*target_.ReadVersion(db_, "SELECT current_user::text"), "lp_tenant");
  PgHostingServer hosting({Postgres().conninfo(), {}, "", absl::Minutes(1)});
  EXPECT_EQ(*hosting.ReadVersion(db_, "SELECT current_user::text"), "lp_tenant");
  // The history is the platform's: written as the session's role after the step.
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM upshift.migration_history WHERE step = 'double'"), "1");
}

TEST_F(OwnedDatabaseTest, WhatNeedsTheSuperuserFailsAsTheOwnerUnlessTheCatalogSaysSuperuser) {
  const std::string privileged = "ALTER ROLE lp_tenant CONNECTION LIMIT 50";  // needs CREATEROLE
  absl::StatusOr<bool> as_owner = target_.ApplyStep({db_, "1->2", "privileged", "c1", privileged, ""});
  EXPECT_EQ(as_owner.status().code(), absl::StatusCode::kInternal) << as_owner.status();
  EXPECT_NE(as_owner.status().message().find("permission denied"), std::string::npos) << as_owner.status();
  StepRun declared{db_, "1->2", "privileged", "c1", privileged, ""};
  declared.superuser = true;
  EXPECT_TRUE(*target_.ApplyStep(declared));
  EXPECT_EQ(*Postgres().QueryValue("postgres", "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'lp_tenant'"), "50");
  ASSERT_TRUE(Postgres().Exec("postgres", "ALTER ROLE lp_tenant CONNECTION LIMIT -1").ok());
}

TEST_F(OwnedDatabaseTest, ACommandStepConnectsAsTheOwner) {
  const std::string out = absl::StrCat("/tmp/upshift-lp-", NewUpgradeId().substr(0, 8));
  StepRun step{db_, "1->2", "tool", "c1", "", ""};
  step.command = "/bin/sh";
  step.args = {"-c", absl::StrCat(upshift::testing::PgBinDir(),
                                  "/psql -XAt -c 'SELECT current_user, current_setting($$search_path$$)' > ", out)};
  step.timeout = absl::Seconds(30);
  absl::StatusOr<bool> ran = target_.ApplyStep(step);
  ASSERT_TRUE(ran.ok()) << ran.status();
  std::ifstream in(out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "lp_tenant|public,pg_catalog");
  std::remove(out.c_str());
}

}  // namespace
}  // namespace upshift::migrator
