#include "services/status/queries.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "libs/common/time.h"
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
  absl::StatusOr<std::vector<Upgrade>> ListUpgrades(const std::string& database,
                                                     const std::optional<std::string>& tenant,
                                                     const std::optional<UpgradeCursor>& after, int limit) override {
    auto key = [](const Upgrade& u) {
      return std::make_pair(absl::ToUnixMicros(FromProto(u.created_at())), u.upgrade_id());
    };
    std::vector<Upgrade> out;
    for (const auto& [id, u] : upgrades) {
      if (u.database() != database || (tenant.has_value() && u.tenant() != *tenant)) continue;
      if (after.has_value() && !(key(u) < std::make_pair(after->created_at_micros, after->upgrade_id))) continue;
      out.push_back(u);
    }
    std::sort(out.begin(), out.end(), [&](const Upgrade& a, const Upgrade& b) { return key(b) < key(a); });
    if (static_cast<int>(out.size()) > limit) out.resize(limit);
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
  absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time, int) override {
    return std::vector<std::string>();
  }
  absl::Status ForgetHeld(const std::string&) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<Upgrade>> FailedUpgrades(absl::Time, const std::string&, int) override {
    std::vector<Upgrade> out;
    for (const auto& [id, u] : upgrades) {
      if (u.state() == STATE_FAILED || u.state() == STATE_ROLLED_BACK) out.push_back(u);
    }
    return out;
  }
  absl::StatusOr<std::vector<Upgrade>> UnfinishedUpgrades() override {
    std::vector<Upgrade> out;
    for (const auto& [id, u] : upgrades) out.push_back(u);
    return out;
  }
  absl::Status RememberVersion(const std::string& name, const std::string&) override {
    remembered.push_back(name);
    return absl::OkStatus();
  }
  std::vector<std::string> remembered;  // the databases whose version was read and remembered

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
        view_(fleet_, store_, catalog_, {"upshift"}),
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

  static std::vector<std::string> Names(const absl::StatusOr<ListDatabasesResponse>& page) {
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> out;
    if (page.ok()) {
      for (const Database& db : page->databases()) out.push_back(db.name());
    }
    return out;
  }

  absl::StatusOr<ListDatabasesResponse> Databases(const Principal& caller, int page_size = 0,
                                                  const std::string& token = "") {
    ListDatabasesRequest req;
    req.set_page_size(page_size);
    req.set_page_token(token);
    return queries_.ListDatabases(caller, req);
  }

  absl::StatusOr<ListUpgradesResponse> Upgrades(const Principal& caller, const std::string& database,
                                                int page_size = 0, const std::string& token = "") {
    ListUpgradesRequest req;
    req.set_database(database);
    req.set_page_size(page_size);
    req.set_page_token(token);
    return queries_.ListUpgrades(caller, req);
  }

  Catalog catalog_;
  FakeHosting hosting_;
  FakeHosting east_;  // a second hosting server, empty unless a test fills it
  FixedFleet fleet_{{{"west", &hosting_}, {"east", &east_}}};
  FakeStatusStore store_;
  DatabaseView view_;
  StreamSlots slots_;
  ChangeHub hub_;
  Queries queries_;
};

TEST_F(QueriesTest, ATenantListsOnlyItsOwnDatabasesWithTheirCopiesAndAnOperatorListsAll) {
  absl::StatusOr<ListDatabasesResponse> acme = Databases(kAcme);
  EXPECT_THAT(Names(acme), ElementsAre("acme"));
  ASSERT_EQ(acme->databases(0).test_copies_size(), 1);
  EXPECT_EQ(acme->databases(0).test_copies(0).name(), "acme_test_0f8fad5b");
  EXPECT_EQ(acme->databases(0).test_copies(0).tenant(), "acme");  // its main database's tenant, whoever owns it
  EXPECT_TRUE(acme->next_page_token().empty());
  EXPECT_THAT(Names(Databases(kGlobex)), ElementsAre("globex"));
  EXPECT_THAT(Names(Databases(kOperator)), ElementsAre("acme", "globex"));
  EXPECT_TRUE(Names(Databases(Principal{"x", "initech", {scopes::kRead}})).empty());
}

TEST_F(QueriesTest, DatabasesOfEveryServerAreListedWithTheirServerAndCanBeFilteredByIt) {
  east_.Add("zeta", "16.0");
  east_.Add("zeta_test_0f8fad5c", "18.0");
  store_.records["zeta_test_0f8fad5c"].parent = "zeta";
  absl::StatusOr<ListDatabasesResponse> all = Databases(kOperator);
  ASSERT_THAT(Names(all), ElementsAre("acme", "globex", "zeta"));
  EXPECT_EQ(all->databases(0).server(), "west");
  EXPECT_EQ(all->databases(2).server(), "east");
  ASSERT_EQ(all->databases(2).test_copies_size(), 1);  // its copy, on its own server
  EXPECT_EQ(all->databases(2).test_copies(0).server(), "east");
  // A page at a time, across the servers.
  absl::StatusOr<ListDatabasesResponse> first = Databases(kOperator, 2);
  EXPECT_THAT(Names(first), ElementsAre("acme", "globex"));
  EXPECT_THAT(Names(Databases(kOperator, 2, first->next_page_token())), ElementsAre("zeta"));
  ListDatabasesRequest east;
  east.set_server("east");
  EXPECT_THAT(Names(queries_.ListDatabases(kOperator, east)), ElementsAre("zeta"));
  EXPECT_THAT(Names(queries_.ListDatabases(kAcme, east)), ElementsAre("zeta"));
  east.set_server("north");
  EXPECT_EQ(queries_.ListDatabases(kOperator, east).status(), ServerNotFound("north"));
  // One database: found on its server.
  absl::StatusOr<Database> zeta = queries_.GetDatabase(kAcme, "zeta");
  ASSERT_TRUE(zeta.ok()) << zeta.status();
  EXPECT_EQ(zeta->server(), "east");
  // A server that does not answer leaves only its own databases out of the list.
  east_.down = absl::UnavailableError("connection refused");
  EXPECT_THAT(Names(Databases(kOperator)), ElementsAre("acme", "globex"));
}

TEST_F(QueriesTest, AnotherTenantsDatabaseIsNotFoundInTheWordsOfAMissingOne) {
  absl::Status foreign = queries_.GetDatabase(kGlobex, "acme").status();
  absl::Status copy = queries_.GetDatabase(kGlobex, "acme_test_0f8fad5b").status();
  absl::Status absent = queries_.GetDatabase(kGlobex, "ghost").status();
  EXPECT_EQ(foreign.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(copy.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(foreign.message(), absl::StrReplaceAll(absent.message(), {{"ghost", "acme"}}));
  // Nothing of another tenant's database was read or remembered (issue 20).
  EXPECT_THAT(store_.remembered, ::testing::IsEmpty());
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
  EXPECT_EQ(Upgrades(kAcme, "globex")->upgrades_size(), 0);
  EXPECT_EQ(Upgrades(kGlobex, "globex")->upgrades_size(), 1);
  EXPECT_EQ(Upgrades(kOperator, "globex")->upgrades_size(), 1);
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
    EXPECT_EQ(Databases(p).status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(queries_.GetDatabase(p, "acme").status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(queries_.GetUpgrade(p, kAcmeUpgrade).status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(Upgrades(p, "acme").status().code(), absl::StatusCode::kPermissionDenied);
  }
}

// Thousands of databases of two tenants: each tenant's pages hold its databases once each, in
// order, with their copies, and nothing of the other's; an operator's pages hold them all.
TEST_F(QueriesTest, PagesThroughThousandsOfDatabasesOfEachTenantOnceEach) {
  for (int i = 0; i < 3000; ++i) {
    const std::string name = absl::StrCat("db_", 10000 + i);
    hosting_.Add(name, "16.0").owner = i % 3 == 0 ? "globex" : "acme";
    if (i % 100 == 0) {
      hosting_.Add(name + "_test_0f8fad5b", "18.0").owner = hosting_.dbs[name].owner;
      store_.records[name + "_test_0f8fad5b"].parent = name;
    }
  }
  auto page_through = [&](const Principal& caller, int page_size, int* pages, int* copies) {
    std::vector<std::string> names;
    std::string token;
    *pages = *copies = 0;
    do {
      absl::StatusOr<ListDatabasesResponse> page = Databases(caller, page_size, token);
      if (!page.ok()) {
        ADD_FAILURE() << page.status();
        break;
      }
      EXPECT_LE(page->databases_size(), page_size == 0 ? 100 : page_size);
      for (const Database& db : page->databases()) {
        names.push_back(db.name());
        *copies += db.test_copies_size();
        EXPECT_TRUE(caller.ActsFor(db.tenant())) << db.name();
      }
      token = page->next_page_token();
      ++*pages;
    } while (!token.empty() && *pages < 1000);
    return names;
  };
  int pages = 0, copies = 0;
  std::vector<std::string> acme = page_through(kAcme, 0, &pages, &copies);
  EXPECT_EQ(acme.size(), 2000u + 1);  // and the fixture's acme
  EXPECT_EQ(pages, 21);
  EXPECT_EQ(copies, 20 + 1);
  EXPECT_TRUE(std::is_sorted(acme.begin(), acme.end()));
  EXPECT_EQ(std::adjacent_find(acme.begin(), acme.end()), acme.end());
  std::vector<std::string> globex = page_through(kGlobex, 333, &pages, &copies);
  EXPECT_EQ(globex.size(), 1000u + 1);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(copies, 10);
  std::vector<std::string> all = page_through(kOperator, 5000, &pages, &copies);  // capped at 1000 a page
  EXPECT_EQ(all.size(), 3002u);
  EXPECT_EQ(pages, 4);
}

TEST_F(QueriesTest, PagesThroughUpgradesNewestFirstOnceEachEvenWhenCreatedTogether) {
  std::set<std::string> made;
  for (int i = 0; i < 250; ++i) {
    Upgrade u;
    u.set_upgrade_id(absl::StrFormat("%08x-0000-4000-8000-000000000000", i));
    u.set_database("acme");
    u.set_tenant(i % 5 == 0 ? "globex" : "acme");  // acme's database, some upgrades from before a move
    u.mutable_created_at()->set_seconds(1700000000 + i / 10);  // ten at a time share a moment
    store_.upgrades[u.upgrade_id()] = u;
    if (u.tenant() == "acme") made.insert(u.upgrade_id());
  }
  made.insert(kAcmeUpgrade);
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<ListUpgradesResponse> page = Upgrades(kAcme, "acme", 30, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Upgrade& u : page->upgrades()) seen.push_back(u.upgrade_id());
    token = page->next_page_token();
    ++pages;
  } while (!token.empty() && pages < 100);
  EXPECT_EQ(seen.size(), made.size());
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), made);
  EXPECT_EQ(pages, 7);  // 201 upgrades, 30 a page
  for (size_t i = 1; i < seen.size(); ++i) {
    const Upgrade& before = store_.upgrades[seen[i - 1]];
    const Upgrade& after = store_.upgrades[seen[i]];
    EXPECT_GE(before.created_at().seconds(), after.created_at().seconds());
  }
}

TEST_F(QueriesTest, ABadPageSizeOrTokenIsInvalidArgument) {
  EXPECT_EQ(Databases(kAcme, -1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Upgrades(kAcme, "acme", -1).status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& token : {std::string("garbage!"), absl::WebSafeBase64Escape("databases|Bad Name"),
                                   absl::WebSafeBase64Escape("upgrades|acme|1|x"), std::string(2000, 'A')}) {
    EXPECT_EQ(Databases(kAcme, 0, token).status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_EQ(Upgrades(kAcme, "acme", 0, token).status().code(), absl::StatusCode::kInvalidArgument) << token;
  }
  // A token of one database's upgrades is not one of another's.
  const std::string acme_token =
      absl::WebSafeBase64Escape(absl::StrCat("upgrades|acme|1|", kAcmeUpgrade));
  EXPECT_TRUE(Upgrades(kAcme, "acme", 0, acme_token).ok());
  EXPECT_EQ(Upgrades(kAcme, "globex", 0, acme_token).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(QueriesTest, OnlyOperatorsReadTheBacklog) {
  absl::StatusOr<upgrade::v1::GetBacklogResponse> refused = queries_.GetBacklog(kAcme);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  absl::StatusOr<upgrade::v1::GetBacklogResponse> backlog = queries_.GetBacklog(kOperator);
  ASSERT_TRUE(backlog.ok()) << backlog.status();
  ASSERT_EQ(backlog->groups_size(), 2);
  EXPECT_EQ(backlog->groups(0).group(), "upshift-cloner");
}

TEST_F(QueriesTest, OnlyOperatorsReadTheFleetsFailuresWhichAreGroupedByCause) {
  for (const std::string id : {"0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"}) {
    Upgrade u;
    u.set_upgrade_id(id);
    u.set_database(id.substr(0, 4) == "0f8f" ? "acme" : "globex");
    u.set_state(STATE_ROLLED_BACK);
    u.set_current_step("17.0->18.0/02b_test_fail");
    u.set_error(absl::StrCat("ERROR: forced failure in ", u.database()));
    store_.upgrades[id] = u;
  }
  ListFailureGroupsRequest request;
  EXPECT_EQ(queries_.ListFailureGroups(kAcme, request).status().code(), absl::StatusCode::kPermissionDenied);
  absl::StatusOr<ListFailureGroupsResponse> groups = queries_.ListFailureGroups(kOperator, request);
  ASSERT_TRUE(groups.ok()) << groups.status();
  ASSERT_EQ(groups->groups_size(), 1);
  EXPECT_EQ(groups->groups(0).count(), 2);
  EXPECT_EQ(groups->groups(0).signature(), "ERROR: forced failure in <db>");
  // A time to come, and a version no catalog could name, are refused.
  ToProto(absl::Now() + absl::Hours(1), request.mutable_since());
  EXPECT_EQ(queries_.ListFailureGroups(kOperator, request).status().code(), absl::StatusCode::kInvalidArgument);
  request.clear_since();
  request.set_target_version("18.0'; DROP TABLE x");
  EXPECT_EQ(queries_.ListFailureGroups(kOperator, request).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace upshift::status
