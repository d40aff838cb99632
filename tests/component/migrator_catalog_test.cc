// The migrator with its PostgreSQL adapter and a real catalog: pre-checks and neutralization
// assertions against real databases.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/catalog/catalog.h"
#include "libs/common/ids.h"
#include "services/migrator/migrator.h"
#include "services/migrator/pg_migration_target.h"
#include "tests/component/environment.h"
#include "tests/support/wait.h"
#include "tests/unit/fakes.h"

namespace upshift::migrator {
namespace {

using upshift::testing::Postgres;

class MigratorCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = absl::StrCat("mc_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres().GenerateSampleDatabase(db_, 40).ok());
  }

  // The sample catalog, with `neutralize_sql` as its neutralize script when given.
  absl::StatusOr<Catalog> SampleCatalog(const std::string& neutralize_sql = "") {
    std::string dir = upshift::testing::MakeTempDir("upshift-catalog");
    std::filesystem::remove(dir);
    std::filesystem::copy(upshift::testing::SourceDir() + "/deploy/catalogs/sample_erp", dir,
                          std::filesystem::copy_options::recursive);
    if (!neutralize_sql.empty()) std::ofstream(dir + "/neutralize.sql") << neutralize_sql;
    absl::StatusOr<Catalog> catalog = Catalog::Load(dir);
    std::filesystem::remove_all(dir);
    return catalog;
  }

  upgrade::v1::Event Run(const Catalog& catalog) {
    upgrade::v1::Order order = upshift::testing::SampleOrder();
    order.set_test_database(db_);  // the database plays the test copy
    return upshift::testing::MigrateCopy(catalog, order);
  }

  std::string db_;
};

TEST_F(MigratorCatalogTest, ANeutralizeScriptThatForgetsTheMailServersIsCaught) {
  absl::StatusOr<Catalog> catalog = SampleCatalog("UPDATE ir_cron SET active = false;\n"
                                                  "INSERT INTO ir_config_parameter (key, value) "
                                                  "VALUES ('database.is_neutralized', 'true');\n");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  upgrade::v1::Event last = Run(*catalog);
  ASSERT_TRUE(last.has_failed());
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "neutralization assertion no_active_mail_server"))
      << last.failed().error();
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM ir_mail_server WHERE active"), "2");
}

TEST_F(MigratorCatalogTest, TheSampleNeutralizationPassesItsAssertions) {
  absl::StatusOr<Catalog> catalog = SampleCatalog();
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(catalog->neutralization_assertions().size(), 3u);
  upgrade::v1::Event last = Run(*catalog);
  EXPECT_TRUE(last.has_succeeded()) << last.failed().error();
}

TEST_F(MigratorCatalogTest, AFailingPreCheckStopsItsHopBeforeAnyChange) {
  ASSERT_TRUE(Postgres()
                  .Exec(db_, "INSERT INTO sale_order_line (order_id, product_id, product_uom_qty, price_unit, "
                             "price_subtotal) VALUES (1, 1, 0, 10, 0)")
                  .ok());
  absl::StatusOr<Catalog> catalog = SampleCatalog();
  ASSERT_TRUE(catalog.ok());
  upgrade::v1::Event last = Run(*catalog);
  ASSERT_TRUE(last.has_failed());
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "pre-check of hop 17.0->18.0 order_line_quantities_positive"))
      << last.failed().error();
  // The first hop ran; nothing of the second did.
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "17.0");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM upshift.migration_history WHERE hop = '17.0->18.0'"), "0");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT to_regclass('product_template') IS NULL"), "t");
}

}  // namespace
}  // namespace upshift::migrator
