#include "services/status/queries.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"
#include "tests/unit/fakes.h"

namespace upshift::status {
namespace {

using namespace upgrade::v1;
using ::testing::ElementsAre;
using upshift::testing::FakeHosting;

// The record as status keeps it, in memory: upgrades by id and what it knows of databases.
class FakeStatusStore final : public StatusStore {
 public:
  absl::StatusOr<std::optional<Upgrade>> Apply(const Event&) override { return absl::UnimplementedError("unused"); }
  absl::StatusOr<Upgrade> GetUpgrade(const std::string& id) override {
    if (!down.ok()) return down;
    auto it = upgrades.find(id);
    if (it == upgrades.end()) return absl::NotFoundError(absl::StrCat("no upgrade ", id));
    return it->second;
  }
  absl::StatusOr<std::vector<Upgrade>> ListUpgrades(const std::string& database) override {
    std::vector<Upgrade> out;
    for (const auto& [id, u] : upgrades) {
      if (u.database() == database) out.push_back(u);
    }
    return out;
  }
  absl::StatusOr<std::map<std::string, DatabaseRecord>> DatabaseRecords() override { return records; }
  absl::StatusOr<std::map<std::string, DatabaseRecord>> DatabaseRecordsOf(const std::string& name) override {
    std::map<std::string, DatabaseRecord> out;
    for (const auto& [db, r] : records) {
      if (db == name || r.parent == name) out[db] = r;
    }
    return out;
  }
  absl::Status DrainChanges(int, const std::function<absl::Status(const std::vector<PendingChange>&)>&,
                            int* count) override {
    *count = 0;
    return absl::OkStatus();
  }
  absl::StatusOr<int> MarkStalled(absl::Time) override { return 0; }
  absl::Status RememberVersion(const std::string&, const std::string&) override { return absl::OkStatus(); }

  std::map<std::string, Upgrade> upgrades;
  std::map<std::string, DatabaseRecord> records;
  absl::Status down;
};

const Principal kAcme{"acme-admin", "acme", {scopes::kRead}};
const Principal kGlobex{"globex-admin", "globex", {scopes::kRead}};
const Principal kOperator{"ops", "", {scopes::kOperator}};

constexpr char kAcmeUpgrade[] = "0f8fad5b-d9cb-469f-a165-70867728950e";
constexpr char kGlobexUpgrade[] = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

class QueriesTest : public ::testing::Test {
 protected:
  QueriesTest()
      : catalog_(*Catalog::Load(std::string(UPSHIFT_SOURCE_DIR) + "/deploy/catalogs/sample_erp")),
        view_(hosting_, store_, catalog_, {"upshift"}),
        slots_(10, 2),
        queries_(store_, view_, slots_, hub_) {
    hosting_.Add("acme", "16.0");
    hosting_.Add("acme_test_0f8fad5b", "18.0").owner = "postgres";  // a copy made before copies kept their owner
    store_.records["acme_test_0f8fad5b"].parent = "acme";
    hosting_.Add("globex", "16.0").owner = "globex";
    Upgrade a;
    a.set_upgrade_id(kAcmeUpgrade);
    a.set_database("acme");
    a.set_tenant("acme");
    a.set_state(STATE_SUCCEEDED);
    store_.upgrades[a.upgrade_id()] = a;
    Upgrade g = a;
    g.set_upgrade_id(kGlobexUpgrade);
    g.set_database("globex");
    g.set_tenant("globex");
    store_.upgrades[g.upgrade_id()] = g;
  }

  static std::vector<std::string> Names(const std::vector<Database>& dbs) {
    std::vector<std::string> out;
    for (const Database& db : dbs) out.push_back(db.name());
    return out;
  }

  Catalog catalog_;
  FakeHosting hosting_;
  FakeStatusStore store_;
  DatabaseView view_;
  StreamSlots slots_;
  ChangeHub hub_;
  Queries queries_;
};

TEST_F(QueriesTest, ATenantListsOnlyItsOwnDatabasesWithTheirCopiesAndAnOperatorListsAll) {
  absl::StatusOr<std::vector<Database>> acme = queries_.ListDatabases(kAcme);
  ASSERT_TRUE(acme.ok()) << acme.status();
  EXPECT_THAT(Names(*acme), ElementsAre("acme"));
  ASSERT_EQ((*acme)[0].test_copies_size(), 1);
  EXPECT_EQ((*acme)[0].test_copies(0).name(), "acme_test_0f8fad5b");
  EXPECT_EQ((*acme)[0].test_copies(0).tenant(), "acme");  // its main database's tenant, whoever owns it
  EXPECT_THAT(Names(*queries_.ListDatabases(kGlobex)), ElementsAre("globex"));
  EXPECT_THAT(Names(*queries_.ListDatabases(kOperator)), ElementsAre("acme", "globex"));
  EXPECT_TRUE(queries_.ListDatabases(Principal{"x", "initech", {scopes::kRead}})->empty());
}

TEST_F(QueriesTest, AnotherTenantsDatabaseIsNotFoundInTheWordsOfAMissingOne) {
  absl::Status foreign = queries_.GetDatabase(kGlobex, "acme").status();
  absl::Status copy = queries_.GetDatabase(kGlobex, "acme_test_0f8fad5b").status();
  absl::Status absent = queries_.GetDatabase(kGlobex, "ghost").status();
  EXPECT_EQ(foreign.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(copy.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(foreign.message(), absl::StrReplaceAll(absent.message(), {{"ghost", "acme"}}));
  absl::StatusOr<Database> own_copy = queries_.GetDatabase(kAcme, "acme_test_0f8fad5b");
  ASSERT_TRUE(own_copy.ok()) << own_copy.status();
  EXPECT_EQ(own_copy->tenant(), "acme");
  EXPECT_TRUE(queries_.GetDatabase(kOperator, "globex").ok());
}

TEST_F(QueriesTest, AnotherTenantsUpgradeIsNotFoundInTheWordsOfAMissingOne) {
  const std::string unknown = "00000000-0000-4000-8000-000000000000";
  absl::Status foreign = queries_.GetUpgrade(kAcme, kGlobexUpgrade).status();
  absl::Status absent = queries_.GetUpgrade(kAcme, unknown).status();
  EXPECT_EQ(foreign.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(foreign.message(), absl::StrReplaceAll(absent.message(), {{unknown, kGlobexUpgrade}}));
  EXPECT_TRUE(queries_.GetUpgrade(kAcme, kAcmeUpgrade).ok());
  EXPECT_TRUE(queries_.GetUpgrade(kOperator, kGlobexUpgrade).ok());
  EXPECT_TRUE(queries_.ListUpgrades(kAcme, "globex")->empty());
  EXPECT_EQ(queries_.ListUpgrades(kGlobex, "globex")->size(), 1u);
  // A watch of another tenant's upgrade ends as a watch of an unknown one would, having sent nothing.
  int sent = 0;
  store_.upgrades[kGlobexUpgrade].set_state(STATE_SUCCEEDED);
  absl::Status watched = queries_.WatchUpgrade(
      kAcme, kGlobexUpgrade, [&](const Upgrade&) { return ++sent > 0; },
      [] { return absl::UnavailableError("stopping"); });
  EXPECT_EQ(watched.code(), absl::StatusCode::kUnavailable);  // interrupted while it waited to appear
  EXPECT_EQ(sent, 0);
  EXPECT_TRUE(queries_.WatchUpgrade(kGlobex, kGlobexUpgrade, [&](const Upgrade&) { return ++sent > 0; },
                                    [] { return absl::OkStatus(); })
                  .ok());
  EXPECT_EQ(sent, 1);
}

TEST_F(QueriesTest, EveryReadNeedsTheReadScopeAndATenant) {
  const Principal no_scope{"x", "acme", {}};
  const Principal no_tenant{"x", "", {scopes::kRead}};
  for (const Principal& p : {no_scope, no_tenant}) {
    EXPECT_EQ(queries_.ListDatabases(p).status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(queries_.GetDatabase(p, "acme").status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(queries_.GetUpgrade(p, kAcmeUpgrade).status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(queries_.ListUpgrades(p, "acme").status().code(), absl::StatusCode::kPermissionDenied);
  }
}

}  // namespace
}  // namespace upshift::status
