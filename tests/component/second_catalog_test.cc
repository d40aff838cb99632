// A second catalog, unlike the sample (another schema, its version in a one-row table, a hop done
// by a command): the format is not shaped around one application.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/catalog/catalog.h"
#include "libs/common/ids.h"
#include "libs/common/textproto.h"
#include "services/migrator/migrator.h"
#include "services/migrator/pg_migration_target.h"
#include "tests/component/environment.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"
#include "tests/unit/fakes.h"

namespace upshift::migrator {
namespace {

using upshift::testing::Postgres;

class InventoryCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = absl::StrCat("inv_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db_).ok());
    std::ifstream in(Dir() + "/schema.sql");
    std::stringstream schema;
    schema << in.rdbuf();
    ASSERT_TRUE(Postgres().Exec(db_, schema.str()).ok());
  }

  static std::string Dir() { return upshift::testing::SourceDir() + "/tests/catalogs/inventory"; }

  upgrade::v1::Event Run(const Catalog& catalog) {
    upgrade::v1::Order order = upshift::testing::SampleOrder();
    order.set_from_version("1.0");
    order.set_target_version("3.0");
    order.set_test_database(db_);
    return upshift::testing::MigrateCopy(catalog, order);
  }

  std::string db_;
};

TEST_F(InventoryCatalogTest, UpgradesThroughAnSqlHopAndACommandHop) {
  // The command is a script calling psql: the tools it needs must be on PATH.
  setenv("PATH", (upshift::testing::PgBinDir() + ":" + getenv("PATH")).c_str(), 1);
  absl::StatusOr<Catalog> catalog = Catalog::Load(Dir());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  upgrade::v1::Event last = Run(*catalog);
  ASSERT_TRUE(last.has_succeeded()) << last.failed().error();
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT version FROM inv.app_meta"), "3.0");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM inv.stock_summary"), "3");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT sum(quantity) FROM inv.stock_summary"),
            *Postgres().QueryValue(db_, "SELECT sum(quantity) FROM inv.items"));
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM inv.tool_runs"), "1");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM upshift.migration_history WHERE step = "
                                        "'rebuild_stock_summary'"),
            "1");
  const upgrade::v1::IntegrityReport& report = last.succeeded().report();
  bool suppliers_checked = false;
  for (const upgrade::v1::TableReport& t : report.tables()) {
    if (t.table() == "inv.suppliers") suppliers_checked = t.declared_unchanged() && t.content_unchanged();
  }
  EXPECT_TRUE(suppliers_checked);

  // Delivered again: the command is not run a second time.
  last = Run(*catalog);
  EXPECT_TRUE(last.has_succeeded());
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM inv.tool_runs"), "1");
}

TEST_F(InventoryCatalogTest, AFailingCommandFailsTheUpgradeWithItsOutput) {
  std::string dir = upshift::testing::MakeTempDir("upshift-inventory");
  std::filesystem::remove(dir);
  std::filesystem::copy(Dir(), dir, std::filesystem::copy_options::recursive);
  std::ofstream(dir + "/bin/rebuild_stock_summary") << "#!/bin/sh\necho 'license server unreachable' >&2\nexit 3\n";
  absl::StatusOr<Catalog> catalog = Catalog::Load(dir);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  upgrade::v1::Event last = Run(*catalog);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(last.has_failed());
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "rebuild_stock_summary")) << last.failed().error();
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "license server unreachable")) << last.failed().error();
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT version FROM inv.app_meta"), "2.0");
}

// The bank-like catalog the benchmarks measure the window on (tests/catalogs/bank): its plan
// rewrites the one large table, and the money still adds up after it.
TEST(BankCatalog, RewritesTheLedgerInMinorUnitsAndEveryBalanceMatchesIt) {
  const std::string dir = upshift::testing::SourceDir() + "/tests/catalogs/bank";
  absl::StatusOr<Catalog> catalog = Catalog::Load(dir);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  absl::StatusOr<std::string> schema = ReadFile(dir + "/schema.sql");
  absl::StatusOr<std::string> data = ReadFile(dir + "/data.sql");
  ASSERT_TRUE(schema.ok() && data.ok()) << schema.status() << " " << data.status();
  const std::string db = absl::StrCat("bank_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db).ok());
  ASSERT_TRUE(Postgres().Exec(db, *schema).ok());
  ASSERT_TRUE(Postgres().Exec(db, "SET bank.accounts = 300;\n" + *data).ok());
  ASSERT_EQ(*Postgres().QueryValue(db, "SELECT count(*) FROM bank.ledger_entries"), "12000");
  const std::string cents_before = *Postgres().QueryValue(db, "SELECT sum(amount * 100)::bigint FROM bank.ledger_entries");
  const std::string account_42 = *Postgres().QueryValue(
      db, "SELECT sum(amount * 100)::bigint FROM bank.ledger_entries WHERE account_id = 42");

  upgrade::v1::Order order = upshift::testing::SampleOrder();
  order.set_from_version("1.0");
  order.set_target_version("2.0");
  order.set_test_database(db);
  upgrade::v1::Event last = upshift::testing::MigrateCopy(*catalog, order);
  ASSERT_TRUE(last.has_succeeded()) << last.failed().error();
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT version FROM bank.app_meta"), "2.0");
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT data_type FROM information_schema.columns WHERE table_schema = 'bank' "
                                       "AND table_name = 'ledger_entries' AND column_name = 'amount_minor'"),
            "bigint");
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT sum(amount_minor) FROM bank.ledger_entries"), cents_before);
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT count(*) FROM bank.account_balances"), "300");
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT balance_minor FROM bank.account_balances WHERE account_id = 42"),
            account_42);
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ledger_entries_by_account'"),
            "1");
  // A test copy moves no money.
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT count(*) FROM bank.standing_orders WHERE active"), "0");
  int unchanged = 0;
  for (const upgrade::v1::TableReport& t : last.succeeded().report().tables()) {
    if (t.declared_unchanged() && t.content_unchanged()) ++unchanged;
  }
  EXPECT_EQ(unchanged, 3);  // branches, customers, accounts
}

TEST(CatalogFormat, ASingleTransactionHopIsAllOrNothing) {
  std::string dir = upshift::testing::MakeTempDir("upshift-onetx");
  std::ofstream(dir + "/catalog.textproto")
      << "application: \"onetx\"\nversions: [\"1.0\", \"2.0\"]\n"
         "version_query: \"SELECT v FROM meta\"\nset_version: \"UPDATE meta SET v = $1\"\n"
         "hops { from: \"1.0\" to: \"2.0\" single_transaction: true\n"
         "  steps { name: \"a\" sql: \"a.sql\" }\n  steps { name: \"b\" sql: \"b.sql\" } }\n";
  std::ofstream(dir + "/a.sql") << "CREATE TABLE made_by_a (n int); INSERT INTO made_by_a VALUES (1);\n";
  std::ofstream(dir + "/b.sql") << "SELECT 1 / (SELECT count(*) FROM made_by_a WHERE n = 2);\n";  // divides by zero
  absl::StatusOr<Catalog> catalog = Catalog::Load(dir);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  std::string db = absl::StrCat("onetx_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db).ok());
  ASSERT_TRUE(Postgres().Exec(db, "CREATE TABLE meta (v text); INSERT INTO meta VALUES ('1.0')").ok());
  PgMigrationTarget target(Postgres().conninfo());
  upshift::testing::FakePublisher publisher;
  upshift::testing::FakeGate gate;
  upshift::testing::FakeClock clock;
  Migrator migrator(*catalog, OnlyTarget(target), publisher, gate, clock);
  upgrade::v1::Order order = upshift::testing::SampleOrder();
  order.set_from_version("1.0");
  order.set_target_version("2.0");
  order.set_test_database(db);
  ASSERT_TRUE(migrator.MigrateCopy(order).ok());
  upgrade::v1::Event last = publisher.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "1.0->2.0/b")) << last.failed().error();
  // Step a ran, but with the hop in one transaction nothing of it remains.
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT to_regclass('made_by_a') IS NULL"), "t");
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT count(*) FROM upshift.migration_history"), "0");
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT v FROM meta"), "1.0");

  // A command cannot be part of it.
  std::filesystem::create_directories(dir + "/bin");
  std::ofstream(dir + "/bin/tool") << "#!/bin/sh\nexit 0\n";
  std::filesystem::permissions(dir + "/bin/tool", std::filesystem::perms::owner_all);
  std::ofstream(dir + "/catalog.textproto", std::ios::trunc)
      << "application: \"onetx\"\nversions: [\"1.0\", \"2.0\"]\n"
         "version_query: \"SELECT v FROM meta\"\nset_version: \"UPDATE meta SET v = $1\"\n"
         "hops { from: \"1.0\" to: \"2.0\" single_transaction: true\n"
         "  steps { name: \"t\" command: \"bin/tool\" } }\n";
  absl::Status refused = Catalog::Load(dir).status();
  EXPECT_TRUE(absl::StrContains(refused.message(), "catalog.textproto:6:")) << refused.message();
  EXPECT_TRUE(absl::StrContains(refused.message(), "cannot run inside the hop's single transaction"))
      << refused.message();
  std::filesystem::remove_all(dir);
}

TEST(CatalogFormat, AStepNeedsExactlyOneOfSqlAndCommandAndACommandMustBeExecutable) {
  std::string dir = upshift::testing::MakeTempDir("upshift-inventory");
  std::filesystem::remove(dir);
  std::filesystem::copy(upshift::testing::SourceDir() + "/tests/catalogs/inventory", dir,
                        std::filesystem::copy_options::recursive);
  std::filesystem::permissions(dir + "/bin/rebuild_stock_summary", std::filesystem::perms::owner_read,
                               std::filesystem::perm_options::replace);
  absl::Status s = Catalog::Load(dir).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "is not executable")) << s.message();
  std::ofstream(dir + "/catalog.textproto", std::ios::app)
      << "hops { from: \"3.0\" to: \"4.0\" steps { name: \"x\" sql: \"hops/add_sku.sql\" command: \"bin/y\" } }\n";
  EXPECT_EQ(Catalog::Load(dir).status().code(), absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace upshift::migrator
