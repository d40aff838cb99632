#include "libs/catalog/catalog.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"

namespace upshift {
namespace {

class CatalogFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("upshift-catalog-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "sql");
    Write("sql/a.sql", "SELECT 1;");
    Write("sql/b.sql", "SELECT 2;");
    Write("neutralize.sql", "SELECT 3;");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  absl::StatusOr<Catalog> Load() { return Catalog::Load(dir_.string()); }

  std::filesystem::path dir_;
};

constexpr char kGood[] = R"pb(
application: "app"
versions: ["1.0", "2.0", "3.0"]
version_query: "SELECT v FROM meta"
set_version: "UPDATE meta SET v = $1"
hops { from: "1.0" to: "2.0" steps { name: "a" sql: "sql/a.sql" } }
hops { from: "2.0" to: "3.0" steps { name: "b" sql: "sql/b.sql" } }
neutralize: "neutralize.sql"
)pb";

TEST_F(CatalogFiles, LoadsAWellFormedCatalogAndPlansHopByHop) {
  Write("catalog.textproto", kGood);
  absl::StatusOr<Catalog> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->application(), "app");
  EXPECT_EQ(c->neutralize_sql(), "SELECT 3;");
  auto plan = c->Plan("1.0", "3.0");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].steps[0].sql, "SELECT 1;");
  EXPECT_EQ((*plan)[1].to, "3.0");
  EXPECT_EQ(c->Plan("2.0", "3.0")->size(), 1u);
  EXPECT_EQ(c->TargetsFrom("1.0"), (std::vector<std::string>{"2.0", "3.0"}));
}

TEST_F(CatalogFiles, AStepRunsAsTheOwnerUnlessItSaysItNeedsTheSuperuser) {
  std::string manifest = kGood;
  manifest.replace(manifest.find(R"(sql: "sql/b.sql" })"), 19, R"(sql: "sql/b.sql" superuser: true })");
  Write("catalog.textproto", manifest);
  absl::StatusOr<Catalog> c = Load();
  ASSERT_TRUE(c.ok()) << c.status();
  auto plan = c->Plan("1.0", "3.0");
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE((*plan)[0].steps[0].superuser);
  EXPECT_TRUE((*plan)[1].steps[0].superuser);
  // Named for the report and the audit trail, as hop/step.
  EXPECT_EQ(c->SuperuserSteps("1.0", "3.0"),
            (std::vector<std::string>{absl::StrCat((*plan)[1].from, "->", (*plan)[1].to, "/", (*plan)[1].steps[0].name)}));
  EXPECT_TRUE(c->SuperuserSteps("1.0", "2.0").empty());
  EXPECT_TRUE(c->SuperuserSteps("3.0", "1.0").empty());  // no such plan
}

TEST_F(CatalogFiles, PlanRefusesUnknownAndNotNewerVersions) {
  Write("catalog.textproto", kGood);
  absl::StatusOr<Catalog> c = Load();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Plan("1.0", "4.0").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c->Plan("0.9", "2.0").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c->Plan("2.0", "2.0").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c->Plan("3.0", "2.0").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CatalogFiles, ASyntaxErrorNamesTheFileAndLine) {
  Write("catalog.textproto", "application: \"app\"\nversions: [\"1.0\"\nhops {\n");
  absl::Status s = Load().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "catalog.textproto:3:")) << s.message();
}

TEST_F(CatalogFiles, AnUnknownFieldNamesTheFileAndLine) {
  Write("catalog.textproto", "application: \"app\"\n\nstepz: 1\n");
  absl::Status s = Load().status();
  EXPECT_TRUE(absl::StrContains(s.message(), "catalog.textproto:3:")) << s.message();
}

TEST_F(CatalogFiles, HopsThatDoNotChainAreRefusedAtTheirLine) {
  std::string text = kGood;
  text.replace(text.find("from: \"2.0\""), 11, "from: \"1.0\"");
  Write("catalog.textproto", text);
  absl::Status s = Load().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "catalog.textproto:7: hop 2")) << s.message();
}

TEST_F(CatalogFiles, AMissingScriptIsNamedWithTheLineThatNamesIt) {
  std::string text = kGood;
  text.replace(text.find("sql/b.sql"), 9, "sql/c.sql");
  Write("catalog.textproto", text);
  absl::Status s = Load().status();
  EXPECT_TRUE(absl::StrContains(s.message(), "catalog.textproto:7:")) << s.message();
  EXPECT_TRUE(absl::StrContains(s.message(), "sql/c.sql")) << s.message();
}

TEST_F(CatalogFiles, ABadVersionAndAnUnnamedCheckAreRefusedAtTheirLine) {
  std::string text = kGood;
  text.replace(text.find("\"3.0\"]"), 6, "\"3.x\"]");
  Write("catalog.textproto", text);
  absl::Status s = Load().status();
  EXPECT_TRUE(absl::StrContains(s.message(), "catalog.textproto:3:")) << s.message();
  Write("catalog.textproto", std::string(kGood) + "post_checks { sql: \"SELECT true\" }\n");
  s = Load().status();
  EXPECT_TRUE(absl::StrContains(s.message(), "catalog.textproto:9: every post_check needs a name")) << s.message();
}

TEST_F(CatalogFiles, ScriptsOutsideTheFolderAreRefused) {
  std::string text = kGood;
  text.replace(text.find("sql/b.sql"), 9, "../b.sql");
  Write("catalog.textproto", text);
  EXPECT_EQ(Load().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CatalogFiles, AScriptThatIsALinkOutOfTheFolderIsRefused) {
  const std::filesystem::path outside = dir_.string() + "-outside.sql";
  std::ofstream(outside) << "DROP DATABASE everything;";
  std::filesystem::remove(dir_ / "sql/b.sql");
  std::filesystem::create_symlink(outside, dir_ / "sql/b.sql");
  Write("catalog.textproto", kGood);
  absl::Status s = Load().status();
  std::filesystem::remove(outside);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "leads out of the catalog folder")) << s;
  // A link inside the folder is fine.
  std::filesystem::remove(dir_ / "sql/b.sql");
  std::filesystem::create_symlink(dir_ / "sql/a.sql", dir_ / "sql/b.sql");
  EXPECT_TRUE(Load().ok()) << Load().status();
}

TEST(SampleCatalog, LoadsWithTwoHopsOfThreeSteps) {
  absl::StatusOr<Catalog> c = Catalog::Load(std::string(UPSHIFT_SOURCE_DIR) + "/deploy/catalogs/sample_erp");
  ASSERT_TRUE(c.ok()) << c.status();
  auto plan = c->Plan("16.0", "18.0");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].steps.size(), 3u);
  EXPECT_EQ((*plan)[1].steps.size(), 3u);
  EXPECT_FALSE(c->neutralize_sql().empty());
}

}  // namespace
}  // namespace upshift
