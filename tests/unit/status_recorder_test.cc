#include "services/status/status_recorder.h"


#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "libs/common/time.h"
#include "libs/kafka/events.h"
#include "services/status/status_logic.h"
#include "tests/unit/fakes.h"

namespace upshift::status {
namespace {

using namespace upgrade::v1;
using upshift::testing::SampleOrder;

// The three ports in memory: a transaction that always commits.
struct FakeRows final : UpgradeRows, EventLedger, DatabaseBook {
  std::optional<RecordedUpgrade> Lock(const std::string& id) override {
    auto it = upgrades.find(id);
    if (it == upgrades.end()) return std::nullopt;
    return it->second;
  }
  std::optional<Upgrade> Read(const std::string& id) override {
    auto it = upgrades.find(id);
    return it == upgrades.end() ? std::nullopt : std::optional<Upgrade>(it->second.upgrade);
  }
  void Save(const Upgrade& u) override { upgrades[u.upgrade_id()].upgrade = u; }
  void Touch(const Upgrade& u) override { upgrades[u.upgrade_id()].upgrade = u; }
  void KeepAnnounced(const Order& o) override {
    if (!upgrades[o.upgrade_id()].announced.has_value()) upgrades[o.upgrade_id()].announced = o;
  }
  void Publish(const std::string& event_id, const Upgrade& u) override { published.emplace_back(event_id, u.state()); }
  bool FirstApplied(const std::string& id) override { return applied.insert(id).second; }
  void Hold(const Event& e) override { held.push_back(e); }
  std::vector<Event> TakeHeld(const std::string& id) override {
    std::vector<Event> taken, kept;
    for (const Event& e : held) (e.order().upgrade_id() == id ? taken : kept).push_back(e);
    held = kept;
    return taken;
  }
  void SetTag(const std::string& db, Tag tag, bool on) override {
    if (on) tags[db].insert(tag); else tags[db].erase(tag);
  }
  void PutCopy(const std::string& name, const std::string& parent, const std::string& version) override {
    parents[name] = parent;
    versions[name] = version;
  }
  void SetVersion(const std::string& db, const std::string& version, bool only_if_unknown) override {
    if (!only_if_unknown || versions.count(db) == 0) versions[db] = version;
  }
  void SetExpiry(const std::string& copy, absl::Time at) override { expiries[copy] = at; }
  void SetScheduledStart(const std::string& database, absl::Time at) override { scheduled_starts[database] = at; }
  void Forget(const std::string& name) override {
    parents.erase(name);
    versions.erase(name);
    tags.erase(name);
  }

  std::map<std::string, RecordedUpgrade> upgrades;
  std::vector<std::pair<std::string, State>> published;
  std::set<std::string> applied;
  std::vector<Event> held;
  std::map<std::string, std::set<Tag>> tags;
  std::map<std::string, std::string> parents, versions;
  std::map<std::string, absl::Time> expiries;
  std::map<std::string, absl::Time> scheduled_starts;
};

class StatusRecorderTest : public ::testing::Test {
 protected:
  Event E(const std::string& kind, const Order& order = SampleOrder()) {
    Event e = MakeEvent(order, kind, kind == "accepted" ? "request" : "cloner", absl::FromUnixSeconds(1'800'000'000 + ++second_));
    if (kind == "accepted") e.mutable_accepted();
    if (kind == "clone_started") e.mutable_clone_started();
    if (kind == "clone_succeeded") {
      e.mutable_clone_succeeded()->add_copy_rows()->set_rows(5);
      ToProto(absl::FromUnixSeconds(1'900'000'000), e.mutable_clone_succeeded()->mutable_expires_at());
    }
    if (kind == "heartbeat") e.mutable_heartbeat()->set_working_on("clone_started");
    if (kind == "test_copy_dropped") e.mutable_test_copy_dropped()->set_reason("expired");
    if (kind == "succeeded") e.mutable_succeeded()->set_version("18.0");
    return e;
  }
  absl::StatusOr<std::optional<Upgrade>> Apply(const Event& e) { return StatusRecorder(rows_, rows_, rows_).Apply(e); }

  FakeRows rows_;
  int second_ = 0;
};

TEST_F(StatusRecorderTest, AnAcceptedTestTagsItsDatabaseAndPublishesTheChange) {
  absl::StatusOr<std::optional<Upgrade>> after = Apply(E("accepted"));
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_TRUE(after->has_value());
  EXPECT_EQ((*after)->state(), STATE_ACCEPTED);
  EXPECT_EQ(rows_.tags["acme"], std::set<Tag>{TAG_UPGRADE_IN_PROGRESS});
  EXPECT_EQ(rows_.versions["acme"], "16.0");
  ASSERT_EQ(rows_.published.size(), 1u);
  EXPECT_EQ(rows_.published[0].second, STATE_ACCEPTED);
  EXPECT_EQ(rows_.upgrades[SampleOrder().upgrade_id()].announced->database(), "acme");
}

// Issue 25: a scheduled upgrade shows its start on its database until it starts; a revert puts the
// old version back and its restore point, now the database, is no longer listed.
TEST_F(StatusRecorderTest, AScheduledStartIsShownUntilItStartsAndARevertForgetsItsRestorePoint) {
  Order later = SampleOrder();
  later.mutable_not_before()->set_seconds(1'800'003'600);
  Event scheduled = MakeEvent(later, "scheduled", "request", absl::FromUnixSeconds(1'800'000'000));
  scheduled.mutable_scheduled();
  absl::StatusOr<std::optional<Upgrade>> after = Apply(scheduled);
  ASSERT_TRUE(after.ok() && after->has_value()) << after.status();
  EXPECT_EQ((*after)->state(), STATE_SCHEDULED);
  EXPECT_EQ(rows_.tags["acme"], std::set<Tag>{TAG_UPGRADE_SCHEDULED});
  EXPECT_EQ(rows_.scheduled_starts["acme"], absl::FromUnixSeconds(1'800'003'600));
  after = Apply(E("accepted", later));
  ASSERT_TRUE(after.ok() && after->has_value()) << after.status();
  EXPECT_EQ((*after)->state(), STATE_ACCEPTED);
  EXPECT_EQ(rows_.tags["acme"], std::set<Tag>{TAG_UPGRADE_IN_PROGRESS});
  EXPECT_EQ(rows_.scheduled_starts["acme"], absl::InfinitePast());

  Order revert = SampleOrder(PURPOSE_REVERT);
  revert.set_upgrade_id("1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  revert.set_test_database("");
  revert.set_from_version("18.0");
  revert.set_target_version("16.0");
  revert.set_restore_point("acme_rp_0f8fad5b");
  rows_.parents["acme_rp_0f8fad5b"] = "acme";
  rows_.tags["acme_rp_0f8fad5b"] = {TAG_RESTORE_POINT};
  rows_.versions["acme"] = "18.0";  // where the Production upgrade left it
  ASSERT_TRUE(Apply(E("accepted", revert)).ok());
  Event done = E("succeeded", revert);
  done.mutable_succeeded()->set_version("16.0");
  after = Apply(done);
  ASSERT_TRUE(after.ok() && after->has_value()) << after.status();
  EXPECT_EQ((*after)->state(), STATE_SUCCEEDED);
  EXPECT_EQ(rows_.versions["acme"], "16.0");
  EXPECT_EQ(rows_.parents.count("acme_rp_0f8fad5b"), 0u);
  EXPECT_EQ(rows_.tags.count("acme_rp_0f8fad5b"), 0u);
}

TEST_F(StatusRecorderTest, AnEventAppliedOnceChangesNothingTheSecondTime) {
  ASSERT_TRUE(Apply(E("accepted")).ok());
  const Event started = E("clone_started");
  ASSERT_TRUE(Apply(started).ok());
  absl::StatusOr<std::optional<Upgrade>> again = Apply(started);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(rows_.published.size(), 2u);
}

TEST_F(StatusRecorderTest, ARecordThatDisagreesWithTheAnnouncedOrderIsRefused) {
  ASSERT_TRUE(Apply(E("accepted")).ok());
  Order moved = SampleOrder();
  moved.set_test_database("globex");
  absl::StatusOr<std::optional<Upgrade>> refused = Apply(E("clone_succeeded", moved));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(rows_.parents.count("globex"), 0u);
  EXPECT_EQ(rows_.published.size(), 1u);
}

TEST_F(StatusRecorderTest, RecordsAheadOfTheAcceptanceAreHeldThenAppliedWithItUnlessTheyDisagree) {
  Order moved = SampleOrder();
  moved.set_test_database("globex");
  ASSERT_TRUE(Apply(E("clone_started")).ok());
  ASSERT_TRUE(Apply(E("clone_succeeded", moved)).ok());  // held: nothing to check it against yet
  ASSERT_TRUE(Apply(E("heartbeat")).ok());                // nothing to show yet: not even held
  EXPECT_EQ(rows_.held.size(), 2u);
  EXPECT_TRUE(rows_.published.empty());
  absl::StatusOr<std::optional<Upgrade>> after = Apply(E("accepted"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ((*after)->state(), STATE_CLONING);  // the early clone_started, applied; the forged copy refused
  EXPECT_EQ(rows_.parents.count("globex"), 0u);
  EXPECT_TRUE(rows_.held.empty());
}

TEST_F(StatusRecorderTest, AHeartbeatOnlyTouchesTheUpgradeAndIsNotKept) {
  ASSERT_TRUE(Apply(E("accepted")).ok());
  Event beat = E("heartbeat");
  absl::StatusOr<std::optional<Upgrade>> after = Apply(beat);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
  EXPECT_EQ(rows_.published.size(), 1u);
  EXPECT_EQ(rows_.applied.count(beat.event_id()), 0u);
  EXPECT_EQ(FromProto(rows_.upgrades[SampleOrder().upgrade_id()].upgrade.last_activity_at()),
            FromProto(beat.occurred_at()));
}

TEST_F(StatusRecorderTest, ATestCopyIsRecordedUnderItsDatabaseUntilItIsDropped) {
  ASSERT_TRUE(Apply(E("accepted")).ok());
  ASSERT_TRUE(Apply(E("clone_started")).ok());
  ASSERT_TRUE(Apply(E("clone_succeeded")).ok());
  EXPECT_EQ(rows_.parents["acme_test_0f8fad5b"], "acme");
  EXPECT_EQ(rows_.expiries["acme_test_0f8fad5b"], absl::FromUnixSeconds(1'900'000'000));
  EXPECT_EQ(rows_.tags["acme_test_0f8fad5b"], std::set<Tag>{TAG_TEST_COPY});
  ASSERT_TRUE(Apply(E("test_copy_dropped")).ok());
  EXPECT_EQ(rows_.parents.count("acme_test_0f8fad5b"), 0u);
  EXPECT_EQ(rows_.tags.count("acme_test_0f8fad5b"), 0u);
}

TEST_F(StatusRecorderTest, ASucceededProductionMovesItsDatabaseToTheTargetVersion) {
  Order production = SampleOrder(PURPOSE_PRODUCTION);
  production.set_test_database("");
  production.set_restore_point("acme_rp_0f8fad5b");
  ASSERT_TRUE(Apply(E("accepted", production)).ok());
  EXPECT_EQ(rows_.versions["acme"], "16.0");
  ASSERT_TRUE(Apply(E("succeeded", production)).ok());
  EXPECT_EQ(rows_.versions["acme"], "18.0");
  EXPECT_EQ(rows_.tags["acme"], std::set<Tag>{});
}

// The index upgrades_unfinished (schema version 1, frozen) was made with these numbers; the queries
// that name the final states use it only while their numbers agree.
TEST(FinalStates, AreTheOnesTheFrozenIndexWasMadeWith) {
  std::vector<int> numbers;
  for (State s : FinalStates()) numbers.push_back(static_cast<int>(s));
  EXPECT_EQ(numbers, (std::vector<int>{4, 5, 10, 11}));
  EXPECT_TRUE(IsFinal(STATE_CANCELLED));
  EXPECT_FALSE(IsFinal(STATE_MIGRATING));
}

}  // namespace
}  // namespace upshift::status
