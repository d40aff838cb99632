// PgStatusStore against real PostgreSQL.

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/common/ids.h"
#include "libs/common/time.h"
#include "services/status/pg_status_store.h"
#include "tests/component/environment.h"

namespace upshift::status {
namespace {

using upshift::testing::Postgres;

class StatusStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = absl::StrCat("status_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db_).ok());
    auto store = PgStatusStore::Open(Postgres().conninfo(db_), 4);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Records request's acceptance of an order of `database` by `tenant`, created at `created_at`.
  void Accept(const std::string& upgrade_id, const std::string& database, const std::string& tenant,
              absl::Time created_at) {
    upgrade::v1::Event e;
    e.set_event_id(upgrade_id + "/accepted");
    upgrade::v1::Order& o = *e.mutable_order();
    o.set_upgrade_id(upgrade_id);
    o.set_database(database);
    o.set_tenant(tenant);
    o.set_from_version("16.0");
    o.set_target_version("18.0");
    o.set_purpose(upgrade::v1::PURPOSE_TEST);
    ToProto(created_at, o.mutable_created_at());
    ToProto(created_at, e.mutable_occurred_at());
    e.set_source("request");
    e.mutable_accepted();
    absl::StatusOr<std::optional<upgrade::v1::Upgrade>> applied = store_->Apply(e);
    ASSERT_TRUE(applied.ok()) << applied.status();
  }

  std::string db_;
  std::unique_ptr<PgStatusStore> store_;
};

// Keyset pages over the real table: every upgrade of the tenant once, newest first, even when many
// were created in the same microsecond; none of another tenant's.
TEST_F(StatusStoreTest, ListsOneTenantsUpgradesPageByPageOnceEachNewestFirst) {
  const absl::Time base = absl::FromUnixSeconds(1790000000) + absl::Nanoseconds(123456789);
  std::set<std::string> acme;
  for (int i = 0; i < 2500; ++i) {
    const std::string id = absl::StrFormat("%08x-0000-4000-8000-%012x", i * 7919 % 2500, i);
    const std::string tenant = i % 4 == 0 ? "globex" : "acme";
    Accept(id, "shop", tenant, base + absl::Microseconds(i / 25));  // 25 share each microsecond
    if (tenant == "acme") acme.insert(id);
  }
  std::vector<upgrade::v1::Upgrade> seen;
  std::optional<UpgradeCursor> after;
  for (int pages = 0; pages < 100; ++pages) {
    absl::StatusOr<std::vector<upgrade::v1::Upgrade>> page = store_->ListUpgrades("shop", "acme", after, 400);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    seen.insert(seen.end(), page->begin(), page->end());
    const upgrade::v1::Upgrade& last = page->back();
    after = UpgradeCursor{absl::ToUnixMicros(FromProto(last.created_at())), last.upgrade_id()};
  }
  ASSERT_EQ(seen.size(), acme.size());
  std::set<std::string> ids;
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].tenant(), "acme");
    ids.insert(seen[i].upgrade_id());
    if (i > 0) {
      auto key = [](const upgrade::v1::Upgrade& u) {
        return std::make_pair(absl::ToUnixMicros(FromProto(u.created_at())), u.upgrade_id());
      };
      EXPECT_LT(key(seen[i]), key(seen[i - 1])) << i;
    }
  }
  EXPECT_EQ(ids, acme);
  // Every tenant's (an operator's view), and a limit.
  absl::StatusOr<std::vector<upgrade::v1::Upgrade>> all = store_->ListUpgrades("shop", std::nullopt, std::nullopt, 5000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2500u);
  EXPECT_EQ(store_->ListUpgrades("shop", "globex", std::nullopt, 7)->size(), 7u);
  EXPECT_TRUE(store_->ListUpgrades("shop", "initech", std::nullopt, 7)->empty());
}

// upgrade.orders and upgrade.events are not ordered with each other: a worker's record may come
// ahead of request's acceptance. It is kept and applied with it when it carries the order that
// acceptance announced; one that does not is refused then; one whose acceptance never comes is
// never shown, and forgotten.
TEST_F(StatusStoreTest, ARecordAheadOfItsAcceptanceIsAppliedWithItIfItCarriesTheAnnouncedOrder) {
  const std::string id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  const absl::Time t0 = absl::FromUnixSeconds(1790000000);
  auto worker_says = [&](const std::string& kind, const std::string& database, const std::function<void(upgrade::v1::Event&)>& fill) {
    upgrade::v1::Event e;
    e.set_event_id(absl::StrCat(id, "/", kind, "/", database));
    upgrade::v1::Order& o = *e.mutable_order();
    o.set_upgrade_id(id);
    o.set_database(database);
    o.set_tenant("acme");
    o.set_from_version("16.0");
    o.set_target_version("18.0");
    o.set_purpose(upgrade::v1::PURPOSE_TEST);
    ToProto(t0, o.mutable_created_at());
    ToProto(t0 + absl::Seconds(1), e.mutable_occurred_at());
    e.set_source("cloner");
    fill(e);
    return e;
  };
  auto started = worker_says("clone_started", "shop", [](upgrade::v1::Event& e) { e.mutable_clone_started(); });
  auto elsewhere = worker_says("migration_started", "other_shop", [](upgrade::v1::Event& e) { e.mutable_migration_started(); });
  for (const auto& e : {started, elsewhere}) {
    absl::StatusOr<std::optional<upgrade::v1::Upgrade>> kept = store_->Apply(e);
    ASSERT_TRUE(kept.ok()) << kept.status();
    EXPECT_FALSE(kept->has_value());
  }
  EXPECT_EQ(store_->GetUpgrade(id).status().code(), absl::StatusCode::kNotFound);  // nothing shown yet
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM status.pending_events"), "2");

  Accept(id, "shop", "acme", t0);
  absl::StatusOr<upgrade::v1::Upgrade> shown = store_->GetUpgrade(id);
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->state(), upgrade::v1::STATE_CLONING);  // the early record, applied
  EXPECT_EQ(shown->database(), "shop");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM status.pending_events"), "0");
  // After the acceptance, a record naming another database is refused outright.
  EXPECT_EQ(store_->Apply(worker_says("migrated", "other_shop", [](upgrade::v1::Event& e) { e.mutable_migrated(); }))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->GetUpgrade(id)->state(), upgrade::v1::STATE_CLONING);

  // An acceptance that never comes: kept, never shown, forgotten.
  upgrade::v1::Event orphan = started;
  orphan.mutable_order()->set_upgrade_id("6b2d1f0e-3c4a-4e5b-9f8a-7d6c5b4a3e2f");
  orphan.set_event_id("orphan");
  ASSERT_TRUE(store_->Apply(orphan).ok());
  EXPECT_EQ(*store_->ForgetPendingBefore(absl::Now() + absl::Seconds(1)), 1);
  EXPECT_EQ(store_->GetUpgrade("6b2d1f0e-3c4a-4e5b-9f8a-7d6c5b4a3e2f").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace upshift::status
