#include "services/cloner/cloner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "tests/unit/fakes.h"

namespace upshift::cloner {
namespace {

using namespace upgrade::v1;
using upshift::testing::FakeClock;
using upshift::testing::FakeHosting;
using upshift::testing::FakePublisher;
using upshift::testing::SampleOrder;

// One fake for the four stores (each store's part reads as the port it fakes).
class FakeCloneStore final : public DatabaseLedger, public TestCopyStore, public ProductionStore, public AppliedEvents {
 public:
  absl::StatusOr<bool> WasApplied(const std::string& id) override { return applied.count(id) > 0; }
  absl::Status MarkApplied(const std::string& id) override {
    applied.insert(id);
    return absl::OkStatus();
  }
  absl::StatusOr<int> ForgetAppliedBefore(absl::Time, int) override {
    int n = static_cast<int>(applied.size());
    applied.clear();
    return n;
  }
  std::set<std::string> applied;
  absl::StatusOr<std::optional<CloneSucceeded>> Find(const std::string& id) override {
    auto it = clones.find(id);
    if (it == clones.end()) return std::nullopt;
    return it->second;
  }
  absl::Status Save(const Order& order, const CloneSucceeded& r, absl::Time cloned_at, absl::Time expires_at) override {
    clones.emplace(order.upgrade_id(), r);
    copies.push_back({order, cloned_at, expires_at, 0});
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<CopyRecord>> LiveCopies(const std::string& database) override {
    std::vector<CopyRecord> out;
    for (const CopyRecord& c : copies) {
      if (!dropped.count(c.order.upgrade_id()) && (database.empty() || c.order.database() == database)) out.push_back(c);
    }
    return out;
  }
  absl::Status MarkCopyDropped(const std::string& id) override {
    dropped.insert(id);
    return absl::OkStatus();
  }
  absl::Status SetCopyWarned(const std::string& id, int days) override {
    for (CopyRecord& c : copies) {
      if (c.order.upgrade_id() == id) c.warned_days = days;
    }
    return absl::OkStatus();
  }
  absl::Status SetCopyExpiry(const std::string& id, absl::Time at) override {
    for (CopyRecord& c : copies) {
      if (c.order.upgrade_id() == id) {
        c.expires_at = at;
        c.warned_days = 0;
      }
    }
    return absl::OkStatus();
  }
  std::vector<CopyRecord> copies;
  std::set<std::string> dropped;
  absl::Status RecordDrop(const std::string& id, const std::string& db, const std::string&) override {
    drops.push_back(db);
    return absl::OkStatus();
  }
  absl::Status RecordMaking(const std::string& id, const std::string& db) override {
    made.insert({id, db});
    return absl::OkStatus();
  }
  absl::Status ForgetMaking(const std::string& id, const std::string& db) override {
    made.erase({id, db});
    return absl::OkStatus();
  }
  absl::StatusOr<bool> Made(const std::string& id, const std::string& db) override { return made.count({id, db}) > 0; }
  std::set<std::pair<std::string, std::string>> made;
  absl::StatusOr<std::optional<ProductionRecord>> FindProduction(const std::string& id) override {
    auto it = productions.find(id);
    if (it == productions.end()) return std::nullopt;
    return it->second;
  }
  absl::Status SaveOffline(const Order& order, int32_t limit, absl::Time at, int64_t oid) override {
    ProductionRecord record;
    record.previous_connection_limit = limit;
    record.offline_at = at;
    record.database_oid = oid;
    auto [it, added] = productions.emplace(order.upgrade_id(), record);
    if (!added && it->second.database_oid == 0) it->second.database_oid = oid;
    orders[order.upgrade_id()] = order;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::pair<Order, absl::Time>>> InFlightProductions() override {
    std::vector<std::pair<Order, absl::Time>> out;
    for (const auto& [id, p] : productions) {
      bool succeeding = outcomes.count(id) && outcomes[id] == ProductionOutcome::kSucceeded;
      if (p.snapshot.has_value() && !p.rolled_back && !kept.count(id) && !succeeding) {
        out.emplace_back(orders[id], p.offline_at);
      }
    }
    return out;
  }
  std::map<std::string, Order> orders;
  absl::Status snapshot_saved;  // what SaveSnapshot returns (and then it saves nothing)
  absl::Status SaveSnapshot(const std::string& id, const SnapshotSucceeded& s) override {
    if (!snapshot_saved.ok()) return snapshot_saved;
    productions[id].snapshot = s;
    return absl::OkStatus();
  }
  absl::Status SaveRolledBack(const std::string& id) override {
    productions[id].rolled_back = true;
    return absl::OkStatus();
  }
  absl::StatusOr<bool> ClaimOutcome(const std::string& id, ProductionOutcome outcome) override {
    if (!productions.count(id)) return absl::FailedPreconditionError("no record");
    auto [it, fresh] = outcomes.try_emplace(id, outcome);
    return it->second == outcome;
  }
  std::map<std::string, ProductionOutcome> outcomes;
  absl::Status SaveSucceeded(const std::string& id, const std::string& rp, absl::Time at) override {
    kept[id] = {rp, at};
    return absl::OkStatus();
  }
  absl::StatusOr<std::map<std::string, KeptRestorePoint>> RestorePointsKeptSince(absl::Time cutoff) override {
    std::map<std::string, KeptRestorePoint> out;
    for (const auto& [id, k] : kept) {
      if (k.second < cutoff) out[id] = {k.first, ""};
    }
    return out;
  }
  absl::Status SaveRestorePointDropped(const std::string& id) override {
    kept.erase(id);
    return absl::OkStatus();
  }
  std::map<std::string, CloneSucceeded> clones;
  std::map<std::string, std::pair<std::string, absl::Time>> kept;
  std::map<std::string, ProductionRecord> productions;
  std::vector<std::string> drops;
};

class ClonerTest : public ::testing::Test {
 protected:
  ClonerTest() { hosting_.Add("acme", "16.0", {{"public.a", 3}, {"public.b", 7}}); }
  Cloner Make(CloneMethod method = CloneMethod::kAuto) {
    return Cloner({method, "file_copy", absl::Hours(24 * 7), absl::Minutes(10), 2, absl::Hours(24 * 30)}, Ports());
  }
  ClonerPorts Ports() { return {fleet_, store_, store_, store_, store_, publisher_, gate_, clock_}; }
  FakeHosting hosting_;
  FixedFleet fleet_{{{"main", &hosting_}}};
  FakeCloneStore store_;
  FakePublisher publisher_;
  upshift::testing::FakeGate gate_;
  FakeClock clock_;
};

TEST_F(ClonerTest, CopiesWithATemplateAndAnnouncesEqualRowCounts) {
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(hosting_.calls, (std::vector<std::string>{"checkpoint", "template acme_test_0f8fad5b"}));
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].has_clone_started());
  ASSERT_TRUE(events[1].has_clone_succeeded());
  ASSERT_EQ(events[1].clone_succeeded().copy_rows_size(), 2);
  EXPECT_EQ(events[1].clone_succeeded().copy_rows(1).rows(), 7);
  EXPECT_EQ(store_.clones.size(), 1u);
}

TEST_F(ClonerTest, AutoCopiesASmallDatabaseThroughTheWalAndALargeOneFileByFile) {
  ClonerOptions options;  // template_strategy "auto", file_copy from 128 MB
  Cloner cloner(options, Ports());
  hosting_.dbs["acme"].size_bytes = (int64_t{128} << 20) - 1;
  ASSERT_TRUE(cloner.test_copies().OnAccepted(SampleOrder()).ok());
  hosting_.Add("big", "16.0", {{"public.a", 3}});
  hosting_.dbs["big"].size_bytes = int64_t{128} << 20;
  Order big = SampleOrder();
  big.set_upgrade_id("11111111-2222-4333-8444-555555555555");
  big.set_database("big");
  big.set_test_database("big_test_11111111");
  ASSERT_TRUE(cloner.test_copies().OnAccepted(big).ok());
  EXPECT_EQ(hosting_.strategies, (std::vector<std::string>{"wal_log", "file_copy"}));
  // The file-level copy only after a checkpoint, as a restore point is made: its time is the estimate's.
  EXPECT_EQ(std::count(hosting_.calls.begin(), hosting_.calls.end(), "checkpoint"), 1);
  auto checkpoint = std::find(hosting_.calls.begin(), hosting_.calls.end(), "checkpoint");
  ASSERT_NE(checkpoint, hosting_.calls.end());
  EXPECT_EQ(*(checkpoint + 1), "template big_test_11111111");
  // A strategy set by the operator is used whatever the size.
  options.template_strategy = "wal_log";
  Cloner fixed(options, Ports());
  big.set_upgrade_id("21111111-2222-4333-8444-555555555555");
  big.set_test_database("big_test_21111111");
  ASSERT_TRUE(fixed.test_copies().OnAccepted(big).ok());
  EXPECT_EQ(hosting_.strategies.back(), "wal_log");
}

TEST_F(ClonerTest, ARedeliveredOrderWhoseCopyIsDoneDoesNothing) {
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(gate_.done.count({SampleOrder().upgrade_id(), "copy"}), 1u);  // announced, then marked done
  hosting_.calls.clear();
  publisher_.records.clear();
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_TRUE(hosting_.calls.empty());
  EXPECT_TRUE(publisher_.Events().empty());
}

TEST_F(ClonerTest, ARedeliveredOrderRepublishesTheResultWithoutCopyingAgain) {
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  gate_.done.clear();  // the replica died between recording the copy and marking its claim done
  hosting_.calls.clear();
  publisher_.records.clear();
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_TRUE(hosting_.calls.empty());
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].has_clone_succeeded());
}

TEST_F(ClonerTest, ACopyClaimedByAnotherReplicaWaitsAndCopiesNothing) {
  gate_.claims[{SampleOrder().upgrade_id(), "copy"}] = "cloner/other/7/abcdef";
  absl::Status s = Make().test_copies().OnAccepted(SampleOrder());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;  // retried until the other is done or dead
  EXPECT_TRUE(hosting_.calls.empty());
  EXPECT_TRUE(publisher_.Events().empty());
}

TEST_F(ClonerTest, ALeftoverCopyFromACrashedAttemptIsReplaced) {
  hosting_.Add("acme_test_0f8fad5b", "16.0", {{"public.a", 1}});
  store_.made.insert({SampleOrder().upgrade_id(), "acme_test_0f8fad5b"});  // the attempt recorded making it
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(hosting_.calls, (std::vector<std::string>{"checkpoint", "template acme_test_0f8fad5b",
                                                      "drop acme_test_0f8fad5b", "template acme_test_0f8fad5b"}));
  EXPECT_TRUE(publisher_.Events().back().has_clone_succeeded());
  EXPECT_EQ(hosting_.dbs["acme_test_0f8fad5b"].rows.at("public.b"), 7);
}

TEST_F(ClonerTest, ASourceInUseIsCopiedByDumpInAutoMode) {
  hosting_.dbs["acme"].busy = true;
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(hosting_.calls.back(), "dump acme_test_0f8fad5b");
  EXPECT_TRUE(publisher_.Events().back().has_clone_succeeded());
}

TEST_F(ClonerTest, ADumpedCopyIsComparedWithTheSourceAsItWasCopiedNotAsItWasWrittenSince) {
  hosting_.dbs["acme"].busy = true;
  hosting_.written_during_dumps = 3;
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_clone_succeeded()) << last.DebugString();
  EXPECT_EQ(hosting_.dbs["acme"].rows.at("public.b"), 10);  // the source went on
  for (const auto* counts : {&last.clone_succeeded().source_rows(), &last.clone_succeeded().copy_rows()}) {
    for (const TableCount& c : *counts) {
      if (c.table() == "public.b") {
        EXPECT_EQ(c.rows(), 7) << c.DebugString();
      }
    }
  }
}

TEST_F(ClonerTest, ATemplateCopyOfASourceWrittenRightAfterIsMadeAgainByDumpInAutoMode) {
  hosting_.written_after_template_copies = 2;
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_THAT(hosting_.calls, ::testing::ElementsAre("checkpoint", "template acme_test_0f8fad5b",
                                                     "drop acme_test_0f8fad5b", "dump acme_test_0f8fad5b"));
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_clone_succeeded()) << last.DebugString();
  for (const TableCount& c : last.clone_succeeded().copy_rows()) {
    if (c.table() == "public.b") {
      EXPECT_EQ(c.rows(), 9) << c.DebugString();  // 7, and 2 written after the template copy
    }
  }
  EXPECT_EQ(store_.clones.size(), 1u);
}

TEST_F(ClonerTest, ATemplateCopyOfASourceWrittenRightAfterFailsTheUpgradeInTemplateMode) {
  hosting_.written_after_template_copies = 2;
  ASSERT_TRUE(Make(CloneMethod::kTemplate).test_copies().OnAccepted(SampleOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "does not match its source")) << last.failed().error();
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
}

TEST_F(ClonerTest, ASourceInUseFailsTheUpgradeInTemplateMode) {
  hosting_.dbs["acme"].busy = true;
  ASSERT_TRUE(Make(CloneMethod::kTemplate).test_copies().OnAccepted(SampleOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_EQ(last.failed().phase(), "clone");
}

// A copy that fails because its server died under it is the server's trouble, not the Test's: it is
// tried again once the server answers (UNAVAILABLE), and nothing says the upgrade failed.
TEST_F(ClonerTest, ACopyWhoseServerDiesUnderItIsRetriedNotFailed) {
  hosting_.dies_in_a_copy = true;
  absl::Status copied = Make(CloneMethod::kTemplate).test_copies().OnAccepted(SampleOrder());
  EXPECT_EQ(copied.code(), absl::StatusCode::kUnavailable) << copied;
  EXPECT_TRUE(absl::StrContains(copied.message(), "connection to server lost")) << copied;
  for (const Event& e : publisher_.Events()) EXPECT_FALSE(e.has_failed()) << e.DebugString();
}

TEST_F(ClonerTest, ACopyThatDiffersFromItsSourceIsDroppedAndTheUpgradeFails) {
  hosting_.corrupt_copies = true;
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  // The template copy differs; so does the dump made in its place.
  EXPECT_EQ(hosting_.calls.back(), "drop acme_test_0f8fad5b");
  EXPECT_EQ(std::count(hosting_.calls.begin(), hosting_.calls.end(), "dump acme_test_0f8fad5b"), 1);
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "public.a")) << last.failed().error();
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
  EXPECT_TRUE(store_.clones.empty());
}

TEST_F(ClonerTest, AnUnreachableServerIsRetried) {
  hosting_.down = absl::UnavailableError("down");
  EXPECT_EQ(Make().test_copies().OnAccepted(SampleOrder()).code(), absl::StatusCode::kUnavailable);
  for (const Event& e : publisher_.Events()) EXPECT_FALSE(e.has_failed());
}

TEST_F(ClonerTest, AFailedTestsCopyIsDroppedAndRecorded) {
  gate_.Admit(SampleOrder());
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  ASSERT_TRUE(Make().test_copies().OnFailed(SampleOrder()).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
  EXPECT_EQ(store_.drops, (std::vector<std::string>{"acme_test_0f8fad5b"}));
}

// A leaked worker key, or a record replayed, may say a finished Test failed: request recorded that
// its copy was handed over, so the copy stays.
TEST_F(ClonerTest, AFailureSaidOfATestWhoseCopyWasHandedOverDropsNothing) {
  gate_.Admit(SampleOrder());
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  gate_.handed_over.insert(SampleOrder().upgrade_id());
  absl::Status refused = Make().test_copies().OnFailed(SampleOrder());
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("handed over"));
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
  EXPECT_TRUE(store_.drops.empty());
}

TEST_F(ClonerTest, ACancellationNobodyAskedForDropsNothing) {
  gate_.Admit(SampleOrder());
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  absl::Status refused = Make().test_copies().OnCancelled(SampleOrder());
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
}

Order ProductionOrder() {
  Order o = SampleOrder(PURPOSE_PRODUCTION);
  o.set_test_database("");
  o.set_restore_point("acme_rp_0f8fad5b");
  return o;
}

std::vector<std::string> Kinds(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) out.push_back(e.event_id().substr(e.event_id().find('/') + 1));
  return out;
}

// The database that went offline becomes the restore point, untouched; a copy of it takes its name,
// offline too, and is what the plan upgrades.
TEST_F(ClonerTest, ProductionGoesOfflineAndItsDatabaseBecomesTheRestorePointWhileACopyTakesItsName) {
  hosting_.dbs["acme"].connection_limit = 25;
  const int64_t original = hosting_.dbs["acme"].oid;
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  ASSERT_EQ(hosting_.dbs.count("acme_rp_0f8fad5b"), 1u);
  EXPECT_EQ(hosting_.dbs["acme_rp_0f8fad5b"].oid, original);
  EXPECT_NE(hosting_.dbs["acme"].oid, original);
  for (const std::string& db : {"acme", "acme_rp_0f8fad5b"}) {
    EXPECT_EQ(hosting_.dbs[db].connection_limit, 0) << db;
    EXPECT_FALSE(hosting_.dbs[db].online) << db;
  }
  EXPECT_EQ(hosting_.dbs["acme"].rows, hosting_.dbs["acme_rp_0f8fad5b"].rows);
  EXPECT_EQ(store_.productions["0f8fad5b-d9cb-469f-a165-70867728950e"].database_oid, original);
  // Copied while offline, then swapped: the lease goes to the copy, after the swap.
  std::vector<std::string> order;
  for (const std::string& call : hosting_.calls) {
    if (call == "template acme_rp_0f8fad5b" || call == "limit acme_rp_0f8fad5b 0" ||
        call == "swap acme acme_rp_0f8fad5b" || absl::StartsWith(call, "lease acme")) {
      order.push_back(call);
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"template acme_rp_0f8fad5b", "limit acme_rp_0f8fad5b 0",
                                              "swap acme acme_rp_0f8fad5b", "lease acme"}));
  EXPECT_EQ(Kinds(publisher_.Events()),
            (std::vector<std::string>{"went_offline", "snapshot_started", "snapshot_succeeded"}));
  Event last = publisher_.Events().back();
  EXPECT_EQ(last.snapshot_succeeded().previous_connection_limit(), 25);
  EXPECT_EQ(last.snapshot_succeeded().verified_by(), "original");
  EXPECT_EQ(last.snapshot_succeeded().rows_size(), 0);  // the migrator reads the restore point beside the steps
}

// An attempt that stopped after the swap, before it was recorded, resumes without copying again:
// the restore point, the database's own files, is never dropped as an unfinished copy.
TEST_F(ClonerTest, AnAttemptResumedAfterTheSwapNeverDropsTheRestorePoint) {
  const int64_t original = hosting_.dbs["acme"].oid;
  Cloner cloner = Make();
  store_.snapshot_saved = absl::UnavailableError("the platform's database went away");
  EXPECT_EQ(cloner.production().OnProductionAccepted(ProductionOrder()).code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(hosting_.dbs["acme_rp_0f8fad5b"].oid, original);  // swapped, not recorded
  store_.snapshot_saved = absl::OkStatus();
  hosting_.calls.clear();
  publisher_.records.clear();
  ASSERT_TRUE(cloner.production().OnProductionAccepted(ProductionOrder()).ok());
  EXPECT_EQ(hosting_.dbs["acme_rp_0f8fad5b"].oid, original);
  for (const std::string& call : hosting_.calls) {
    EXPECT_FALSE(absl::StartsWith(call, "drop") || absl::StartsWith(call, "template") || absl::StartsWith(call, "swap"))
        << call;
  }
  ASSERT_FALSE(publisher_.Events().empty());
  EXPECT_EQ(Kinds(publisher_.Events()).back(), "snapshot_succeeded");
}

// A copy an interrupted attempt left before the swap may be incomplete: it is dropped and made
// again, and only then swapped.
TEST_F(ClonerTest, ALeftoverCopyOfAnOfflineDatabaseIsMadeAgainBeforeTheSwap) {
  const int64_t original = hosting_.dbs["acme"].oid;
  hosting_.Add("acme_rp_0f8fad5b", "16.0", {{"public.a", 1}});
  store_.made.insert({ProductionOrder().upgrade_id(), "acme_rp_0f8fad5b"});  // the attempt recorded making it
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  std::vector<std::string> rp_calls;
  for (const std::string& call : hosting_.calls) {
    if (absl::StrContains(call, "acme_rp_0f8fad5b")) rp_calls.push_back(call);
  }
  EXPECT_EQ(rp_calls, (std::vector<std::string>{"template acme_rp_0f8fad5b", "drop acme_rp_0f8fad5b",
                                                "template acme_rp_0f8fad5b", "limit acme_rp_0f8fad5b 0",
                                                "terminate acme_rp_0f8fad5b", "swap acme acme_rp_0f8fad5b"}));
  EXPECT_EQ(hosting_.dbs["acme_rp_0f8fad5b"].oid, original);
  EXPECT_EQ(hosting_.dbs["acme"].rows, (TableRowCounts{{"public.a", 3}, {"public.b", 7}}));
  EXPECT_EQ(Kinds(publisher_.Events()).back(), "snapshot_succeeded");
}

// A resumed attempt trusts the swap only while the restore point is still the database that went
// offline: one its owner dropped (or replaced) meanwhile is no restore point, and nothing upgrades.
class LostRestorePointTest : public ClonerTest, public ::testing::WithParamInterface<bool> {};

TEST_P(LostRestorePointTest, AResumedAttemptWhoseRestorePointIsGoneUpgradesNothing) {
  const bool replaced = GetParam();
  const int64_t original = hosting_.dbs["acme"].oid;
  Cloner cloner = Make();
  store_.snapshot_saved = absl::UnavailableError("the platform's database went away");
  EXPECT_EQ(cloner.production().OnProductionAccepted(ProductionOrder()).code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(hosting_.dbs["acme_rp_0f8fad5b"].oid, original);
  if (replaced) {
    hosting_.dbs["acme_rp_0f8fad5b"].oid = original + 1000;
  } else {
    hosting_.dbs.erase("acme_rp_0f8fad5b");
  }
  store_.snapshot_saved = absl::OkStatus();
  hosting_.calls.clear();
  publisher_.records.clear();
  ASSERT_TRUE(cloner.production().OnProductionAccepted(ProductionOrder()).ok());
  for (const std::string& call : hosting_.calls) {
    EXPECT_FALSE(absl::StartsWith(call, "drop") || absl::StartsWith(call, "template") ||
                 absl::StartsWith(call, "swap") || absl::StartsWith(call, "lease"))
        << call;
  }
  ASSERT_FALSE(publisher_.Events().empty());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed()) << last.DebugString();
  EXPECT_EQ(last.failed().phase(), "snapshot");
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "nor its restore point acme_rp_0f8fad5b"))
      << last.failed().error();
  EXPECT_EQ(hosting_.dbs["acme"].connection_limit, -1);  // what it had before it went offline
  EXPECT_FALSE(store_.productions["0f8fad5b-d9cb-469f-a165-70867728950e"].snapshot.has_value());
}
INSTANTIATE_TEST_SUITE_P(DroppedOrReplaced, LostRestorePointTest, ::testing::Bool());

// A file-level copy begins with a checkpoint of the whole server. Taken while the database still
// serves, the one inside the window has little left to write; a copy through the WAL needs none.
TEST_F(ClonerTest, ALargeDatabaseIsCheckpointedWhileStillOnlineBeforeItsRestorePointIsCopied) {
  ClonerOptions options;  // template_strategy "auto", file_copy from 128 MB
  Cloner cloner(options, Ports());
  hosting_.dbs["acme"].size_bytes = int64_t{128} << 20;
  ASSERT_TRUE(cloner.production().OnProductionAccepted(ProductionOrder()).ok());
  ASSERT_GE(hosting_.calls.size(), 2u);
  EXPECT_EQ(hosting_.calls[0], "checkpoint");
  EXPECT_EQ(hosting_.calls[1], "limit acme 0");
  EXPECT_NE(std::find(hosting_.calls.begin(), hosting_.calls.end(), "template acme_rp_0f8fad5b"), hosting_.calls.end());
  EXPECT_EQ(hosting_.strategies, (std::vector<std::string>{"file_copy"}));
  EXPECT_EQ(std::count(hosting_.calls.begin(), hosting_.calls.end(), "checkpoint"), 1);

  Order small = ProductionOrder();
  small.set_upgrade_id("11111111-2222-4333-8444-555555555555");
  small.set_database("small");
  small.set_restore_point("small_rp_11111111");
  hosting_.Add("small", "16.0", {{"public.a", 3}}).size_bytes = (int64_t{128} << 20) - 1;
  hosting_.calls.clear();
  ASSERT_TRUE(cloner.production().OnProductionAccepted(small).ok());
  EXPECT_EQ(hosting_.calls.front(), "limit small 0");
  EXPECT_EQ(std::count(hosting_.calls.begin(), hosting_.calls.end(), "checkpoint"), 0);
  EXPECT_EQ(hosting_.strategies.back(), "wal_log");
}

// Whatever a copy gets wrong stays in the copy: the restore point is the database's own files. The
// migrator's audit holds the copy to them (MigratorTest); a rollback gives them back.
TEST_F(ClonerTest, ACopyThatDiffersNeverReachesTheRestorePointAndARollbackGivesTheOriginalBack) {
  const TableRowCounts rows = hosting_.dbs["acme"].rows;
  hosting_.corrupt_copies = true;
  Cloner cloner = Make();
  ASSERT_TRUE(cloner.production().OnProductionAccepted(ProductionOrder()).ok());
  EXPECT_EQ(hosting_.dbs["acme_rp_0f8fad5b"].rows, rows);
  EXPECT_NE(hosting_.dbs["acme"].rows, rows);
  ASSERT_TRUE(cloner.production().OnMigrationFailed(ProductionOrder(), "integrity check failed", false).ok());
  EXPECT_EQ(hosting_.dbs["acme"].rows, rows);
  EXPECT_EQ(hosting_.dbs.count("acme_rp_0f8fad5b"), 0u);
  EXPECT_EQ(Kinds(publisher_.Events()).back(), "rolled_back");
}

TEST_F(ClonerTest, AMigratedProductionDatabaseComesBackOnlineWithItsLimit) {
  hosting_.dbs["acme"].connection_limit = 25;
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  publisher_.records.clear();
  ASSERT_TRUE(Make().production().OnMigrated(ProductionOrder()).ok());
  EXPECT_EQ(hosting_.dbs["acme"].connection_limit, 25);
  EXPECT_EQ(Kinds(publisher_.Events()), (std::vector<std::string>{"coming_online", "succeeded"}));
  EXPECT_EQ(hosting_.dbs.count("acme_rp_0f8fad5b"), 1u);  // kept for its retention time
}

TEST_F(ClonerTest, AFailedMigrationIsRolledBackFromTheRestorePoint) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  hosting_.dbs["acme"].version = "17.0";  // half migrated
  hosting_.dbs["acme"].rows["public.a"] = 99;
  publisher_.records.clear();
  ASSERT_TRUE(Make().production().OnMigrationFailed(ProductionOrder(), "step 17.0->18.0/02 failed").ok());
  EXPECT_EQ(hosting_.dbs["acme"].version, "16.0");
  EXPECT_EQ(hosting_.dbs["acme"].rows.at("public.a"), 3);
  EXPECT_TRUE(hosting_.dbs["acme"].online);
  EXPECT_EQ(hosting_.dbs.count("acme_rp_0f8fad5b"), 0u);
  EXPECT_EQ(Kinds(publisher_.Events()), (std::vector<std::string>{"rolling_back", "rolled_back"}));
  EXPECT_EQ(publisher_.Events().back().rolled_back().error(), "step 17.0->18.0/02 failed");
  // Redelivered: nothing is replaced twice, the result is announced again.
  hosting_.calls.clear();
  ASSERT_TRUE(Make().production().OnMigrationFailed(ProductionOrder(), "step 17.0->18.0/02 failed").ok());
  for (const std::string& call : hosting_.calls) EXPECT_NE(call.rfind("replace", 0), 0u) << call;
}

TEST_F(ClonerTest, ARestorePointIsDroppedOnlyAfterItsRetention) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  ASSERT_TRUE(Make().production().OnMigrated(ProductionOrder()).ok());
  Cloner cloner = Make();
  clock_.now += absl::Hours(24 * 7) - absl::Minutes(1);
  EXPECT_EQ(*cloner.production().DropExpiredRestorePoints(), 0);
  EXPECT_EQ(hosting_.dbs.count("acme_rp_0f8fad5b"), 1u);
  clock_.now += absl::Minutes(2);
  EXPECT_EQ(*cloner.production().DropExpiredRestorePoints(), 1);
  EXPECT_EQ(hosting_.dbs.count("acme_rp_0f8fad5b"), 0u);
  EXPECT_EQ(store_.drops, (std::vector<std::string>{"acme_rp_0f8fad5b"}));
  EXPECT_EQ(*cloner.production().DropExpiredRestorePoints(), 0);  // recorded: not dropped twice
}

// Issue 25: a revert swaps the kept restore point in, once (a redelivery swaps nothing again), and
// the restore point, now the database, is never swept; one no longer kept changes nothing.
TEST_F(ClonerTest, ARevertSwapsTheKeptRestorePointInOnceAndItIsNeverSweptAfter) {
  hosting_.dbs["acme"].connection_limit = 25;
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  ASSERT_TRUE(Make().production().OnMigrated(ProductionOrder()).ok());
  hosting_.dbs["acme"].version = "18.0";
  hosting_.dbs["acme"].rows["public.a"] = 99;  // written after the upgrade
  Order revert = ProductionOrder();
  revert.set_upgrade_id("1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  revert.set_purpose(PURPOSE_REVERT);
  revert.set_from_version("18.0");
  revert.set_target_version("16.0");
  revert.set_reverts_upgrade_id(ProductionOrder().upgrade_id());
  publisher_.records.clear();
  ASSERT_TRUE(Make().production().OnRevertAccepted(revert).ok());
  EXPECT_EQ(hosting_.dbs["acme"].version, "16.0");
  EXPECT_EQ(hosting_.dbs["acme"].rows.at("public.a"), 3);
  EXPECT_EQ(hosting_.dbs["acme"].connection_limit, 25);
  EXPECT_EQ(hosting_.dbs.count("acme_rp_0f8fad5b"), 0u);
  EXPECT_EQ(Kinds(publisher_.Events()), (std::vector<std::string>{"went_offline", "coming_online", "succeeded"}));
  EXPECT_EQ(publisher_.Events().back().succeeded().version(), "16.0");
  hosting_.calls.clear();
  ASSERT_TRUE(Make().production().OnRevertAccepted(revert).ok());
  for (const std::string& call : hosting_.calls) EXPECT_NE(call.rfind("replace", 0), 0u) << call;
  clock_.now += absl::Hours(24 * 30);
  EXPECT_EQ(*Make().production().DropExpiredRestorePoints(), 0);
  EXPECT_EQ(hosting_.dbs.count("acme"), 1u);

  // A second revert order of the same upgrade (request refuses one; the cloner never acts on it).
  Order again = revert;
  again.set_upgrade_id("6fa459ea-ee8a-3ca4-894e-db77e160355e");
  publisher_.records.clear();
  ASSERT_TRUE(Make().production().OnRevertAccepted(again).ok());
  ASSERT_EQ(publisher_.Events().size(), 1u);
  EXPECT_TRUE(publisher_.Events()[0].has_failed());
  EXPECT_TRUE(absl::StrContains(publisher_.Events()[0].failed().error(), "is no longer kept")) << publisher_.Events()[0].DebugString();
  EXPECT_TRUE(hosting_.dbs["acme"].online);
}

TEST_F(ClonerTest, ARolledBackUpgradeKeepsNoRestorePointToSweep) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  ASSERT_TRUE(Make().production().OnMigrationFailed(ProductionOrder(), "boom").ok());
  clock_.now += absl::Hours(24 * 30);
  EXPECT_EQ(*Make().production().DropExpiredRestorePoints(), 0);
}

TEST_F(ClonerTest, AProductionCancelledBeforeGoingOfflineNeverGoesOffline) {
  gate_.cancelled.insert(ProductionOrder().upgrade_id());
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  EXPECT_TRUE(hosting_.dbs["acme"].online);
  EXPECT_EQ(hosting_.dbs.count("acme_rp_0f8fad5b"), 0u);
  EXPECT_EQ(Kinds(publisher_.Events()), (std::vector<std::string>{"cancelled"}));
}

TEST_F(ClonerTest, ACancelledRestoreIsAnnouncedAsACancellation) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  publisher_.records.clear();
  ASSERT_TRUE(Make().production().OnMigrationFailed(ProductionOrder(), "cancelled on request", true).ok());
  EXPECT_TRUE(publisher_.Events().back().rolled_back().cancelled());
  EXPECT_TRUE(hosting_.dbs["acme"].online);
}

TEST_F(ClonerTest, ACancelledTestsCopyIsDropped) {
  gate_.Admit(SampleOrder());
  gate_.cancelled.insert(SampleOrder().upgrade_id());
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  ASSERT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
  ASSERT_TRUE(Make().test_copies().OnCancelled(SampleOrder()).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
  EXPECT_EQ(store_.drops, (std::vector<std::string>{"acme_test_0f8fad5b"}));
}

TEST_F(ClonerTest, TheLeaseIsWrittenAfterTheRestorePointAndRemovedWhenOnline) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  EXPECT_EQ(hosting_.dbs["acme"].leases.count(ProductionOrder().upgrade_id()), 1u);
  EXPECT_TRUE(hosting_.dbs["acme_rp_0f8fad5b"].leases.empty());  // the restore point never lets a migrator in
  ASSERT_TRUE(Make().production().OnMigrated(ProductionOrder()).ok());
  EXPECT_TRUE(hosting_.dbs["acme"].leases.empty());
}

TEST_F(ClonerTest, AnUpgradeWhoseLeaseExpiredIsRolledBack) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  Cloner cloner = Make();
  hosting_.dbs["acme"].leases[ProductionOrder().upgrade_id()] = absl::Minutes(9);
  EXPECT_EQ(*cloner.production().RollBackStalledUpgrades(), 0);
  hosting_.dbs["acme"].leases[ProductionOrder().upgrade_id()] = absl::Minutes(11);
  publisher_.records.clear();
  EXPECT_EQ(*cloner.production().RollBackStalledUpgrades(), 1);
  EXPECT_EQ(Kinds(publisher_.Events()), (std::vector<std::string>{"rolling_back", "rolled_back"}));
  EXPECT_TRUE(absl::StrContains(publisher_.Events().back().rolled_back().error(), "made no progress"));
  EXPECT_TRUE(hosting_.dbs["acme"].online);
  EXPECT_EQ(*cloner.production().RollBackStalledUpgrades(), 0);  // done once
}

// The sweep may decide on what it read before the upgrade came online (the lease is deleted
// first, so it looks silent since its restore point): a success is never undone by it.
TEST_F(ClonerTest, ASucceededUpgradeIsNotRolledBackByASweepThatReadItBeforeItSucceeded) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  ASSERT_TRUE(Make().production().OnMigrated(ProductionOrder()).ok());
  publisher_.records.clear();
  hosting_.calls.clear();
  ASSERT_TRUE(Make().production().OnMigrationFailed(ProductionOrder(), "the upgrade made no progress for 5s").ok());
  EXPECT_TRUE(publisher_.records.empty());
  EXPECT_EQ(std::count_if(hosting_.calls.begin(), hosting_.calls.end(),
                          [](const std::string& c) { return absl::StartsWith(c, "replace"); }),
            0);
  EXPECT_EQ(*Make().production().RollBackStalledUpgrades(), 0);
}

TEST_F(ClonerTest, AMigratedRecordAfterTheRollbackBeganDoesNotBringTheUpgradedDatabaseOnline) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  ASSERT_TRUE(Make().production().OnMigrationFailed(ProductionOrder(), "the upgrade made no progress for 5s").ok());
  publisher_.records.clear();
  ASSERT_TRUE(Make().production().OnMigrated(ProductionOrder()).ok());
  EXPECT_TRUE(publisher_.records.empty());  // no coming_online, no succeeded: it was rolled back
}

Order TestOrderNumber(int n) {
  Order o = SampleOrder();
  std::string id = absl::StrCat("0000000", n, "-d9cb-469f-a165-70867728950e");
  o.set_upgrade_id(id);
  o.set_test_database(absl::StrCat("acme_test_0000000", n));
  return o;
}

TEST_F(ClonerTest, AtMostMaxCopiesPerDatabaseTheOldestGoesFirst) {
  for (int n = 1; n <= 3; ++n) {
    ASSERT_TRUE(Make().test_copies().OnAccepted(TestOrderNumber(n)).ok());
    clock_.now += absl::Minutes(1);
  }
  EXPECT_EQ(hosting_.dbs.count("acme_test_00000001"), 0u);  // the oldest, dropped to keep two
  EXPECT_EQ(hosting_.dbs.count("acme_test_00000002"), 1u);
  EXPECT_EQ(hosting_.dbs.count("acme_test_00000003"), 1u);
  EXPECT_EQ(store_.drops, (std::vector<std::string>{"acme_test_00000001"}));
  bool announced = false;
  for (const Event& e : publisher_.Events()) {
    if (e.has_test_copy_dropped() && e.order().test_database() == "acme_test_00000001") announced = true;
  }
  EXPECT_TRUE(announced);
}

// The sweep runs each of its parts whatever the others' outcome, and says every failure.
TEST_F(ClonerTest, TheSweepDropsWhatExpiredAndReportsEveryPartThatFailed) {
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  clock_.now += absl::Hours(24 * 31);  // the copy expired
  hosting_.down = absl::UnavailableError("hosting server down");
  absl::Status swept = Make().Sweep();
  EXPECT_EQ(swept.code(), absl::StatusCode::kUnavailable) << swept;
  EXPECT_THAT(std::string(swept.message()), ::testing::HasSubstr("test copy sweep: UNAVAILABLE: hosting server down"));
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
  hosting_.down = absl::OkStatus();
  EXPECT_TRUE(Make().Sweep().ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
}

TEST_F(ClonerTest, ACopyIsWarnedSevenDaysAndOneDayBeforeItExpiresThenDropped) {
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(FromProto(publisher_.Events().back().clone_succeeded().expires_at()), clock_.now + absl::Hours(24 * 30));
  Cloner cloner = Make();
  auto warnings = [&] {
    std::vector<int> days;
    for (const Event& e : publisher_.Events()) {
      if (e.has_test_copy_expiring()) days.push_back(e.test_copy_expiring().days_left());
    }
    return days;
  };
  clock_.now += absl::Hours(24 * 22);  // 8 days left
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);
  EXPECT_TRUE(warnings().empty());
  clock_.now += absl::Hours(24 * 2);  // 6 days left
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);  // once only
  EXPECT_EQ(warnings(), std::vector<int>{7});
  clock_.now += absl::Hours(24 * 5) + absl::Hours(12);  // half a day left
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);
  EXPECT_EQ(warnings(), (std::vector<int>{7, 1}));
  clock_.now += absl::Hours(13);
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 1);
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
  EXPECT_EQ(store_.drops, (std::vector<std::string>{"acme_test_0f8fad5b"}));
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);
}

TEST_F(ClonerTest, AnExtensionPostponesTheDropAndStartsTheWarningsOver) {
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  Cloner cloner = Make();
  clock_.now += absl::Hours(24 * 29) + absl::Hours(12);
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);  // warned: 1 day
  ASSERT_TRUE(cloner.test_copies().OnTestCopyExtended(SampleOrder(), clock_.now + absl::Hours(24 * 30)).ok());
  clock_.now += absl::Hours(24);
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
  clock_.now += absl::Hours(24 * 23);  // 6 days before the new expiry
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);
  EXPECT_EQ(publisher_.Events().back().test_copy_expiring().days_left(), 7);
}

// Issue 20: extensions only push an expiry out, so an older one delivered again, or replayed by
// someone who recorded it, cannot bring the drop forward.
TEST_F(ClonerTest, AnOlderExtensionDeliveredAgainDoesNotMoveTheExpiryBack) {
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  Cloner cloner = Make();
  const absl::Time first = clock_.now + absl::Hours(24 * 40), second = clock_.now + absl::Hours(24 * 70);
  ASSERT_TRUE(cloner.test_copies().OnTestCopyExtended(SampleOrder(), first).ok());
  ASSERT_TRUE(cloner.test_copies().OnTestCopyExtended(SampleOrder(), second).ok());
  ASSERT_TRUE(cloner.test_copies().OnTestCopyExtended(SampleOrder(), first).ok());  // the first, again
  ASSERT_EQ(store_.copies.size(), 1u);
  EXPECT_EQ(store_.copies[0].expires_at, second);
  clock_.now += absl::Hours(24 * 45);  // past the first extension's expiry
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
}

TEST_F(ClonerTest, ARedeliveredProductionOrderAfterItsSnapshotOnlyRepublishesIt) {
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  gate_.done.clear();  // as if the replica died before marking its claim done
  hosting_.calls.clear();
  publisher_.records.clear();
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  EXPECT_EQ(hosting_.calls, (std::vector<std::string>{"lease acme"}));  // no second offline, copy or check
  EXPECT_EQ(Kinds(publisher_.Events()), (std::vector<std::string>{"snapshot_succeeded"}));
}

Order CheckOrder() {
  Order o = SampleOrder(PURPOSE_CHECK);
  o.set_test_database("acme_chk_0f8fad5b");
  return o;
}

Event EventOf(const Order& order, const std::function<void(Event&)>& fill) {
  Event e;
  *e.mutable_order() = order;
  fill(e);
  e.set_event_id(order.upgrade_id() + "/" + e.GetDescriptor()->FindFieldByNumber(e.kind_case())->name());
  return e;
}

TEST_F(ClonerTest, ACheckCopyTakesNoTestCopysPlaceAndIsDroppedWhenTheCheckEnds) {
  for (int n = 1; n <= 2; ++n) ASSERT_TRUE(Make().test_copies().OnAccepted(TestOrderNumber(n)).ok());
  Cloner cloner = Make();
  ASSERT_TRUE(cloner.test_copies().OnAccepted(CheckOrder()).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_00000001"), 1u);  // two test copies are allowed: none dropped
  EXPECT_EQ(hosting_.dbs.count("acme_chk_0f8fad5b"), 1u);
  ASSERT_TRUE(publisher_.Events().back().has_clone_succeeded());
  EXPECT_FALSE(publisher_.Events().back().clone_succeeded().has_expires_at());  // never handed over

  gate_.Admit(CheckOrder());
  ASSERT_TRUE(cloner.Handle(upshift::testing::RecordOf(EventOf(CheckOrder(), [](Event& e) { e.mutable_failed(); }))).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_chk_0f8fad5b"), 0u);
  EXPECT_EQ(store_.drops, (std::vector<std::string>{"acme_chk_0f8fad5b"}));
  // A redelivered acceptance after the end republishes the result; it does not copy again.
  size_t calls = hosting_.calls.size();
  ASSERT_TRUE(cloner.test_copies().OnAccepted(CheckOrder()).ok());
  EXPECT_EQ(hosting_.calls.size(), calls);
  EXPECT_EQ(hosting_.dbs.count("acme_chk_0f8fad5b"), 0u);
}

TEST_F(ClonerTest, ACheckCopyLeftByACheckThatNeverEndedIsDroppedWithoutWarnings) {
  Cloner cloner = Make();
  ASSERT_TRUE(cloner.test_copies().OnAccepted(CheckOrder()).ok());
  clock_.now += kAbandonedCheckCopyTtl - absl::Minutes(1);
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 0);
  clock_.now += absl::Minutes(2);
  EXPECT_EQ(*cloner.test_copies().ExpireTestCopies(), 1);
  EXPECT_EQ(hosting_.dbs.count("acme_chk_0f8fad5b"), 0u);
  for (const Event& e : publisher_.Events()) {
    EXPECT_FALSE(e.has_test_copy_expiring());
    EXPECT_FALSE(e.has_test_copy_dropped());  // nobody is told: nobody used it
  }
}

// --- The trust boundary: a record only says "look at upgrade X"; the names come from the stored order.

TEST_F(ClonerTest, ARecordNamingAnotherDatabaseThanTheStoredOrderIsRefusedAndChangesNothing) {
  hosting_.Add("globex", "16.0", {{"public.a", 5}});
  gate_.Admit(SampleOrder());
  Order forged = SampleOrder();
  forged.set_test_database("globex");  // a live database
  absl::Status handled = Make().Handle(upshift::testing::RecordOf(EventOf(forged, [](Event& e) { e.mutable_failed(); })));
  EXPECT_EQ(handled.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(handled.message()), ::testing::HasSubstr("test_database"));
  EXPECT_EQ(hosting_.dbs.count("globex"), 1u);
  EXPECT_TRUE(hosting_.calls.empty());
  EXPECT_TRUE(publisher_.records.empty());
}

TEST_F(ClonerTest, ARecordOfAnUpgradeRequestNeverAdmittedIsRefused) {
  absl::Status handled =
      Make().Handle(upshift::testing::RecordOf(EventOf(SampleOrder(), [](Event& e) { e.mutable_accepted(); }), "upgrade.orders"));
  EXPECT_EQ(handled.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(hosting_.calls.empty());
}

TEST_F(ClonerTest, AProductionAcceptanceReusingATestsIdIsRefused) {
  gate_.Admit(SampleOrder());  // a Test
  Order production = ProductionOrder();  // same upgrade id
  absl::Status handled =
      Make().Handle(upshift::testing::RecordOf(EventOf(production, [](Event& e) { e.mutable_accepted(); }), "upgrade.orders"));
  EXPECT_EQ(handled.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(hosting_.dbs["acme"].connection_limit, -1);
  EXPECT_TRUE(hosting_.calls.empty());
}

TEST_F(ClonerTest, AFailedTestWhoseCopyTheClonerNeverMadeDropsNothing) {
  // A database named like the copy exists, but the cloner did not make it.
  hosting_.Add("acme_test_0f8fad5b", "16.0", {{"public.a", 1}});
  gate_.Admit(SampleOrder());
  ASSERT_TRUE(Make().Handle(upshift::testing::RecordOf(EventOf(SampleOrder(), [](Event& e) { e.mutable_failed(); }))).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
  EXPECT_TRUE(store_.drops.empty());
}

TEST_F(ClonerTest, ACopyWhoseNameIsTakenByADatabaseTheClonerDidNotMakeFailsTheTestAndLeavesThatDatabase) {
  hosting_.Add("acme_test_0f8fad5b", "16.0", {{"public.a", 1}});
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(hosting_.dbs["acme_test_0f8fad5b"].rows.at("public.a"), 1);  // untouched
  for (const std::string& call : hosting_.calls) EXPECT_NE(call.rfind("drop", 0), 0u) << call;
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed()) << last.DebugString();
  EXPECT_THAT(last.failed().error(), ::testing::HasSubstr("did not make"));
  EXPECT_FALSE(store_.made.count({SampleOrder().upgrade_id(), "acme_test_0f8fad5b"}));
  // And the Test's failure that follows drops nothing either.
  gate_.Admit(SampleOrder());
  ASSERT_TRUE(Make().test_copies().OnFailed(SampleOrder()).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
}

TEST_F(ClonerTest, ARestorePointNameTakenByAnotherDatabaseFailsTheUpgradeWithTheDatabaseBackOnline) {
  hosting_.Add("acme_rp_0f8fad5b", "16.0", {{"public.a", 42}});
  ASSERT_TRUE(Make().production().OnProductionAccepted(ProductionOrder()).ok());
  EXPECT_EQ(hosting_.dbs["acme_rp_0f8fad5b"].rows.at("public.a"), 42);
  ASSERT_TRUE(publisher_.Events().back().has_failed());
  EXPECT_TRUE(hosting_.dbs["acme"].online);
  // A rollback never renames a database the cloner did not make into the customer's place.
  EXPECT_EQ(Make().production().OnMigrationFailed(ProductionOrder(), "forged").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(hosting_.dbs["acme"].rows.at("public.a"), 3);
}

TEST_F(ClonerTest, AReservedDatabaseIsNeverCopiedOver) {
  Order order = SampleOrder();
  order.set_test_database("upshift");
  ASSERT_TRUE(Make().test_copies().OnAccepted(order).ok());
  ASSERT_TRUE(publisher_.Events().back().has_failed());
  EXPECT_THAT(publisher_.Events().back().failed().error(), ::testing::HasSubstr("reserved"));
  EXPECT_TRUE(std::none_of(hosting_.calls.begin(), hosting_.calls.end(),
                           [](const std::string& c) { return c.find("upshift") != std::string::npos; }));
}

TEST_F(ClonerTest, TheStoredOrderIsWhatTheClonerActsOn) {
  gate_.Admit(SampleOrder());
  ASSERT_TRUE(Make().Handle(upshift::testing::RecordOf(EventOf(SampleOrder(), [](Event& e) { e.mutable_accepted(); }),
                                                        "upgrade.orders")).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
  EXPECT_TRUE(store_.made.count({SampleOrder().upgrade_id(), "acme_test_0f8fad5b"}));
  ASSERT_TRUE(Make().Handle(upshift::testing::RecordOf(EventOf(SampleOrder(), [](Event& e) { e.mutable_failed(); }))).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
}

TEST_F(ClonerTest, AnEventActedOnChangesNothingWhenDeliveredAgain) {
  gate_.Admit(SampleOrder());
  ConsumedRecord failed = upshift::testing::RecordOf(EventOf(SampleOrder(), [](Event& e) { e.mutable_failed(); }));
  ASSERT_TRUE(Make().test_copies().OnAccepted(SampleOrder()).ok());
  ASSERT_TRUE(Make().Handle(failed).ok());
  EXPECT_EQ(store_.applied.count(SampleOrder().upgrade_id() + "/failed"), 1u);
  // Made again (a later attempt of the same upgrade), the copy outlives the old record's replay.
  hosting_.Add("acme_test_0f8fad5b", "16.0", {{"public.a", 1}});
  ASSERT_TRUE(Make().Handle(failed).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 1u);
  EXPECT_EQ(*Make().ForgetAppliedEvents(), 1);
}

}  // namespace
}  // namespace upshift::cloner
