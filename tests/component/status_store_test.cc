// PgStatusStore against real PostgreSQL.

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/common/ids.h"
#include "libs/common/time.h"
#include "libs/kafka/events.h"
#include "libs/gate/late_acceptances.h"
#include "services/status/intake.h"
#include "services/status/pg_status_store.h"
#include "tests/component/environment.h"
#include "tests/support/order_book_gate.h"

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

// The acceptance of an upgrade never reached status (the fault suite saw it once after a broker
// outage), though the workers carried the upgrade out: their records wait for it. After the wait,
// status takes the order from request's gate and applies the very acceptance request published:
// the upgrade and its tag show, the held records with it; the acceptance, coming late after all,
// changes nothing. Records about an upgrade request never admitted are forgotten, unshown.
TEST_F(StatusStoreTest, AnAcceptanceThatNeverCameIsTakenFromRequestsStoredOrder) {
  const std::string id = "3d0c8a1e-5b7f-4c2d-9e6a-1f0b2c3d4e5f";
  const std::string forged = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
  const absl::Time t0 = absl::Now() - absl::Seconds(30);
  upgrade::v1::Order order;
  order.set_upgrade_id(id);
  order.set_database("shop");
  order.set_tenant("acme");
  order.set_from_version("16.0");
  order.set_target_version("18.0");
  order.set_purpose(upgrade::v1::PURPOSE_PRODUCTION);
  order.set_restore_point("shop_rp_3d0c8a1e");
  ToProto(t0, order.mutable_created_at());
  upshift::testing::OrderBookGate gate;
  gate.orders[id] = order;
  auto worker_says = [&](const upgrade::v1::Order& about, const std::string& kind) {
    upgrade::v1::Event e = MakeEvent(about, kind, "cloner", t0 + absl::Seconds(1));
    if (kind == "went_offline") e.mutable_went_offline();
    if (kind == "snapshot_started") e.mutable_snapshot_started();
    return e;
  };
  upgrade::v1::Order forged_order = order;
  forged_order.set_upgrade_id(forged);
  forged_order.set_database("other_shop");
  for (const upgrade::v1::Event& e : {worker_says(order, "went_offline"), worker_says(order, "snapshot_started"),
                                      worker_says(forged_order, "went_offline")}) {
    absl::StatusOr<std::optional<upgrade::v1::Upgrade>> held = store_->Apply(e);
    ASSERT_TRUE(held.ok()) << held.status();
    EXPECT_FALSE(held->has_value());
  }
  ChangeHub hub;
  int recorded = 0;
  EventIntake intake(*store_, hub, [&] { ++recorded; });
  LateAcceptances late("status", intake, gate, absl::Seconds(10));
  // Within the wait nothing is asked: the acceptance may still be on its way.
  EXPECT_EQ(*late.Resolve(absl::Now()), 0);
  EXPECT_TRUE(gate.asked.empty());
  // request away: nothing changes, and the next pass asks again.
  gate.away = true;
  EXPECT_EQ(late.Resolve(absl::Now() + absl::Seconds(11)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->GetUpgrade(id).status().code(), absl::StatusCode::kNotFound);
  gate.away = false;
  EXPECT_EQ(*late.Resolve(absl::Now() + absl::Seconds(11)), 1);
  EXPECT_EQ(recorded, 1);  // recorded as the consumer records a change: watchers and the relay woken
  EXPECT_GE(hub.generation(), 1u);
  absl::StatusOr<upgrade::v1::Upgrade> shown = store_->GetUpgrade(id);
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->state(), upgrade::v1::STATE_SNAPSHOTTING);  // both held records applied after it
  EXPECT_EQ(shown->database(), "shop");
  EXPECT_EQ(shown->tenant(), "acme");
  EXPECT_EQ(FromProto(shown->created_at()), FromProto(order.created_at()));
  absl::StatusOr<std::map<std::string, DatabaseRecord>> records = store_->DatabaseRecordsOf("shop");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->count("shop"), 1u);
  const std::vector<upgrade::v1::Tag>& tags = records->at("shop").tags;
  EXPECT_EQ(std::set<upgrade::v1::Tag>(tags.begin(), tags.end()),
            (std::set<upgrade::v1::Tag>{upgrade::v1::TAG_UPGRADE_IN_PROGRESS, upgrade::v1::TAG_OFFLINE}));
  // request's own record of the acceptance, late after all: the same event, applied once.
  absl::StatusOr<std::optional<upgrade::v1::Upgrade>> again = store_->Apply(AcceptanceOf(order, t0));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(store_->GetUpgrade(id)->state(), upgrade::v1::STATE_SNAPSHOTTING);
  // The upgrade request never admitted: unshown, its record forgotten at once (however many pile
  // up, they never stand before a real repair), so it is asked about once only.
  EXPECT_EQ(*late.Resolve(absl::Now() + absl::Seconds(12)), 0);
  EXPECT_EQ(store_->GetUpgrade(forged).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gate.asked[forged], 1);
  EXPECT_EQ(gate.asked[id], 2);  // once while request was away, once answered
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM status.pending_events"), "0");
}

}  // namespace
}  // namespace upshift::status
