// PgCloneStore against real PostgreSQL: what the cloner remembers between Production phases.

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/ids.h"
#include "services/cloner/pg_clone_store.h"
#include "tests/component/environment.h"

namespace upshift::cloner {
namespace {

using upshift::testing::Postgres;

class CloneStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = absl::StrCat("clones_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db_).ok());
    auto store = PgCloneStore::Open(Postgres().conninfo(db_));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  std::string db_;
  std::unique_ptr<PgCloneStore> store_;
};

// A platform database written by a release without cloner.made: the copies and restore points it
// recorded are the cloner's to drop (and a restore point of an upgrade in flight, to roll back to).
TEST_F(CloneStoreTest, DatabasesRecordedBeforeTheLedgerExistedCountAsMade) {
  const std::string id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  upgrade::v1::Order order;
  order.set_upgrade_id(id);
  order.set_database("acme");
  order.set_test_database(TestDatabaseName("acme", id));
  ASSERT_TRUE(store_->Save(order, upgrade::v1::CloneSucceeded(), absl::Now(), absl::Now() + absl::Hours(1)).ok());
  const std::string production = "1f8fad5b-d9cb-469f-a165-70867728950e";
  order.set_upgrade_id(production);
  ASSERT_TRUE(store_->SaveOffline(order, -1, absl::Now(), 16384).ok());
  ASSERT_TRUE(store_->SaveSnapshot(production, upgrade::v1::SnapshotSucceeded()).ok());
  // As a release before the ledger (and before schema versions) left the platform database: no
  // cloner.made, no cloner.schema_versions. Version 1 makes the ledger and fills it.
  ASSERT_TRUE(Postgres().Exec(db_, "DROP TABLE cloner.made, cloner.applied_events, cloner.schema_versions").ok());
  auto reopened = PgCloneStore::Open(Postgres().conninfo(db_));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE(*(*reopened)->Made(id, TestDatabaseName("acme", id)));
  EXPECT_TRUE(*(*reopened)->Made(production, RestorePointName("acme", production)));
  EXPECT_FALSE(*(*reopened)->Made(production, "acme"));
}

TEST_F(CloneStoreTest, RemembersTheProductionPhasesAndTheFirstConnectionLimit) {
  absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  upgrade::v1::Order order;
  order.set_upgrade_id("u1");
  order.set_database("acme");
  ASSERT_TRUE(store_->SaveOffline(order, 25, t0, 16384).ok());
  // A redelivery changes nothing.
  ASSERT_TRUE(store_->SaveOffline(order, 0, t0 + absl::Seconds(5), 16999).ok());
  upgrade::v1::SnapshotSucceeded snapshot;
  snapshot.add_rows()->set_rows(7);
  ASSERT_TRUE(store_->SaveSnapshot("u1", snapshot).ok());
  auto record = store_->FindProduction("u1");
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((*record)->previous_connection_limit, 25);
  EXPECT_EQ((*record)->offline_at, t0);
  EXPECT_EQ((*record)->database_oid, 16384);
  ASSERT_TRUE((*record)->snapshot.has_value());
  EXPECT_EQ((*record)->snapshot->rows(0).rows(), 7);
  EXPECT_FALSE((*record)->rolled_back);
  EXPECT_FALSE(store_->FindProduction("u2")->has_value());
  auto in_flight = store_->InFlightProductions();
  ASSERT_TRUE(in_flight.ok());
  ASSERT_EQ(in_flight->size(), 1u);
  EXPECT_EQ((*in_flight)[0].first.database(), "acme");
  ASSERT_TRUE(store_->SaveRolledBack("u1").ok());
  EXPECT_TRUE(store_->InFlightProductions()->empty());
}

// A success and a rollback racing to end one upgrade: the first claim wins, the second is told so,
// and an upgrade whose success is claimed is no longer in flight for the sweep.
TEST_F(CloneStoreTest, TheFirstOutcomeClaimedWinsAndASucceedingUpgradeIsNotInFlight) {
  upgrade::v1::Order order;
  order.set_upgrade_id("u3");
  order.set_database("acme");
  EXPECT_EQ(store_->ClaimOutcome("u3", ProductionOutcome::kSucceeded).status().code(),
            absl::StatusCode::kFailedPrecondition);  // never went offline
  ASSERT_TRUE(store_->SaveOffline(order, -1, absl::Now(), 16384).ok());
  ASSERT_TRUE(store_->SaveSnapshot("u3", upgrade::v1::SnapshotSucceeded()).ok());
  ASSERT_EQ(store_->InFlightProductions()->size(), 1u);
  EXPECT_TRUE(*store_->ClaimOutcome("u3", ProductionOutcome::kSucceeded));
  EXPECT_TRUE(*store_->ClaimOutcome("u3", ProductionOutcome::kSucceeded));  // a redelivery: still ours
  EXPECT_FALSE(*store_->ClaimOutcome("u3", ProductionOutcome::kRolledBack));
  EXPECT_TRUE(store_->InFlightProductions()->empty());
}

TEST_F(CloneStoreTest, ListsRestorePointsPastTheirRetentionUntilDropped) {
  absl::Time done = absl::FromUnixSeconds(1'800'000'000);
  upgrade::v1::Order order;
  order.set_upgrade_id("u1");
  order.set_database("acme");
  order.set_server("east-1");
  ASSERT_TRUE(store_->SaveOffline(order, -1, done - absl::Minutes(1), 16384).ok());
  ASSERT_TRUE(store_->SaveSucceeded("u1", "acme_rp_u1", done).ok());
  EXPECT_TRUE(store_->RestorePointsKeptSince(done)->empty());
  auto expired = store_->RestorePointsKeptSince(done + absl::Seconds(1));
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, (std::map<std::string, KeptRestorePoint>{{"u1", {"acme_rp_u1", "east-1"}}}));
  ASSERT_TRUE(store_->SaveRestorePointDropped("u1").ok());
  EXPECT_TRUE(store_->RestorePointsKeptSince(done + absl::Hours(1))->empty());
}

}  // namespace
}  // namespace upshift::cloner
