#include "services/request/admission.h"
#include "services/request/cancellation.h"
#include "services/request/maintenance_window.h"
#include "services/request/rollouts.h"
#include "services/request/schedules.h"
#include "services/request/test_copies.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/ids.h"
#include "libs/kafka/topics.h"
#include "tests/unit/fakes.h"

namespace upshift::request {
namespace {

// A caller that may do everything the tests ask of the logic.
const Principal kCaller{"owner", "acme", {scopes::kRead, scopes::kTest, scopes::kProduction}};

using namespace upgrade::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using upshift::testing::FakeClock;
using upshift::testing::FakeHosting;

class FakeOrderStore final : public OrderStore {
 public:
  absl::StatusOr<std::optional<StoredOrder>> FindByRequestId(const std::string& tenant, const std::string& id) override {
    for (const StoredOrder& s : orders) {
      if (!id.empty() && s.order.tenant() == tenant && s.order.request_id() == id) return s;
    }
    return std::nullopt;
  }
  absl::StatusOr<std::optional<StoredOrder>> FindByUpgradeId(const std::string& id) override {
    for (const StoredOrder& s : orders) {
      if (s.order.upgrade_id() == id) return s;
    }
    return std::nullopt;
  }
  absl::StatusOr<StoredOrder> Cancel(const std::string& id, absl::Time at,
                                     const std::function<OutgoingRecord(const StoredOrder&)>& record_for,
                                     const AuditOf& audit_of) override {
    for (StoredOrder& s : orders) {
      if (s.order.upgrade_id() != id) continue;
      if (s.outcome != Outcome::kActive) return absl::FailedPreconditionError("ended");
      if (s.scheduled()) {
        s.outcome = Outcome::kCancelled;
        s.finished_at = at;
      }
      s.cancel_requested_at = at;
      outbox.push_back(record_for(s));
      Audit(audit_of, s.order);
      return s;
    }
    return absl::NotFoundError(id);
  }
  absl::StatusOr<std::optional<absl::Time>> PassCheckpoint(const std::string&, bool, absl::Time) override {
    return absl::UnimplementedError("not used here");
  }
  absl::StatusOr<std::optional<StoredOrder>> FindByTestDatabase(const std::string& db) override {
    for (const StoredOrder& s : orders) {
      if (s.order.test_database() == db) return s;
    }
    return std::nullopt;
  }
  absl::Status RecordCopy(const std::string& id, absl::Time at, bool removed) override {
    for (StoredOrder& s : orders) {
      if (s.order.upgrade_id() != id) continue;
      if (removed) s.copy_removed = true;
      if (!removed && s.copy_expires_at == absl::InfinitePast()) s.copy_expires_at = at;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<absl::Time> ExtendCopy(
      const std::string& id, const std::function<absl::StatusOr<absl::Time>(const StoredOrder&)>& decide,
      const std::function<OutgoingRecord(const StoredOrder&, absl::Time)>& record_for,
      const AuditOf& audit_of) override {
    for (StoredOrder& s : orders) {
      if (s.order.upgrade_id() != id) continue;
      absl::StatusOr<absl::Time> at = decide(s);
      if (!at.ok()) return at.status();
      s.copy_expires_at = *at;
      outbox.push_back(record_for(s, *at));
      Audit(audit_of, s.order);
      return *at;
    }
    return absl::NotFoundError(id);
  }
  absl::StatusOr<std::optional<StoredOrder>> FindActive(const std::string& db) override {
    for (const StoredOrder& s : orders) {
      if (s.order.database() == db && s.outcome == Outcome::kActive && s.order.purpose() != PURPOSE_CHECK) return s;
    }
    return std::nullopt;
  }
  absl::StatusOr<std::vector<StoredOrder>> ListByDatabase(const std::string& db) override {
    std::vector<StoredOrder> out;
    for (auto it = orders.rbegin(); it != orders.rend(); ++it) {
      if (it->order.database() == db) out.push_back(*it);
    }
    return out;
  }
  absl::StatusOr<bool> IsTestCopy(const std::string& db) override {
    for (const StoredOrder& s : orders) {
      if (s.order.test_database() == db || s.order.restore_point() == db) return true;
    }
    return false;
  }
  absl::Status Admit(const Order& order, const OutgoingRecord& record, const AuditOf& audit_of) override {
    if (!down.ok()) return down;
    for (const StoredOrder& s : orders) {
      if (s.order.database() == order.database() && s.outcome == Outcome::kActive &&
          !MayRunBeside(order.purpose(), s.order.purpose())) {
        return absl::FailedPreconditionError("still active");
      }
    }
    StoredOrder stored;
    stored.order = order;
    if (!order.has_not_before()) stored.started_at = FromProto(order.created_at());
    orders.push_back(stored);
    outbox.push_back(record);
    Audit(audit_of, order);
    return absl::OkStatus();
  }
  // What `audit_of` made of the decisions (the records a PgOrderStore writes in their transactions).
  void Audit(const AuditOf& audit_of, const Order& order) {
    if (!audit_of) return;
    if (std::optional<AuditEntry> entry = audit_of(order)) audited.push_back(entry->record);
  }
  std::vector<upgrade::v1::AuditRecord> audited;
  absl::Status MarkFinished(const std::string& id, Outcome outcome, absl::Time at) override {
    for (StoredOrder& s : orders) {
      if (s.order.upgrade_id() == id && s.outcome == Outcome::kActive) {
        s.outcome = outcome;
        s.finished_at = at;
      }
    }
    return absl::OkStatus();
  }
  absl::Status RecordTimings(const std::string& id, const TestTimings& t) override {
    for (StoredOrder& s : orders) {
      if (s.order.upgrade_id() == id) s.timings = t;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<int> PruneEnded(absl::Time cutoff, int batch) override {
    int n = 0;
    for (auto it = orders.begin(); it != orders.end() && n < batch;) {
      const StoredOrder& o = *it;
      bool ended = o.outcome != Outcome::kActive && o.finished_at < cutoff &&
                   (o.order.purpose() != upgrade::v1::PURPOSE_TEST || o.copy_removed);
      if (ended) {
        it = orders.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }
  absl::StatusOr<std::vector<StoredOrder>> Scheduled(absl::Time until, bool unreminded, int limit) override {
    std::vector<StoredOrder> out;
    for (const StoredOrder& s : orders) {
      if (s.scheduled() && s.cancel_requested_at == absl::InfinitePast() && FromProto(s.order.not_before()) <= until &&
          (!unreminded || s.reminded_at == absl::InfinitePast()) && static_cast<int>(out.size()) < limit) {
        out.push_back(s);
      }
    }
    return out;
  }
  absl::StatusOr<bool> StartScheduled(const std::string& id, absl::Time at,
                                      const std::function<Start(const StoredOrder&)>& decide) override {
    for (StoredOrder& s : orders) {
      if (s.order.upgrade_id() != id || !s.scheduled() || s.cancel_requested_at != absl::InfinitePast()) continue;
      Start start = decide(s);
      if (start.starts) {
        s.started_at = at;
      } else {
        s.outcome = Outcome::kCancelled;
        s.finished_at = at;
      }
      outbox.push_back(start.record);
      return true;
    }
    return false;
  }
  absl::StatusOr<bool> Remind(const std::string& id, absl::Time at,
                              const std::function<std::optional<OutgoingRecord>(const StoredOrder&)>& record_for) override {
    for (StoredOrder& s : orders) {
      if (s.order.upgrade_id() != id || !s.scheduled() || s.reminded_at != absl::InfinitePast()) continue;
      s.reminded_at = at;
      if (std::optional<OutgoingRecord> record = record_for(s)) outbox.push_back(*record);
      return true;
    }
    return false;
  }
  absl::Status DrainOutbox(int, const std::function<absl::Status(const std::vector<OutgoingRecord>&)>&,
                           int* count) override {
    *count = 0;
    return absl::OkStatus();
  }

  std::vector<StoredOrder> orders;
  std::vector<OutgoingRecord> outbox;
  absl::Status down;
};

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest() : catalog_(*Catalog::Load(std::string(UPSHIFT_SOURCE_DIR) + "/deploy/catalogs/sample_erp")) {
    hosting_.Add("acme", "16.0");
  }

  Admission Make() {
    return Admission({{"upshift"}, absl::Hours(24 * 30)}, catalog_, fleet_, store_, clock_, [this] { ++woken_; });
  }

  RequestUpgradeRequest Order(Purpose purpose = PURPOSE_TEST, const std::string& target = "18.0") {
    RequestUpgradeRequest r;
    r.set_database("acme");
    r.set_target_version(target);
    r.set_notify_email("owner@acme.example.com");
    r.set_purpose(purpose);
    return r;
  }

  // Admits a Test to `target` and marks it `outcome`.
  void PastTest(const std::string& target, Outcome outcome) {
    Admission a = Make();
    absl::StatusOr<Upgrade> u = a.RequestUpgrade(Order(PURPOSE_TEST, target), kCaller);
    ASSERT_TRUE(u.ok()) << u.status();
    ASSERT_TRUE(store_.MarkFinished(u->upgrade_id(), outcome, clock_.now).ok());
  }

  Catalog catalog_;
  FakeHosting hosting_;
  FixedFleet fleet_{{{"main", &hosting_}}};
  FakeOrderStore store_;
  FakeClock clock_;
  int woken_ = 0;
};

TEST_F(AdmissionTest, AnOrderNamesTheServerThatHoldsItsDatabaseAndANameOnTwoServersIsRefused) {
  FakeHosting east;
  east.Add("initech", "16.0").owner = "acme";
  FixedFleet fleet{{{"west", &hosting_}, {"east", &east}}};
  Admission a({{"upshift"}, absl::Hours(24 * 30)}, catalog_, fleet, store_, clock_, nullptr);
  RequestUpgradeRequest order = Order();
  order.set_database("initech");
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(order, kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->server(), "east");
  ASSERT_EQ(store_.outbox.size(), 1u);
  Event e;
  ASSERT_TRUE(e.ParseFromString(store_.outbox[0].payload));
  EXPECT_EQ(e.order().server(), "east");
  // The same name on the other server: neither is acted on, and nothing is recorded.
  hosting_.Add("acme2", "16.0");
  east.Add("acme2", "16.0");
  order.set_database("acme2");
  absl::Status twice = a.RequestUpgrade(order, kCaller).status();
  EXPECT_EQ(twice.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.message(), ::testing::HasSubstr("west, east"));
  EXPECT_EQ(store_.outbox.size(), 1u);
}

TEST_F(AdmissionTest, AdmitsATestAndRecordsItsAcceptedEventInTheOutbox) {
  Admission a = Make();
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(Order(), kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->state(), STATE_ACCEPTED);
  EXPECT_EQ(u->from_version(), "16.0");
  ASSERT_EQ(store_.outbox.size(), 1u);
  EXPECT_EQ(store_.outbox[0].topic, topics::kOrders);
  EXPECT_EQ(store_.outbox[0].key, "acme");
  Event e;
  ASSERT_TRUE(e.ParseFromString(store_.outbox[0].payload));
  EXPECT_TRUE(e.has_accepted());
  EXPECT_EQ(e.order().upgrade_id(), u->upgrade_id());
  EXPECT_EQ(e.event_id(), u->upgrade_id() + "/accepted");
  EXPECT_EQ(e.order().test_database(), "acme_test_" + u->upgrade_id().substr(0, 8));
  EXPECT_EQ(woken_, 1);
}

TEST_F(AdmissionTest, ARepeatedRequestIdReturnsTheFirstOrderWithoutASecond) {
  Admission a = Make();
  RequestUpgradeRequest r = Order();
  r.set_request_id("k1");
  absl::StatusOr<Upgrade> first = a.RequestUpgrade(r, kCaller);
  absl::StatusOr<Upgrade> again = a.RequestUpgrade(r, kCaller);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(again->upgrade_id(), first->upgrade_id());
  EXPECT_EQ(store_.orders.size(), 1u);
}

TEST_F(AdmissionTest, ARequestIdReusedForAnotherOrderIsRefusedAndRecordsNothing) {
  Admission a = Make();
  RequestUpgradeRequest r = Order();
  r.set_request_id("k1");
  absl::StatusOr<Upgrade> first = a.RequestUpgrade(r, kCaller);
  ASSERT_TRUE(first.ok()) << first.status();
  hosting_.Add("globex", "16.0");
  std::vector<std::pair<std::string, std::function<void(RequestUpgradeRequest&)>>> changes = {
      {"target version 18.0", [](RequestUpgradeRequest& x) { x.set_target_version("17.0"); }},
      {"database \"acme\"", [](RequestUpgradeRequest& x) { x.set_database("globex"); }},
      {"purpose PURPOSE_TEST", [](RequestUpgradeRequest& x) { x.set_purpose(PURPOSE_PRODUCTION); }},
      {"another email address", [](RequestUpgradeRequest& x) { x.set_notify_email("other@acme.example.com"); }},
  };
  for (const auto& [says, change] : changes) {
    RequestUpgradeRequest other = r;
    change(other);
    absl::Status s = a.RequestUpgrade(other, kCaller).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << says;
    EXPECT_TRUE(absl::StrContains(s.message(), says)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), first->upgrade_id())) << s;
  }
  CheckUpgradeRequest check;
  check.set_database("acme");
  check.set_target_version("18.0");
  check.set_request_id("k1");  // a check is another order too
  EXPECT_EQ(a.CheckUpgrade(check, kCaller).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_.orders.size(), 1u);
  EXPECT_EQ(store_.outbox.size(), 1u);
}

TEST_F(AdmissionTest, OneActiveUpgradePerDatabase) {
  Admission a = Make();
  absl::StatusOr<Upgrade> first = a.RequestUpgrade(Order(), kCaller);
  ASSERT_TRUE(first.ok());
  absl::Status s = a.RequestUpgrade(Order(PURPOSE_TEST, "17.0"), kCaller).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), first->upgrade_id()));
}

TEST_F(AdmissionTest, UnknownDatabaseIsNotFound) {
  RequestUpgradeRequest r = Order();
  r.set_database("ghost");
  EXPECT_EQ(Make().RequestUpgrade(r, kCaller).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AdmissionTest, ATestCopyCannotBeUpgraded) {
  PastTest("18.0", Outcome::kSucceeded);
  std::string copy = store_.orders[0].order.test_database();
  hosting_.Add(copy, "18.0");
  RequestUpgradeRequest r = Order();
  r.set_database(copy);
  EXPECT_EQ(Make().RequestUpgrade(r, kCaller).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(AdmissionTest, ProductionNeedsASuccessfulTestToTheSameVersion) {
  Admission a = Make();
  EXPECT_EQ(a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller).status().code(), absl::StatusCode::kFailedPrecondition);
  PastTest("18.0", Outcome::kFailed);
  EXPECT_EQ(a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller).status().code(), absl::StatusCode::kFailedPrecondition);
  PastTest("17.0", Outcome::kSucceeded);
  absl::Status other = a.RequestUpgrade(Order(PURPOSE_PRODUCTION, "18.0"), kCaller).status();
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(other.message(), "17.0")) << other.message();
  PastTest("18.0", Outcome::kSucceeded);
  EXPECT_TRUE(a.RequestUpgrade(Order(PURPOSE_PRODUCTION, "18.0"), kCaller).ok());
}

TEST_F(AdmissionTest, ProductionNeedsTheDatabaseStillAtTheTestsStartingVersion) {
  PastTest("18.0", Outcome::kSucceeded);
  hosting_.dbs["acme"].version = "17.0";
  EXPECT_EQ(Make().RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(AdmissionTest, ProductionNeedsAFreshTest) {
  PastTest("18.0", Outcome::kSucceeded);
  clock_.now += absl::Hours(24 * 31);
  absl::Status s = Make().RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), "31 days ago")) << s.message();
}

TEST_F(AdmissionTest, AProductionOrderCarriesItsRestorePointAndADowntimeEstimateScaledByGrowth) {
  PastTest("18.0", Outcome::kSucceeded);
  store_.orders[0].timings = {absl::Seconds(10), absl::Seconds(30), 1000};
  hosting_.dbs["acme"].size_bytes = 4000;  // four times larger than when it was tested
  absl::StatusOr<Upgrade> u = Make().RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  // (10 s of copy and count, no copy timed alone + 30 s) x 4 + 150 ms of hand-offs
  EXPECT_EQ(FromProto(u->estimated_downtime()), absl::Milliseconds(160150));
  const upgrade::v1::Order& order = store_.orders.back().order;
  EXPECT_EQ(order.restore_point(), "acme_rp_" + u->upgrade_id().substr(0, 8));
  EXPECT_EQ(FromProto(order.estimated_downtime()), absl::Milliseconds(160150));
  EXPECT_TRUE(order.test_database().empty());
}

TEST_F(AdmissionTest, AnEstimateCountsTheTestsCopyForTheRestorePointAndItsCountsBesideThePlan) {
  PastTest("18.0", Outcome::kSucceeded);
  // The Test's copy and its checks took 9 s, of which the copy alone 2 s; its plan 10 s.
  store_.orders[0].timings = {absl::Seconds(9), absl::Seconds(10), 1000, absl::Seconds(2)};
  hosting_.dbs["acme"].size_bytes = 1500;  // half again as large as when it was tested
  absl::StatusOr<Upgrade> u = Make().RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  // (2 s + 10 s + 7 s) x 1.5 + 150 ms of hand-offs: the window copies the database, and its plan
  // counts the restore point beside the steps (the Test's counts: its copy and check less the copy).
  EXPECT_EQ(FromProto(u->estimated_downtime()), absl::Milliseconds(28650));
  // The plan's part ((10 s + 7 s) x 1.5 + half the hand-offs), which status counts down once the
  // plan starts.
  EXPECT_EQ(FromProto(store_.orders.back().order.estimated_plan()), absl::Milliseconds(25575));
}

TEST_F(AdmissionTest, AProductionOrderIsBoundedByItsMaxOfflineOrAFewTimesItsEstimate) {
  PastTest("18.0", Outcome::kSucceeded);
  store_.orders[0].timings = {absl::Seconds(10), absl::Seconds(30), 1000};
  hosting_.dbs["acme"].size_bytes = 4000;  // an estimate of 160.15 s (see above)
  // None asked: three times the estimate, rounded up to the second (above the 5-minute floor).
  absl::StatusOr<Upgrade> u = Make().RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(FromProto(u->max_offline()), absl::Seconds(481));
  EXPECT_EQ(FromProto(store_.orders.back().order.max_offline()), absl::Seconds(481));
  ASSERT_TRUE(store_.MarkFinished(u->upgrade_id(), Outcome::kFailed, clock_.now).ok());
  // Asked: taken as it is, from the estimate up to 7 days.
  RequestUpgradeRequest bounded = Order(PURPOSE_PRODUCTION);
  ToProto(absl::Minutes(4), bounded.mutable_max_offline());
  u = Make().RequestUpgrade(bounded, kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(FromProto(store_.orders.back().order.max_offline()), absl::Minutes(4));
  ASSERT_TRUE(store_.MarkFinished(u->upgrade_id(), Outcome::kFailed, clock_.now).ok());
  const size_t orders = store_.orders.size();
  // Below the estimate, above 7 days, not positive, or on a Test: refused, nothing recorded.
  for (absl::Duration wrong : {absl::Minutes(2), absl::Hours(24 * 8), absl::ZeroDuration(), absl::Seconds(-5)}) {
    ToProto(wrong, bounded.mutable_max_offline());
    absl::Status refused = Make().RequestUpgrade(bounded, kCaller).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << wrong;
    EXPECT_THAT(refused.message(), HasSubstr("max_offline")) << refused;
  }
  ToProto(absl::Minutes(2), bounded.mutable_max_offline());
  EXPECT_THAT(Make().RequestUpgrade(bounded, kCaller).status().message(), HasSubstr("below this upgrade's estimated downtime"));
  RequestUpgradeRequest test = Order(PURPOSE_TEST);
  ToProto(absl::Minutes(10), test.mutable_max_offline());
  EXPECT_EQ(Make().RequestUpgrade(test, kCaller).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.orders.size(), orders);
  // A small estimate gets the floor.
  EXPECT_EQ(*MaxOffline(std::nullopt, absl::Seconds(3), AdmissionOptions{}), absl::Minutes(5));
}

TEST(EstimateDowntime, ATestWithoutItsCopyTimedAloneCountsItsCopyAndCount) {
  EXPECT_EQ(EstimateDowntime({absl::Seconds(2), absl::Seconds(5), 100}, 400).total(), absl::Milliseconds(28150));
  // An unknown size (0) does not scale.
  DowntimeEstimate measured = EstimateDowntime({absl::Seconds(2), absl::Seconds(5), 100}, 0);
  EXPECT_EQ(measured.total(), absl::Milliseconds(7150));
  // Its parts: the restore point (and going offline), the plan (and coming back).
  EXPECT_EQ(measured.restore_point, absl::Milliseconds(2075));
  EXPECT_EQ(measured.plan, absl::Milliseconds(5075));
}

// The model against timings recorded by tests/bench on the 0.15 GB database (2026-12-07, the
// restore point being the database itself): its Test copied in 450.2 ms, counted both in 1457.7 ms
// and planned in 5138.9 ms; the Production's window was 8336.2 ms (the copy and the swap 647.0 ms,
// the plan, with the restore point read beside its steps, 7283.7 ms).
TEST(EstimateDowntime, TheWindowIsTheTestsCopyThenItsPlanWithItsCountsBesideTheSteps) {
  TestTimings test{absl::Microseconds(450200 + 1457700), absl::Microseconds(5138900), 150000000,
                   absl::Microseconds(450200)};
  DowntimeEstimate estimate = EstimateDowntime(test, 150000000);
  EXPECT_EQ(estimate.restore_point, absl::Microseconds(450200) + absl::Milliseconds(75));
  EXPECT_EQ(estimate.plan, absl::Microseconds(5138900 + 1457700) + absl::Milliseconds(75));
  const double ratio = absl::FDivDuration(estimate.total(), absl::Microseconds(8336200));
  EXPECT_GE(ratio, 0.85);
  EXPECT_LE(ratio, 1.15);
  // Twice the data now: every part twice.
  EXPECT_EQ(EstimateDowntime(test, 300000000).restore_point, absl::Microseconds(2 * 450200) + absl::Milliseconds(75));
  EXPECT_EQ(EstimateDowntime(test, 300000000).plan,
            absl::Microseconds(2 * (5138900 + 1457700)) + absl::Milliseconds(75));
}

// The same on a faster day (2026-12-08): the Test copied 0.14 GB in 177.3 ms, counted both in
// 87.6 ms and planned in 1022.6 ms; the Production's window was 1304.2 ms, of which 52.6 ms were
// the hand-offs, going offline and coming back (a quarter second counted for them said 1.18 ×).
TEST(EstimateDowntime, ASmallWindowOnAFastDayIsForetoldWithinItsBand) {
  TestTimings test{absl::Microseconds(177300 + 87600), absl::Microseconds(1022600), 141721600,
                   absl::Microseconds(177300)};
  const double ratio = absl::FDivDuration(EstimateDowntime(test, 141721600).total(), absl::Microseconds(1304200));
  EXPECT_GE(ratio, 0.85);
  EXPECT_LE(ratio, 1.15);
}

TEST_F(AdmissionTest, OptionsOfferProductionOnlyWhereATestSucceeded) {
  PastTest("17.0", Outcome::kSucceeded);
  GetUpgradeOptionsRequest r;
  r.set_database("acme");
  absl::StatusOr<GetUpgradeOptionsResponse> o = Make().GetUpgradeOptions(r, kCaller);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->version(), "16.0");
  ASSERT_EQ(o->options_size(), 2);
  EXPECT_THAT(o->options(0).purposes(), ElementsAre(PURPOSE_TEST, PURPOSE_PRODUCTION, PURPOSE_CHECK));  // 17.0
  EXPECT_THAT(o->options(1).purposes(), ElementsAre(PURPOSE_TEST, PURPOSE_CHECK));  // 18.0: no Test went there
  EXPECT_THAT(o->purposes(), ElementsAre(PURPOSE_TEST, PURPOSE_PRODUCTION, PURPOSE_CHECK));
}

TEST_F(AdmissionTest, OnlyACheckIsOfferedWhileATestIsActive) {
  Admission a = Make();
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(Order(), kCaller);
  GetUpgradeOptionsRequest r;
  r.set_database("acme");
  absl::StatusOr<GetUpgradeOptionsResponse> o = a.GetUpgradeOptions(r, kCaller);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->active_upgrade_id(), u->upgrade_id());
  EXPECT_THAT(o->purposes(), ElementsAre(PURPOSE_CHECK));

  CheckUpgradeRequest check;
  check.set_database("acme");
  check.set_target_version("18.0");
  ASSERT_TRUE(a.CheckUpgrade(check, kCaller).ok());
  o = a.GetUpgradeOptions(r, kCaller);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->purposes_size(), 0);  // one check at a time
}

TEST_F(AdmissionTest, ACheckIsRecordedWithItsThrowawayCopyAndRunsBesideATestOnly) {
  CheckUpgradeRequest check;
  check.set_database("acme");
  check.set_target_version("18.0");
  Admission a = Make();
  absl::StatusOr<Upgrade> c = a.CheckUpgrade(check, kCaller);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->purpose(), PURPOSE_CHECK);
  EXPECT_EQ(c->state(), STATE_ACCEPTED);
  EXPECT_EQ(c->from_version(), "16.0");
  const upgrade::v1::Order& order = store_.orders.back().order;
  EXPECT_EQ(order.test_database(), "acme_chk_" + c->upgrade_id().substr(0, 8));
  EXPECT_TRUE(order.notify_email().empty());
  ASSERT_EQ(store_.outbox.size(), 1u);
  EXPECT_EQ(store_.outbox[0].topic, topics::kOrders);

  EXPECT_EQ(a.CheckUpgrade(check, kCaller).status().code(), absl::StatusCode::kFailedPrecondition);  // one at a time
  EXPECT_TRUE(a.RequestUpgrade(Order(), kCaller).ok());  // a Test runs beside it
  ASSERT_TRUE(store_.MarkFinished(c->upgrade_id(), Outcome::kSucceeded, clock_.now).ok());
  ASSERT_TRUE(store_.MarkFinished(store_.orders.back().order.upgrade_id(), Outcome::kSucceeded, clock_.now).ok());

  // Beside a Production upgrade, neither way round.
  ASSERT_TRUE(a.CheckUpgrade(check, kCaller).ok());
  EXPECT_EQ(a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_.MarkFinished(store_.orders.back().order.upgrade_id(), Outcome::kSucceeded, clock_.now).ok());
  ASSERT_TRUE(a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller).ok());
  absl::StatusOr<Upgrade> refused = a.CheckUpgrade(check, kCaller);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "Production upgrade")) << refused.status();

  for (const char* bad : {"", "Bad Name", "acme; DROP TABLE x"}) {
    check.set_database(bad);
    EXPECT_EQ(a.CheckUpgrade(check, kCaller).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  check.set_database("acme");
  check.set_target_version("99.0");
  EXPECT_EQ(a.CheckUpgrade(check, kCaller).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(AdmissionTest, AProductionOrderNamesTheTestThatAllowedIt) {
  PastTest("18.0", Outcome::kSucceeded);
  std::string test_id = store_.orders[0].order.upgrade_id();
  ASSERT_TRUE(Make().RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller).ok());
  EXPECT_EQ(store_.orders.back().order.test_upgrade_id(), test_id);
}

TEST_F(AdmissionTest, ATestCopyIsExtendedOneStepPastItsExpiryOnceHandedOver) {
  TestCopies copies(store_, clock_, absl::Hours(24 * 30), nullptr);
  ExtendTestCopyRequest req;
  req.set_database("acme");
  EXPECT_EQ(copies.Extend(req, kCaller).status().code(), absl::StatusCode::kNotFound);  // a main database
  req.set_database("Bad Name");
  EXPECT_EQ(copies.Extend(req, kCaller).status().code(), absl::StatusCode::kInvalidArgument);

  Admission a = Make();
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(Order(), kCaller);
  ASSERT_TRUE(u.ok());
  req.set_database(store_.orders[0].order.test_database());
  EXPECT_EQ(copies.Extend(req, kCaller).status().code(), absl::StatusCode::kFailedPrecondition);  // not handed over yet
  ASSERT_TRUE(store_.RecordCopy(u->upgrade_id(), clock_.now + absl::Hours(24 * 30), false).ok());
  ASSERT_TRUE(store_.MarkFinished(u->upgrade_id(), Outcome::kSucceeded, clock_.now).ok());
  size_t outbox_before = store_.outbox.size();
  absl::StatusOr<ExtendTestCopyResponse> extended = copies.Extend(req, kCaller);
  ASSERT_TRUE(extended.ok()) << extended.status();
  EXPECT_EQ(FromProto(extended->expires_at()), clock_.now + absl::Hours(24 * 60));
  ASSERT_EQ(store_.outbox.size(), outbox_before + 1);
  Event e;
  ASSERT_TRUE(e.ParseFromString(store_.outbox.back().payload));
  EXPECT_EQ(FromProto(e.test_copy_extended().expires_at()), clock_.now + absl::Hours(24 * 60));
  // Long after it would have expired, an extension counts from now.
  clock_.now += absl::Hours(24 * 90);
  EXPECT_EQ(FromProto(copies.Extend(req, kCaller)->expires_at()), clock_.now + absl::Hours(24 * 30));
  ASSERT_TRUE(store_.RecordCopy(u->upgrade_id(), absl::InfinitePast(), true).ok());
  EXPECT_EQ(copies.Extend(req, kCaller).status().code(), absl::StatusCode::kFailedPrecondition);  // removed
}

TEST_F(AdmissionTest, AnUnreachableServerIsUnavailableAndRecordsNothing) {
  hosting_.down = absl::UnavailableError("hosting server down");
  EXPECT_EQ(Make().RequestUpgrade(Order(), kCaller).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store_.orders.empty());
}

TEST_F(AdmissionTest, AWorkerAskingAboutAnEndedUpgradeIsToldItEnded) {
  PastTest("18.0", Outcome::kFailed);
  Cancellation cancellation(store_, clock_, nullptr);
  PassCheckpointRequest req;
  req.set_upgrade_id(store_.orders[0].order.upgrade_id());
  req.set_checkpoint(CHECKPOINT_BEGIN_MIGRATION);
  absl::StatusOr<PassCheckpointResponse> answer = cancellation.PassCheckpoint(req);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->proceed());
  EXPECT_TRUE(answer->ended());
}

TEST_F(AdmissionTest, EachOrderNeedsTheScopeOfItsPurposeAndAWrongOneRecordsNothing) {
  Admission a = Make();
  const Principal reader{"viewer", "acme", {scopes::kRead}};
  const Principal tester{"owner", "acme", {scopes::kRead, scopes::kTest}};
  const Principal operator_{"ops", "", {scopes::kOperator}};
  EXPECT_EQ(a.RequestUpgrade(Order(), reader).status().code(), absl::StatusCode::kPermissionDenied);
  CheckUpgradeRequest check;
  check.set_database("acme");
  check.set_target_version("18.0");
  EXPECT_EQ(a.CheckUpgrade(check, reader).status().code(), absl::StatusCode::kPermissionDenied);
  absl::Status production = a.RequestUpgrade(Order(PURPOSE_PRODUCTION), tester).status();
  EXPECT_EQ(production.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(production.message(), scopes::kProduction)) << production;
  EXPECT_EQ(a.GetUpgradeOptions(GetUpgradeOptionsRequest(), Principal{"nobody", "", {}}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(store_.orders.empty());
  EXPECT_TRUE(store_.outbox.empty());
  // The scope the purpose needs is enough; an operator may do everything.
  EXPECT_TRUE(a.RequestUpgrade(Order(), tester).ok());
  EXPECT_TRUE(a.CheckUpgrade(check, operator_).ok());
}

TEST_F(AdmissionTest, CancellingNeedsTheScopeOfTheUpgradesPurpose) {
  PastTest("18.0", Outcome::kSucceeded);
  Admission a = Make();
  absl::StatusOr<Upgrade> production = a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(production.ok()) << production.status();
  Cancellation cancellation(store_, clock_, nullptr);
  CancelUpgradeRequest req;
  req.set_upgrade_id(production->upgrade_id());
  const Principal tester{"owner", "acme", {scopes::kTest}};
  EXPECT_EQ(cancellation.Cancel(req, tester).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store_.orders.back().cancel_requested_at, absl::InfinitePast());
  EXPECT_TRUE(cancellation.Cancel(req, Principal{"owner", "acme", {scopes::kProduction}}).ok());
}

// Tenancy: a database belongs to its owner role's tenant. Another tenant's database, upgrade or copy
// is answered exactly as one that does not exist, and nothing is recorded.
TEST_F(AdmissionTest, AnotherTenantsDatabaseIsNotFoundInTheWordsOfAMissingOneAndNothingIsRecorded) {
  hosting_.Add("globex", "16.0").owner = "globex";
  Admission a = Make();
  RequestUpgradeRequest theirs = Order();
  theirs.set_database("globex");
  RequestUpgradeRequest missing = Order();
  missing.set_database("ghost");
  absl::Status foreign = a.RequestUpgrade(theirs, kCaller).status();
  absl::Status absent = a.RequestUpgrade(missing, kCaller).status();
  EXPECT_EQ(foreign.code(), absl::StatusCode::kNotFound) << foreign;
  EXPECT_EQ(foreign.message(), absl::StrReplaceAll(absent.message(), {{"ghost", "globex"}}));
  CheckUpgradeRequest check;
  check.set_database("globex");
  check.set_target_version("18.0");
  EXPECT_EQ(a.CheckUpgrade(check, kCaller).status().code(), absl::StatusCode::kNotFound);
  GetUpgradeOptionsRequest options;
  options.set_database("globex");
  EXPECT_EQ(a.GetUpgradeOptions(options, kCaller).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_.orders.empty());
  EXPECT_TRUE(store_.outbox.empty());
  // Its own tenant and an operator may; the order belongs to the database's tenant either way.
  const Principal globex{"ceo", "globex", {scopes::kRead, scopes::kTest}};
  const Principal operator_{"ops", "", {scopes::kOperator}};
  absl::StatusOr<Upgrade> own = a.RequestUpgrade(theirs, globex);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->tenant(), "globex");
  EXPECT_EQ(store_.orders.back().order.tenant(), "globex");
  absl::StatusOr<Upgrade> by_operator = a.CheckUpgrade(check, operator_);
  ASSERT_TRUE(by_operator.ok()) << by_operator.status();
  EXPECT_EQ(store_.orders.back().order.tenant(), "globex");
}

TEST_F(AdmissionTest, AnotherTenantsUpgradeCannotBeCancelledOrItsCopyExtended) {
  PastTest("18.0", Outcome::kSucceeded);
  Admission a = Make();
  absl::StatusOr<Upgrade> test = a.RequestUpgrade(Order(PURPOSE_TEST, "17.0"), kCaller);
  ASSERT_TRUE(test.ok()) << test.status();
  const Principal globex{"ceo", "globex", {scopes::kRead, scopes::kTest, scopes::kProduction}};
  Cancellation cancellation(store_, clock_, nullptr);
  CancelUpgradeRequest cancel;
  cancel.set_upgrade_id(test->upgrade_id());
  absl::Status foreign = cancellation.Cancel(cancel, globex).status();
  CancelUpgradeRequest unknown;
  unknown.set_upgrade_id("00000000-0000-4000-8000-000000000000");
  absl::Status absent = cancellation.Cancel(unknown, globex).status();
  EXPECT_EQ(foreign.code(), absl::StatusCode::kNotFound) << foreign;
  EXPECT_EQ(foreign.message(), absl::StrReplaceAll(absent.message(), {{unknown.upgrade_id(), test->upgrade_id()}}));
  EXPECT_EQ(store_.orders.back().cancel_requested_at, absl::InfinitePast());

  TestCopies copies(store_, clock_, absl::Hours(24 * 30), nullptr);
  ExtendTestCopyRequest extend;
  extend.set_database(store_.orders[0].order.test_database());  // acme's handed-over copy
  ASSERT_TRUE(store_.RecordCopy(store_.orders[0].order.upgrade_id(), clock_.now + absl::Hours(1), false).ok());
  size_t outbox_before = store_.outbox.size();
  EXPECT_EQ(copies.Extend(extend, globex).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_.outbox.size(), outbox_before);
  EXPECT_TRUE(copies.Extend(extend, kCaller).ok());
  EXPECT_TRUE(cancellation.Cancel(cancel, kCaller).ok());
}

TEST_F(AdmissionTest, RequestIdsArePerTenant) {
  hosting_.Add("globex", "16.0").owner = "globex";
  Admission a = Make();
  RequestUpgradeRequest ours = Order();
  ours.set_request_id("key-1");
  RequestUpgradeRequest theirs = ours;
  theirs.set_database("globex");
  absl::StatusOr<Upgrade> first = a.RequestUpgrade(ours, kCaller);
  absl::StatusOr<Upgrade> second = a.RequestUpgrade(theirs, Principal{"ceo", "globex", {scopes::kTest}});
  ASSERT_TRUE(first.ok() && second.ok()) << first.status() << second.status();
  EXPECT_NE(first->upgrade_id(), second->upgrade_id());  // globex's key-1 is not acme's
  EXPECT_EQ(store_.orders.size(), 2u);
}

TEST_F(AdmissionTest, EachTenantsOrdersAndChecksAreRateLimitedAndARefusedOneRecordsNothing) {
  for (const char* db : {"acme2", "acme3", "acme4"}) hosting_.Add(db, "16.0");
  AdmissionOptions options{{"upshift"}, absl::Hours(24 * 30)};
  options.orders_per_hour = 2;
  options.order_burst = 2;
  Admission a(options, catalog_, fleet_, store_, clock_, nullptr);
  RequestUpgradeRequest first = Order();
  first.set_request_id("first");
  ASSERT_TRUE(a.RequestUpgrade(first, kCaller).ok());
  CheckUpgradeRequest check;
  check.set_database("acme2");
  check.set_target_version("18.0");
  ASSERT_TRUE(a.CheckUpgrade(check, kCaller).ok());
  RequestUpgradeRequest third = Order();
  third.set_database("acme3");
  absl::Status limited = a.RequestUpgrade(third, kCaller).status();
  EXPECT_EQ(limited.code(), absl::StatusCode::kResourceExhausted) << limited;
  EXPECT_TRUE(absl::StrContains(limited.message(), "acme")) << limited;
  check.set_database("acme4");
  EXPECT_EQ(a.CheckUpgrade(check, kCaller).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store_.orders.size(), 2u);
  // A retry of an admitted order is answered, not counted; another tenant and operators have their own.
  EXPECT_TRUE(a.RequestUpgrade(first, kCaller).ok());
  hosting_.Add("globex", "16.0").owner = "globex";
  RequestUpgradeRequest theirs = Order();
  theirs.set_database("globex");
  EXPECT_TRUE(a.RequestUpgrade(theirs, Principal{"ceo", "globex", {scopes::kTest}}).ok());
  EXPECT_TRUE(a.RequestUpgrade(third, Principal{"ops", "", {scopes::kOperator}}).ok());
  // Half an hour later the tenant has one more.
  clock_.now += absl::Minutes(30);
  EXPECT_TRUE(a.CheckUpgrade(check, kCaller).ok());
  check.set_database("acme");
  EXPECT_EQ(a.CheckUpgrade(check, kCaller).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(AdmissionTest, ATokenWithoutATenantActsOnlyAsAnOperator) {
  Admission a = Make();
  absl::Status s = a.RequestUpgrade(Order(), Principal{"someone", "", {scopes::kRead, scopes::kTest}}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "no tenant")) << s;
  EXPECT_TRUE(store_.orders.empty());
}

// --- Scheduled upgrades (RequestUpgradeRequest.not_before) ---

Event LastRecord(const FakeOrderStore& store, const std::string& topic) {
  Event e;
  EXPECT_FALSE(store.outbox.empty());
  if (store.outbox.empty()) return e;
  EXPECT_EQ(store.outbox.back().topic, topic);
  EXPECT_TRUE(e.ParseFromString(store.outbox.back().payload));
  return e;
}

TEST_F(AdmissionTest, AnUpgradeOrderedForLaterIsScheduledRemindedOnceAndStartedAtItsTimeOnce) {
  Admission a = Make();
  RequestUpgradeRequest order = Order();
  const absl::Time start = clock_.now + absl::Hours(2);
  ToProto(start, order.mutable_not_before());
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(order, kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->state(), STATE_SCHEDULED);
  EXPECT_EQ(FromProto(u->not_before()), start);
  EXPECT_TRUE(u->cancellable());
  // Announced as scheduled, on the orders topic; nothing accepted yet.
  Event announced = LastRecord(store_, topics::kOrders);
  EXPECT_EQ(announced.kind_case(), Event::kScheduled);
  EXPECT_EQ(FromProto(announced.order().not_before()), start);
  ASSERT_EQ(store_.outbox.size(), 1u);

  Schedules schedules({absl::Hours(24 * 30), absl::Hours(1)}, store_, store_, clock_, [this] { ++woken_; });
  absl::StatusOr<Schedules::Swept> swept = schedules.Sweep();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(swept->started + swept->reminded, 0);
  EXPECT_EQ(store_.outbox.size(), 1u);

  clock_.now += absl::Minutes(90);  // within the reminder's hour
  swept = schedules.Sweep();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(swept->reminded, 1);
  Event reminder = LastRecord(store_, topics::kOrders);
  EXPECT_EQ(reminder.kind_case(), Event::kReminder);
  EXPECT_EQ(FromProto(reminder.reminder().starts_in()), absl::Minutes(30));
  EXPECT_EQ(schedules.Sweep()->reminded, 0);  // once

  clock_.now = start - absl::Seconds(1);
  EXPECT_EQ(schedules.Sweep()->started, 0);
  EXPECT_EQ(store_.outbox.size(), 2u);

  clock_.now = start + absl::Seconds(3);
  swept = schedules.Sweep();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(swept->started, 1);
  Event accepted = LastRecord(store_, topics::kOrders);
  EXPECT_EQ(accepted.kind_case(), Event::kAccepted);
  EXPECT_EQ(accepted.order().SerializeAsString(), announced.order().SerializeAsString());
  EXPECT_EQ(UpgradeOf(store_.orders[0]).state(), STATE_ACCEPTED);
  EXPECT_EQ(schedules.Sweep()->started, 0);  // once
  EXPECT_EQ(store_.outbox.size(), 3u);
}

TEST_F(AdmissionTest, AnUpgradeScheduledWithinTheRemindersLeadIsNotRemindedAgain) {
  Admission a = Make();
  RequestUpgradeRequest order = Order();
  ToProto(clock_.now + absl::Minutes(10), order.mutable_not_before());
  ASSERT_TRUE(a.RequestUpgrade(order, kCaller).ok());
  Schedules schedules({absl::Hours(24 * 30), absl::Hours(1)}, store_, store_, clock_, nullptr);
  EXPECT_EQ(schedules.Sweep()->reminded, 0);
  EXPECT_EQ(store_.outbox.size(), 1u);  // only its announcement, which says when it starts
  clock_.now += absl::Minutes(11);
  EXPECT_EQ(schedules.Sweep()->started, 1);
}

TEST_F(AdmissionTest, AProductionWhoseTestGrewTooOldBeforeItsStartIsRefusedThenAndTheCustomerToldWhy) {
  PastTest("18.0", Outcome::kSucceeded);
  Admission a = Make();
  RequestUpgradeRequest order = Order(PURPOSE_PRODUCTION);
  // Scheduled past the day its Test grows too old: refused at once, nothing recorded.
  ToProto(clock_.now + absl::Hours(24 * 31), order.mutable_not_before());
  const size_t before = store_.outbox.size();
  absl::Status late = a.RequestUpgrade(order, kCaller).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition) << late;
  EXPECT_THAT(late.message(), HasSubstr("more than 30 days old"));
  EXPECT_EQ(store_.outbox.size(), before);
  // Within it: scheduled.
  const absl::Time start = clock_.now + absl::Hours(24 * 29);
  ToProto(start, order.mutable_not_before());
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(order, kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->state(), STATE_SCHEDULED);
  // No replica served its start until two days later (request was down): by then its Test is 31
  // days old, and it does not start.
  clock_.now = start + absl::Hours(48);
  Schedules schedules({absl::Hours(24 * 30), absl::Hours(24)}, store_, store_, clock_, nullptr);
  absl::StatusOr<Schedules::Swept> swept = schedules.Sweep();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(swept->started, 0);
  EXPECT_EQ(swept->refused, 1);
  Event refused = LastRecord(store_, topics::kEvents);
  EXPECT_EQ(refused.kind_case(), Event::kCancelled);
  EXPECT_THAT(refused.cancelled().reason(), HasSubstr("its Test upgrade ended 31 days ago"));
  absl::StatusOr<std::optional<StoredOrder>> stored = store_.FindByUpgradeId(u->upgrade_id());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->outcome, Outcome::kCancelled);
  EXPECT_EQ(UpgradeOf(**stored).state(), STATE_CANCELLED);
}

TEST_F(AdmissionTest, AScheduledUpgradeIsCancelledAtOnceAndNeverStarts) {
  Admission a = Make();
  RequestUpgradeRequest order = Order();
  ToProto(clock_.now + absl::Hours(1), order.mutable_not_before());
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(order, kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  Cancellation cancellation(store_, clock_, nullptr);
  CancelUpgradeRequest cancel;
  cancel.set_upgrade_id(u->upgrade_id());
  absl::StatusOr<Upgrade> cancelled = cancellation.Cancel(cancel, kCaller);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), STATE_CANCELLED);
  Event ended = LastRecord(store_, topics::kEvents);
  EXPECT_EQ(ended.kind_case(), Event::kCancelled);
  EXPECT_THAT(ended.cancelled().reason(), HasSubstr("before its scheduled start"));
  clock_.now += absl::Hours(2);
  Schedules schedules({absl::Hours(24 * 30), absl::Hours(24)}, store_, store_, clock_, nullptr);
  EXPECT_EQ(schedules.Sweep()->started, 0);
  EXPECT_EQ(store_.outbox.size(), 2u);
  // The database is free for a new order.
  EXPECT_TRUE(a.RequestUpgrade(Order(), kCaller).ok());
}

TEST_F(AdmissionTest, NotBeforeIsCheckedAndATimeNotAheadStartsAtOnce) {
  Admission a = Make();
  RequestUpgradeRequest order = Order();
  ToProto(clock_.now + absl::Hours(24 * 91), order.mutable_not_before());
  absl::Status far = a.RequestUpgrade(order, kCaller).status();
  EXPECT_EQ(far.code(), absl::StatusCode::kInvalidArgument) << far;
  EXPECT_THAT(far.message(), HasSubstr("more than 90 days ahead"));
  order.mutable_not_before()->set_nanos(-1);
  EXPECT_EQ(a.RequestUpgrade(order, kCaller).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.outbox.empty());
  ToProto(clock_.now - absl::Minutes(1), order.mutable_not_before());
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(order, kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->state(), STATE_ACCEPTED);
  EXPECT_EQ(LastRecord(store_, topics::kOrders).kind_case(), Event::kAccepted);
}

// --- Maintenance windows ---

class FakeWindows final : public WindowBook {
 public:
  absl::Status PutWindow(const std::string& tenant, const std::string& database,
                         const std::optional<MaintenanceWindow>& window, const AuditOf& audit_of) override {
    if (window.has_value()) {
      windows[{tenant, database}] = *window;
    } else {
      windows.erase({tenant, database});
    }
    if (audit_of) ++audited;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Found>> WindowOf(const std::string& tenant, const std::string& database) override {
    for (const std::string& db : {database, std::string()}) {
      auto it = windows.find({tenant, db});
      if (it != windows.end()) return Found{it->second, !db.empty()};
    }
    return std::nullopt;
  }
  std::map<std::pair<std::string, std::string>, MaintenanceWindow> windows;
  int audited = 0;
};

MaintenanceWindow SaturdayNight() {
  MaintenanceWindow w;
  w.add_weekdays(6);
  w.set_start("02:00");
  ToProto(absl::Hours(4), w.mutable_length());
  w.set_time_zone("UTC");
  return w;
}

// Now is Friday 2027-01-15 08:00 UTC (FakeClock); the window opens Saturdays 02:00-06:00 UTC.
TEST_F(AdmissionTest, AProductionWithoutATimeGoesToItsMaintenanceWindowAndAMissedWindowIsSkipped) {
  PastTest("18.0", Outcome::kSucceeded);
  FakeWindows windows;
  windows.windows[{"acme", ""}] = SaturdayNight();  // the tenant's
  Admission a({{"upshift"}, absl::Hours(24 * 30)}, catalog_, fleet_, store_, clock_, nullptr, nullptr, nullptr,
              &windows);
  absl::StatusOr<Upgrade> u = a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->state(), STATE_SCHEDULED);
  const absl::Time opens = absl::FromUnixSeconds(1'800'000'000) + absl::Hours(18);  // Saturday 02:00
  EXPECT_EQ(FromProto(u->not_before()), opens);
  EXPECT_EQ(FromProto(u->latest_start()), opens + absl::Hours(4) - FromProto(u->estimated_downtime()));
  // request was down when the window opened, and is back an hour later: the window still has
  // room, so it starts then.
  Schedules schedules({absl::Hours(24 * 30), absl::Hours(24)}, store_, store_, clock_, nullptr);
  clock_.now = opens + absl::Hours(1);
  EXPECT_EQ(schedules.Sweep()->started, 1);
  ASSERT_TRUE(store_.MarkFinished(u->upgrade_id(), Outcome::kFailed, clock_.now).ok());

  // Ordered after the window closed, the next goes to the next Saturday; request is down through
  // all of that opening: skipped, and the customer told why.
  clock_.now = opens + absl::Hours(5);
  u = a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(FromProto(u->not_before()), opens + absl::Hours(24 * 7));
  clock_.now = opens + absl::Hours(24 * 7 + 5);
  absl::StatusOr<Schedules::Swept> swept = schedules.Sweep();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(swept->started, 0);
  EXPECT_EQ(swept->refused, 1);
  Event skipped = LastRecord(store_, topics::kEvents);
  EXPECT_EQ(skipped.kind_case(), Event::kCancelled);
  EXPECT_THAT(skipped.cancelled().reason(), HasSubstr("its maintenance window opened at 2027-01-23 02:00 UTC"));

  // In an open window with room: at once. A database's own window wins over its tenant's.
  windows.windows[{"acme", "acme"}] = SaturdayNight();
  windows.windows[{"acme", "acme"}].set_start("11:00");
  clock_.now = opens + absl::Hours(24 * 7 + 10);  // Saturday 12:00
  u = a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->state(), STATE_ACCEPTED);
  EXPECT_FALSE(u->has_not_before());
  // The pop-up shows the window that applies, and when it opens next (the database's own, open now).
  absl::StatusOr<GetUpgradeOptionsResponse> options = a.GetUpgradeOptions([] {
    GetUpgradeOptionsRequest r;
    r.set_database("acme");
    return r;
  }(), kCaller);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->maintenance_window().start(), "11:00");
  EXPECT_EQ(FromProto(options->next_window_opening()), opens + absl::Hours(24 * 7 + 9));
  // A Test takes nothing offline: windows do not apply to it.
  ASSERT_TRUE(store_.MarkFinished(u->upgrade_id(), Outcome::kFailed, clock_.now).ok());
  clock_.now += absl::Hours(5);
  u = a.RequestUpgrade(Order(PURPOSE_TEST), kCaller);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->state(), STATE_ACCEPTED);
}

TEST_F(AdmissionTest, AMaintenanceWindowIsSetByItsTenantWithTheProductionScopeAndReadBackWithItsOrigin) {
  FakeWindows windows;
  MaintenanceWindows service(fleet_, {"upshift"}, windows, clock_);
  SetMaintenanceWindowRequest set;
  set.set_database("acme");
  *set.mutable_window() = SaturdayNight();
  // A Test-only token may not set one.
  const Principal tester{"dev", "acme", {scopes::kRead, scopes::kTest}};
  EXPECT_EQ(service.Set(set, tester, nullptr).status().code(), absl::StatusCode::kPermissionDenied);
  // Another tenant's database is not found, as a missing one; nothing is recorded.
  const Principal globex{"ceo", "globex", {scopes::kRead, scopes::kProduction}};
  EXPECT_EQ(service.Set(set, globex, nullptr).status().code(), absl::StatusCode::kNotFound);
  // Nor may a tenant name another tenant.
  SetMaintenanceWindowRequest other_tenant;
  other_tenant.set_tenant("acme");
  *other_tenant.mutable_window() = SaturdayNight();
  EXPECT_EQ(service.Set(other_tenant, globex, nullptr).status().code(), absl::StatusCode::kPermissionDenied);
  // A malformed window names its field.
  SetMaintenanceWindowRequest bad = set;
  bad.mutable_window()->set_time_zone("Nowhere/Special");
  absl::Status refused = service.Set(bad, kCaller, nullptr).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("time_zone"));
  EXPECT_TRUE(windows.windows.empty());

  // The tenant's own window, then the database's.
  SetMaintenanceWindowRequest tenant_wide;
  *tenant_wide.mutable_window() = SaturdayNight();
  absl::StatusOr<SetMaintenanceWindowResponse> done = service.Set(tenant_wide, kCaller, nullptr);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(FromProto(done->next_opening()), absl::FromUnixSeconds(1'800'000'000) + absl::Hours(18));
  GetMaintenanceWindowRequest get;
  get.set_database("acme");
  absl::StatusOr<GetMaintenanceWindowResponse> shown = service.Get(get, kCaller);
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->set_on(), "tenant");
  set.mutable_window()->set_start("03:00");
  ASSERT_TRUE(service.Set(set, kCaller, [](const upgrade::v1::Order&) -> std::optional<AuditEntry> { return std::nullopt; }).ok());
  EXPECT_EQ(windows.audited, 1);
  shown = service.Get(get, kCaller);
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->set_on(), "database");
  EXPECT_EQ(shown->window().start(), "03:00");
  // Removed: the tenant's applies again.
  set.clear_window();
  ASSERT_TRUE(service.Set(set, kCaller, nullptr).ok());
  EXPECT_EQ(service.Get(get, kCaller)->set_on(), "tenant");
}

// --- Reverts (RevertUpgrade) ---

TEST_F(AdmissionTest, ARevertOfTheLatestProductionAsksFirstThenIsOrderedOnceWithinTheRestorePointsRetention) {
  PastTest("18.0", Outcome::kSucceeded);
  Admission a = Make();
  absl::StatusOr<Upgrade> production = a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(production.ok()) << production.status();
  RevertUpgradeRequest req;
  req.set_upgrade_id(production->upgrade_id());
  // Not done yet: nothing to revert.
  absl::Status early = a.RevertUpgrade(req, kCaller).status();
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition) << early;
  EXPECT_THAT(early.message(), HasSubstr("not a successful Production upgrade"));
  const absl::Time done_at = clock_.now + absl::Minutes(5);
  ASSERT_TRUE(store_.MarkFinished(production->upgrade_id(), Outcome::kSucceeded, done_at).ok());
  hosting_.Add("acme", "18.0");
  clock_.now = done_at + absl::Hours(2);
  const size_t recorded = store_.outbox.size();

  // Scope and tenancy first.
  const Principal tester{"dev", "acme", {scopes::kRead, scopes::kTest}};
  EXPECT_EQ(a.RevertUpgrade(req, tester).status().code(), absl::StatusCode::kPermissionDenied);
  const Principal globex{"ceo", "globex", {scopes::kRead, scopes::kProduction}};
  EXPECT_EQ(a.RevertUpgrade(req, globex).status().code(), absl::StatusCode::kNotFound);
  // Unconfirmed: refused, saying what is lost since when; nothing recorded.
  absl::Status unconfirmed = a.RevertUpgrade(req, kCaller).status();
  EXPECT_EQ(unconfirmed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(unconfirmed.message(),
              HasSubstr(absl::StrCat("EVERYTHING WRITTEN TO IT SINCE ",
                                     absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", done_at, absl::UTCTimeZone()),
                                     " IS LOST")));
  EXPECT_THAT(unconfirmed.message(), HasSubstr("confirm_data_loss"));
  EXPECT_EQ(store_.outbox.size(), recorded);

  req.set_confirm_data_loss(true);
  absl::StatusOr<RevertUpgradeResponse> revert = a.RevertUpgrade(req, kCaller);
  ASSERT_TRUE(revert.ok()) << revert.status();
  EXPECT_EQ(revert->upgrade().purpose(), PURPOSE_REVERT);
  EXPECT_EQ(revert->upgrade().state(), STATE_ACCEPTED);
  EXPECT_EQ(revert->upgrade().from_version(), "18.0");
  EXPECT_EQ(revert->upgrade().target_version(), "16.0");
  EXPECT_EQ(FromProto(revert->writes_lost_since()), done_at);
  Event accepted = LastRecord(store_, topics::kOrders);
  EXPECT_EQ(accepted.kind_case(), Event::kAccepted);
  EXPECT_EQ(accepted.order().reverts_upgrade_id(), production->upgrade_id());
  EXPECT_EQ(accepted.order().restore_point(), RestorePointName("acme", production->upgrade_id()));
  EXPECT_EQ(accepted.order().notify_email(), "owner@acme.example.com");
  // Twice: refused, while it runs and after it succeeded.
  absl::Status twice = a.RevertUpgrade(req, kCaller).status();
  EXPECT_EQ(twice.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.message(), HasSubstr("being reverted already"));
  ASSERT_TRUE(store_.MarkFinished(revert->upgrade().upgrade_id(), Outcome::kSucceeded, clock_.now).ok());
  EXPECT_THAT(a.RevertUpgrade(req, kCaller).status().message(), HasSubstr("was reverted already"));
}

TEST_F(AdmissionTest, ARevertPastTheRestorePointsRetentionIsRefused) {
  PastTest("18.0", Outcome::kSucceeded);
  Admission a = Make();
  absl::StatusOr<Upgrade> production = a.RequestUpgrade(Order(PURPOSE_PRODUCTION), kCaller);
  ASSERT_TRUE(production.ok()) << production.status();
  ASSERT_TRUE(store_.MarkFinished(production->upgrade_id(), Outcome::kSucceeded, clock_.now).ok());
  hosting_.Add("acme", "18.0");
  clock_.now += absl::Hours(24 * 7 + 1);
  RevertUpgradeRequest req;
  req.set_upgrade_id(production->upgrade_id());
  req.set_confirm_data_loss(true);
  absl::Status gone = a.RevertUpgrade(req, kCaller).status();
  EXPECT_EQ(gone.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(gone.message(), HasSubstr("is gone"));
}

// Rollouts and their databases in memory, leased as PgOrderStore leases them.
class FakeRolloutBook final : public RolloutBook {
 public:
  absl::Status CreateRollout(const StoredRollout& r) override {
    for (const auto& [id, held] : rollouts) {
      if (!r.spec.request_id().empty() && held.rollout.spec.request_id() == r.spec.request_id()) {
        return absl::AlreadyExistsError("taken");
      }
    }
    rollouts[r.rollout_id] = {r, "", absl::InfinitePast()};
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<StoredRollout>> FindRollout(const std::string& id) override {
    if (!rollouts.count(id)) return std::nullopt;
    return rollouts[id].rollout;
  }
  absl::StatusOr<std::optional<StoredRollout>> FindRolloutByRequestId(const std::string& key) override {
    for (const auto& [id, held] : rollouts) {
      if (held.rollout.spec.request_id() == key) return held.rollout;
    }
    return std::nullopt;
  }
  absl::StatusOr<std::vector<StoredRollout>> ListRollouts(int limit) override {
    std::vector<StoredRollout> out;
    for (const auto& [id, held] : rollouts) out.push_back(held.rollout);
    return out;
  }
  absl::StatusOr<std::vector<std::string>> ActiveRollouts() override {
    std::vector<std::string> out;
    for (const auto& [id, held] : rollouts) {
      if (held.rollout.state == ROLLOUT_RUNNING || held.rollout.state == ROLLOUT_PAUSED) out.push_back(id);
    }
    return out;
  }
  absl::StatusOr<std::optional<StoredRollout>> LeaseRollout(const std::string& id, const std::string& holder,
                                                            absl::Time now, absl::Duration ttl) override {
    Held& h = rollouts[id];
    if (h.rollout.state != ROLLOUT_RUNNING && h.rollout.state != ROLLOUT_PAUSED) return std::nullopt;
    if (!h.holder.empty() && h.holder != holder && h.lease_until > now) return std::nullopt;
    h.holder = holder;
    h.lease_until = now + ttl;
    return h.rollout;
  }
  absl::Status SaveMember(const std::string& id, const RolloutMember& member) override {
    if (fail_saves > 0) {
      --fail_saves;
      return absl::UnavailableError("platform database down");
    }
    for (RolloutMember& m : rollouts[id].rollout.members) {
      if (m.database == member.database) m = member;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<bool> AdvanceRollout(const StoredRollout& r, const std::string& holder) override {
    Held& h = rollouts[r.rollout_id];
    if (h.holder != holder || h.rollout.state != ROLLOUT_RUNNING) return false;
    std::vector<RolloutMember> members = h.rollout.members;
    h.rollout = r;
    h.rollout.members = members;
    return true;
  }
  absl::StatusOr<StoredRollout> ChangeRollout(const std::string& id,
                                              const std::function<absl::Status(StoredRollout&)>& decide) override {
    if (!rollouts.count(id)) return absl::NotFoundError(id);
    StoredRollout r = rollouts[id].rollout;
    if (absl::Status s = decide(r); !s.ok()) return s;
    rollouts[id].rollout = r;
    rollouts[id].holder.clear();
    return r;
  }

  struct Held {
    StoredRollout rollout;
    std::string holder;
    absl::Time lease_until;
  };
  std::map<std::string, Held> rollouts;
  int fail_saves = 0;
};

class NoAuditLog final : public AuditLog {
 public:
  absl::Status Append(const AuditRecord& record, const OutgoingRecord&) override {
    records.push_back(record);
    return absl::OkStatus();
  }
  absl::StatusOr<int> PruneAudit(absl::Time, int) override { return 0; }
  absl::StatusOr<std::vector<NumberedAuditRecord>> ListAudit(const std::string&, const std::string&, int64_t,
                                                             int) override {
    return std::vector<NumberedAuditRecord>();
  }
  std::vector<AuditRecord> records;
};

const Principal kOperator{"ops", "", {scopes::kOperator}};

class RolloutTest : public AdmissionTest {
 protected:
  RolloutTest() {
    hosting_.dbs.clear();
    for (int i = 0; i < 10; ++i) hosting_.Add(absl::StrCat("db0", i), "16.0");
    hosting_.Add("newer", "17.0");
    hosting_.Add("initech_erp", "16.0").owner = "initech";
  }

  Rollouts Make(const std::string& holder = "replica-a", int copies_limit = 0) {
    return Rollouts({{"upshift"}, absl::Seconds(30), 50}, catalog_, fleet_, admission_, store_, book_, auditor_,
                    clock_, [copies_limit](const std::string&) { return copies_limit; }, holder);
  }

  StartRolloutRequest Spec(Purpose purpose = PURPOSE_TEST) {
    StartRolloutRequest r;
    r.set_target_version("17.0");
    r.set_purpose(purpose);
    r.mutable_selector()->add_from_versions("16.0");
    r.mutable_selector()->add_tenants("acme");
    r.add_waves()->set_databases(2);
    r.add_waves()->set_percent(50);
    r.add_waves()->set_databases(3);
    r.mutable_bake()->set_seconds(3600);
    r.set_max_failed_percent(20);
    r.set_notify_email("ops@host.example.com");
    return r;
  }

  // Ends every active order of the rollout's databases in `dbs` with `outcome`.
  void End(const std::vector<std::string>& dbs, Outcome outcome) {
    for (StoredOrder& s : store_.orders) {
      if (s.outcome == Outcome::kActive &&
          std::find(dbs.begin(), dbs.end(), s.order.database()) != dbs.end()) {
        s.outcome = outcome;
        s.finished_at = clock_.now;
      }
    }
  }

  std::vector<std::string> Ordered() {
    std::vector<std::string> out;
    for (const StoredOrder& s : store_.orders) out.push_back(s.order.database());
    return out;
  }

  Admission admission_ = AdmissionTest::Make();
  FakeRolloutBook book_;
  NoAuditLog audit_log_;
  Auditor auditor_{audit_log_, clock_, nullptr};
};

TEST(RolloutWaves, SizesAndSharesRoundUpAndTheLastWaveTakesTheRest) {
  google::protobuf::RepeatedPtrField<RolloutWave> waves;
  EXPECT_THAT(WaveSizes(waves, 7), ElementsAre(7));
  waves.Add()->set_databases(2);
  waves.Add()->set_percent(50);
  EXPECT_THAT(WaveSizes(waves, 10), ElementsAre(2, 8));  // 50% asked: 5, and the 3 left
  EXPECT_THAT(WaveSizes(waves, 3), ElementsAre(2, 1));
  EXPECT_THAT(WaveSizes(waves, 1), ElementsAre(1));
  waves.Add()->set_percent(10);
  EXPECT_THAT(WaveSizes(waves, 30), ElementsAre(2, 15, 13));  // 3 asked, the last takes the 10 left too
}

TEST_F(RolloutTest, WavesBakeAndAWaveThatFailsAboveItsThresholdPausesItUntilResumed) {
  Rollouts rollouts = Make();
  absl::StatusOr<Rollout> started = rollouts.Start(Spec(), kOperator);
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->waves_size(), 3);  // 2, 50% of 10, 3
  EXPECT_EQ(started->waves(0).databases(), 2);
  EXPECT_EQ(started->waves(1).databases(), 5);
  EXPECT_EQ(started->waves(2).databases(), 3);
  const std::string id = started->rollout_id();

  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_THAT(Ordered(), ElementsAre("db00", "db01"));
  const StoredOrder& first = store_.orders[0];
  EXPECT_EQ(first.order.request_id(), absl::StrCat("rollout:", id, ":db00"));
  EXPECT_EQ(first.order.rollout_id(), id);
  EXPECT_EQ(first.order.notify_email(), "ops@host.example.com");
  ASSERT_FALSE(store_.audited.empty());
  EXPECT_EQ(store_.audited[0].rollout_id(), id);
  EXPECT_EQ(store_.audited[0].subject(), "ops");
  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_EQ(Ordered().size(), 2u) << "a wave waits for its databases";

  End({"db00", "db01"}, Outcome::kSucceeded);
  ASSERT_TRUE(rollouts.Sweep().ok());
  ASSERT_TRUE(rollouts.Sweep().ok());
  absl::StatusOr<Rollout> baking = rollouts.Get(id, kOperator);
  ASSERT_TRUE(baking.ok());
  EXPECT_EQ(baking->current_wave(), 2);
  EXPECT_EQ(FromProto(baking->next_wave_at()), clock_.now + absl::Hours(1));
  EXPECT_EQ(baking->waves(0).succeeded(), 2);
  EXPECT_EQ(Ordered().size(), 2u) << "baking";

  clock_.now += absl::Hours(1);
  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_EQ(Ordered().size(), 7u);
  End({"db02", "db03"}, Outcome::kFailed);  // 2 of 5: 40% > 20%
  ASSERT_TRUE(rollouts.Sweep().ok());
  absl::StatusOr<Rollout> paused = rollouts.Get(id, kOperator);
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ(paused->state(), ROLLOUT_PAUSED);
  EXPECT_THAT(paused->reason(), HasSubstr("wave 2: 2 of 5 failed (40%), above the 20% allowed"));
  EXPECT_EQ(paused->waves(1).failed(), 2);
  EXPECT_EQ(paused->waves(1).running(), 3);
  EXPECT_EQ(paused->waves(2).left(), 3);
  End({"db04", "db05", "db06"}, Outcome::kSucceeded);
  clock_.now += absl::Hours(5);
  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_EQ(Ordered().size(), 7u) << "a paused rollout orders nothing";
  paused = rollouts.Get(id, kOperator);
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ(paused->waves(1).succeeded(), 3) << "but it keeps what became of its upgrades";
  EXPECT_EQ(paused->state(), ROLLOUT_PAUSED);

  EXPECT_EQ(rollouts.Pause(id, kOperator).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<Rollout> resumed = rollouts.Resume(id, kOperator);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state(), ROLLOUT_RUNNING);
  ASSERT_TRUE(rollouts.Sweep().ok());  // wave 2 ended: its failures were seen, wave 3 after the bake
  clock_.now += absl::Hours(1);
  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_THAT(Ordered(), ElementsAre("db00", "db01", "db02", "db03", "db04", "db05", "db06", "db07", "db08", "db09"));
  End({"db07", "db08", "db09"}, Outcome::kSucceeded);
  ASSERT_TRUE(rollouts.Sweep().ok());
  absl::StatusOr<Rollout> done = rollouts.Get(id, kOperator);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), ROLLOUT_DONE);
  EXPECT_EQ(done->reason(), "every wave ended: 8 succeeded, 2 failed, 0 skipped");
  ASSERT_EQ(done->databases_size(), 10);
  EXPECT_EQ(done->databases(2).state(), "failed");
  EXPECT_EQ(done->databases(2).database(), "db02");
  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_EQ(Ordered().size(), 10u) << "each database once";
}

TEST_F(RolloutTest, NoMoreAtOnceOnAServerThanItsCopiesLimit) {
  Rollouts rollouts = Make("replica-a", 2);
  StartRolloutRequest spec = Spec();
  spec.clear_waves();
  ASSERT_TRUE(rollouts.Start(spec, kOperator).ok());
  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_EQ(Ordered().size(), 2u);
  End({"db00"}, Outcome::kSucceeded);
  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_EQ(Ordered().size(), 3u);
}

TEST_F(RolloutTest, AProductionRolloutGoesToEachMaintenanceWindowAndAWaitingUpgradeHoldsNoPlaceOnItsServer) {
  // Three databases with a green Test, a tenant window on Saturday night, and a server that runs one
  // copy at a time.
  hosting_.dbs.clear();
  for (const std::string db : {"shop_a", "shop_b", "shop_c"}) {
    hosting_.Add(db, "16.0");
    RequestUpgradeRequest test = Order(PURPOSE_TEST, "17.0");
    test.set_database(db);
    absl::StatusOr<Upgrade> u = admission_.RequestUpgrade(test, kOperator);
    ASSERT_TRUE(u.ok()) << u.status();
    ASSERT_TRUE(store_.MarkFinished(u->upgrade_id(), Outcome::kSucceeded, clock_.now).ok());
  }
  FakeWindows windows;
  windows.windows[{"acme", ""}] = SaturdayNight();
  Admission in_windows({{"upshift"}, absl::Hours(24 * 30)}, catalog_, fleet_, store_, clock_, nullptr, nullptr,
                       nullptr, &windows);
  Rollouts rollouts({{"upshift"}, absl::Seconds(30), 50}, catalog_, fleet_, in_windows, store_, book_, auditor_,
                    clock_, [](const std::string&) { return 1; }, "replica-a");
  StartRolloutRequest spec = Spec(PURPOSE_PRODUCTION);
  spec.clear_waves();
  ASSERT_TRUE(rollouts.Start(spec, kOperator).ok());
  ASSERT_TRUE(rollouts.Sweep().ok());
  ASSERT_TRUE(rollouts.Sweep().ok());
  int scheduled = 0;
  for (const StoredOrder& s : store_.orders) {
    if (s.order.purpose() != PURPOSE_PRODUCTION) continue;
    EXPECT_TRUE(s.scheduled()) << s.order.database();
    EXPECT_EQ(FromProto(s.order.not_before()), absl::FromUnixSeconds(1'800'000'000) + absl::Hours(18));
    ++scheduled;
  }
  EXPECT_EQ(scheduled, 3) << "each waits for its window: none holds the server's one place";
}

TEST_F(RolloutTest, OneReplicaAtATimeAndAnOrderNotRecordedIsTheSameUpgradeWhenOrderedAgain) {
  Rollouts a = Make("replica-a");
  Rollouts b = Make("replica-b");
  StartRolloutRequest spec = Spec();
  spec.clear_waves();
  ASSERT_TRUE(a.Start(spec, kOperator).ok());
  book_.fail_saves = 1;  // replica a orders db00, then cannot record it
  EXPECT_FALSE(a.Sweep().ok());
  ASSERT_EQ(Ordered().size(), 1u);
  ASSERT_TRUE(b.Sweep().ok());
  EXPECT_EQ(Ordered().size(), 1u) << "replica a holds the lease";
  clock_.now += absl::Seconds(31);  // a died: its lease lapses, b takes over and orders db00 again
  ASSERT_TRUE(b.Sweep().ok());
  EXPECT_EQ(Ordered().size(), 10u);
  const std::vector<std::string> ordered = Ordered();
  std::set<std::string> unique(ordered.begin(), ordered.end());
  EXPECT_EQ(unique.size(), 10u);
  absl::StatusOr<Rollout> r = b.Get(book_.rollouts.begin()->first, kOperator);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->databases(0).upgrade_id(), store_.orders[0].order.upgrade_id());
}

TEST_F(RolloutTest, AProductionRolloutSkipsDatabasesWithoutAGreenTestAndSaysWhy) {
  Rollouts rollouts = Make();
  StartRolloutRequest spec = Spec(PURPOSE_PRODUCTION);
  spec.clear_waves();
  spec.mutable_selector()->clear_tenants();
  absl::StatusOr<Rollout> started = rollouts.Start(spec, kOperator);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->waves(0).databases(), 11) << "both tenants' databases at 16.0";
  ASSERT_TRUE(rollouts.Sweep().ok());
  ASSERT_TRUE(rollouts.Sweep().ok());
  absl::StatusOr<Rollout> r = rollouts.Get(started->rollout_id(), kOperator);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state(), ROLLOUT_DONE);
  EXPECT_EQ(r->waves(0).skipped(), 11);
  EXPECT_THAT(r->databases(0).note(), HasSubstr("Test"));
  EXPECT_TRUE(store_.orders.empty());
}

// Each version is read inside its database, on a connection of its own: a fleet's worth one after
// another would outlast the call. A few at once per server, never all of its reads.
TEST_F(RolloutTest, VersionsAreReadSeveralAtOnceAndOneThatCannotBeReadStartsNothing) {
  struct Reads {
    int in_flight = 0, begun = 0, most = 0;
    // Another read runs beside this one, or none is left to come.
    bool Met() const { return in_flight >= 2 || begun == 11; }  // acme's 11 databases
  } reads;
  absl::Mutex mu;
  hosting_.reading = [&](const std::string&) {
    absl::MutexLock lock(&mu);
    ++reads.begun;
    reads.most = std::max(reads.most, ++reads.in_flight);
    // Held until then (or a while passed: the reads ran one by one).
    mu.AwaitWithTimeout(absl::Condition(&reads, &Reads::Met), absl::Seconds(2));
    --reads.in_flight;
    return absl::OkStatus();
  };
  absl::StatusOr<Rollout> started = Make().Start(Spec(), kOperator);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->waves(0).databases() + started->waves(1).databases() + started->waves(2).databases(), 10);
  EXPECT_EQ(reads.begun, 11);
  EXPECT_GE(reads.most, 2);
  EXPECT_LE(reads.most, 4);

  // A read refused for want of a place (or a server too slow) is not "not an application database":
  // the rollout does not start without that database, it does not start at all.
  book_.rollouts.clear();
  hosting_.reading = [](const std::string& name) {
    return name == "db07" ? absl::ResourceExhaustedError("all 8 reads of customer databases were busy")
                          : absl::OkStatus();
  };
  absl::StatusOr<Rollout> refused = Make().Start(Spec(), kOperator);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("db07"));
  EXPECT_THAT(refused.status().message(), HasSubstr("nothing was started"));
  EXPECT_TRUE(book_.rollouts.empty());
}

TEST_F(RolloutTest, OnlyOperatorsAndMalformedOrEmptyRolloutsAreRefused) {
  Rollouts rollouts = Make();
  EXPECT_EQ(rollouts.Start(Spec(), kCaller).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(rollouts.List({}, kCaller).status().code(), absl::StatusCode::kPermissionDenied);
  StartRolloutRequest bad = Spec();
  bad.set_target_version("99.0");
  EXPECT_EQ(rollouts.Start(bad, kOperator).status().code(), absl::StatusCode::kInvalidArgument);
  bad = Spec();
  bad.add_waves()->set_percent(101);
  EXPECT_THAT(rollouts.Start(bad, kOperator).status().message(), HasSubstr("waves[3]"));
  bad = Spec();
  bad.mutable_selector()->add_servers("nowhere");
  EXPECT_EQ(rollouts.Start(bad, kOperator).status().code(), absl::StatusCode::kInvalidArgument);
  bad = Spec();
  bad.set_max_failed_percent(101);
  EXPECT_EQ(rollouts.Start(bad, kOperator).status().code(), absl::StatusCode::kInvalidArgument);
  bad = Spec();
  bad.mutable_selector()->set_tenants(0, "globex");
  EXPECT_EQ(rollouts.Start(bad, kOperator).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(book_.rollouts.empty());
  EXPECT_EQ(rollouts.Get("1b4e28ba-2fa1-11d2-883f-0016d3cca427", kOperator).status().code(),
            absl::StatusCode::kNotFound);
  // A key twice: the same rollout.
  StartRolloutRequest keyed = Spec();
  keyed.set_request_id("wave-17");
  absl::StatusOr<Rollout> one = rollouts.Start(keyed, kOperator);
  absl::StatusOr<Rollout> two = rollouts.Start(keyed, kOperator);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(one->rollout_id(), two->rollout_id());
  EXPECT_EQ(book_.rollouts.size(), 1u);
  // The key reused for another selection: refused, naming the first rollout; nothing started.
  StartRolloutRequest other = keyed;
  other.set_max_failed_percent(keyed.max_failed_percent() + 10);
  absl::StatusOr<Rollout> reused = rollouts.Start(other, kOperator);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(reused.status().message(), HasSubstr(one->rollout_id()));
  EXPECT_EQ(book_.rollouts.size(), 1u);
  absl::StatusOr<Rollout> cancelled = rollouts.Cancel(one->rollout_id(), kOperator);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), ROLLOUT_CANCELLED);
  ASSERT_TRUE(rollouts.Sweep().ok());
  EXPECT_TRUE(store_.orders.empty()) << "a cancelled rollout orders nothing";
}

}  // namespace
}  // namespace upshift::request
