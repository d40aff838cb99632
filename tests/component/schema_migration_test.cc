// The platform database's versioned schemas (libs/pg/schema_migrations.h) against real PostgreSQL:
// a database made by the release before versions (a frozen fixture) is migrated with its rows, and a
// replica older than its schema refuses it.

#include "libs/pg/schema_migrations.h"

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "services/cloner/pg_clone_store.h"
#include "services/notifier/pg_sent_log.h"
#include "services/request/pg_order_store.h"
#include "services/status/pg_status_store.h"
#include "tests/component/environment.h"
#include "tests/support/servers.h"

namespace upshift::testing {
namespace {

class SchemaMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = absl::StrCat("platform_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db_).ok());
  }
  std::string ConnInfo() const { return Postgres().conninfo(db_); }
  std::string Value(const std::string& sql) {
    absl::StatusOr<std::string> v = Postgres().QueryValue(db_, sql);
    EXPECT_TRUE(v.ok()) << v.status() << ": " << sql;
    return v.ok() ? *v : "";
  }
  // Opens every store of the platform database, as the four services do at start.
  absl::Status OpenAll() {
    for (absl::Status s : {request::PgOrderStore::Open(ConnInfo(), 2).status(),
                           status::PgStatusStore::Open(ConnInfo(), 2).status(),
                           cloner::PgCloneStore::Open(ConnInfo()).status(),
                           notifier::PgSentLog::Open(ConnInfo()).status()}) {
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  std::string db_;
};

TEST_F(SchemaMigrationTest, ADatabaseOfTheReleaseBeforeVersionsIsMigratedWithItsRows) {
  std::ifstream fixture(SourceDir() + "/tests/component/fixtures/platform_before_versions.sql");
  std::stringstream sql;
  sql << fixture.rdbuf();
  ASSERT_FALSE(sql.str().empty());
  ASSERT_TRUE(Postgres().Exec(db_, sql.str()).ok());
  EXPECT_EQ(Value("SELECT to_regclass('request.schema_versions') IS NULL"), "t");

  ASSERT_TRUE(OpenAll().ok());

  EXPECT_EQ(Value("SELECT string_agg(version::text, ',' ORDER BY version) FROM request.schema_versions"), "1,2,3,4,5,6,7,8,9,10");
  EXPECT_EQ(Value("SELECT string_agg(version::text, ',' ORDER BY version) FROM status.schema_versions"), "1,2,3,4");
  for (const char* schema : {"cloner", "notifier"}) {
    EXPECT_EQ(Value(absl::StrCat("SELECT string_agg(version::text, ',' ORDER BY version) FROM ", schema,
                                 ".schema_versions")),
              "1,2")
        << schema;
  }
  // Every row is still there, as it was.
  EXPECT_EQ(Value("SELECT string_agg(upgrade_id || ':' || outcome || ':' || tenant, ',' ORDER BY upgrade_id) "
                  "FROM request.orders"),
            "up-frozen-1:succeeded:acme_owner,up-frozen-2:active:globex_owner");
  // Version 7: orders admitted before schedules started when they were created (none waits).
  EXPECT_EQ(Value("SELECT count(*) FROM request.orders WHERE started_at IS DISTINCT FROM created_at"), "0");
  // Version 10: the verification a Test timed for its Production's estimate is gone with it.
  EXPECT_EQ(Value("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'request' "
                  "AND table_name = 'orders' AND column_name IN ('checksum_ms', 'verified_by_files')"),
            "0");
  EXPECT_EQ(Value("SELECT count(*) FROM request.audit"), "1");
  EXPECT_EQ(Value("SELECT holder || ':' || done FROM request.claims"), "cloner-0:true");
  EXPECT_EQ(Value("SELECT count(*) FROM status.upgrades WHERE state = 4"), "1");
  EXPECT_EQ(Value("SELECT string_agg(name, ',' ORDER BY name) FROM status.databases"), "acme,acme_test_16_0_1");
  EXPECT_EQ(Value("SELECT count(*) FROM status.tags"), "1");
  EXPECT_EQ(Value("SELECT recipient FROM notifier.sent"), "ops@acme.example");
  EXPECT_EQ(Value("SELECT test_database FROM cloner.clones"), "acme_test_16_0_1");
  EXPECT_EQ(Value("SELECT database FROM cloner.productions"), "globex");
  // Version 2's column reached the row already in the outbox.
  EXPECT_EQ(Value("SELECT key || ':' || (enqueued_at IS NOT NULL) FROM request.outbox"), "globex:true");
}

TEST_F(SchemaMigrationTest, OpeningAgainChangesNothing) {
  ASSERT_TRUE(OpenAll().ok());
  std::string applied = Value("SELECT string_agg(version || '@' || applied_at, ',') FROM request.schema_versions");
  ASSERT_TRUE(OpenAll().ok());
  EXPECT_EQ(Value("SELECT string_agg(version || '@' || applied_at, ',') FROM request.schema_versions"), applied);
}

TEST_F(SchemaMigrationTest, ReplicasStartingTogetherApplyEachMigrationOnce) {
  std::vector<std::future<absl::Status>> opened;
  for (int i = 0; i < 6; ++i) {
    opened.push_back(std::async(std::launch::async, [&] { return request::PgOrderStore::Open(ConnInfo(), 1).status(); }));
  }
  for (auto& f : opened) EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(Value("SELECT count(*) FROM request.schema_versions"), "10");
}

TEST_F(SchemaMigrationTest, AReplicaOlderThanItsSchemaRefusesIt) {
  ASSERT_TRUE(OpenAll().ok());
  ASSERT_TRUE(Postgres()
                  .Exec(db_, "INSERT INTO status.schema_versions (version, description) VALUES (9, 'from the future')")
                  .ok());
  absl::Status refused = status::PgStatusStore::Open(ConnInfo(), 2).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(std::string(refused.message()).find("status schema is at version 9, newer than this binary knows (4)"),
            std::string::npos)
      << refused;
  // The other schemas are not concerned.
  EXPECT_TRUE(request::PgOrderStore::Open(ConnInfo(), 2).ok());
}

TEST_F(SchemaMigrationTest, AFailedMigrationLeavesTheSchemaAsItWas) {
  pg::Pool pool(ConnInfo(), 1);
  std::vector<pg::SchemaMigration> migrations = {
      {1, "a table", "CREATE TABLE trial.t (a int)"},
      {2, "a broken one", "ALTER TABLE trial.nonexistent ADD COLUMN b int"}};
  absl::Status failed = pg::MigrateSchema(pool, "trial", migrations);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(*pg::SchemaVersion(pool, "trial"), 0);
  EXPECT_EQ(Value("SELECT to_regclass('trial.t') IS NULL"), "t");
  migrations.pop_back();
  EXPECT_TRUE(pg::MigrateSchema(pool, "trial", migrations).ok());
  EXPECT_EQ(*pg::SchemaVersion(pool, "trial"), 1);
}

}  // namespace
}  // namespace upshift::testing
