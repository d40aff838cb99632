#include "services/status/status_logic.h"

#include <gtest/gtest.h>

#include <tuple>

#include "libs/common/time.h"
#include "tests/unit/fakes.h"

namespace upshift::status {
namespace {

using namespace upgrade::v1;
using upshift::testing::SampleOrder;

Event E(const std::string& kind, int second, Purpose purpose = PURPOSE_TEST) {
  Event e;
  e.set_event_id(std::string("x/") + kind);
  *e.mutable_order() = SampleOrder(purpose);
  if (purpose == PURPOSE_PRODUCTION) {
    e.mutable_order()->set_test_database("");
    e.mutable_order()->set_restore_point("acme_rp_0f8fad5b");
    e.mutable_order()->mutable_estimated_downtime()->set_seconds(100);
  }
  e.mutable_occurred_at()->set_seconds(1'800'000'000 + second);
  if (kind == "accepted") e.mutable_accepted();
  if (kind == "scheduled") e.mutable_scheduled();
  if (kind == "reminder") e.mutable_reminder()->mutable_starts_in()->set_seconds(600);
  if (kind == "scheduled" || kind == "reminder" || kind == "accepted_later") {
    e.mutable_order()->mutable_not_before()->set_seconds(1'800'003'600);
    if (kind == "accepted_later") e.mutable_accepted();
  }
  if (kind == "clone_started") e.mutable_clone_started();
  if (kind == "clone_succeeded") {
    auto* c = e.mutable_clone_succeeded();
    c->add_source_rows()->set_rows(5);
    c->add_copy_rows()->set_rows(5);
  }
  if (kind == "migration_started") e.mutable_migration_started();
  if (kind == "succeeded") e.mutable_succeeded()->set_version("18.0");
  if (kind == "failed") e.mutable_failed()->set_error("step broke");
  if (kind == "went_offline") e.mutable_went_offline();
  if (kind == "snapshot_succeeded") e.mutable_snapshot_succeeded();
  if (kind == "migrated") e.mutable_migrated();
  if (kind == "coming_online") e.mutable_coming_online();
  if (kind == "migration_failed") e.mutable_migration_failed()->set_error("step broke");
  if (kind == "rolled_back") e.mutable_rolled_back()->set_error("step broke");
  if (kind == "cancel_requested") e.mutable_cancel_requested();
  if (kind == "cancelled") e.mutable_cancelled()->set_reason("cancelled on request");
  if (kind == "heartbeat") e.mutable_heartbeat()->set_working_on("clone_succeeded");
  return e;
}

Event P(const std::string& kind, int second) { return E(kind, second, PURPOSE_PRODUCTION); }

TEST(NextUpgrade, FollowsTheTestLifecycle) {
  std::optional<Upgrade> u;
  u = NextUpgrade(u, E("accepted", 0));
  EXPECT_EQ(u->state(), STATE_ACCEPTED);
  EXPECT_EQ(u->database(), "acme");
  EXPECT_EQ(u->test_database(), "");
  u = NextUpgrade(u, E("clone_started", 1));
  EXPECT_EQ(u->state(), STATE_CLONING);
  u = NextUpgrade(u, E("clone_succeeded", 2));
  EXPECT_EQ(u->test_database(), "acme_test_0f8fad5b");
  EXPECT_EQ(u->source_rows_size(), 1);
  u = NextUpgrade(u, E("migration_started", 3));
  EXPECT_EQ(u->state(), STATE_MIGRATING);
  u = NextUpgrade(u, E("succeeded", 4));
  EXPECT_EQ(u->state(), STATE_SUCCEEDED);
  EXPECT_EQ(u->finished_at().seconds(), 1'800'000'004);
  EXPECT_EQ(u->updated_at().seconds(), 1'800'000'004);
}

TEST(NextUpgrade, NeverMovesBackwardWhenEventsArriveOutOfOrder) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, E("migration_started", 3));
  EXPECT_EQ(u->state(), STATE_MIGRATING);
  u = NextUpgrade(u, E("accepted", 0));
  EXPECT_EQ(u->state(), STATE_MIGRATING);
  u = NextUpgrade(u, E("clone_succeeded", 2));  // late, but it still brings the row counts
  EXPECT_EQ(u->state(), STATE_MIGRATING);
  EXPECT_EQ(u->copy_rows_size(), 1);
}

TEST(NextUpgrade, AFinalStateNeverChanges) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, E("failed", 5));
  EXPECT_EQ(u->state(), STATE_FAILED);
  EXPECT_EQ(u->error(), "step broke");
  Upgrade after = NextUpgrade(u, E("succeeded", 6));
  EXPECT_EQ(after.SerializeAsString(), u->SerializeAsString());
}

TEST(NextUpgrade, AFailedTestKeepsNoCopy) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, E("clone_succeeded", 2));
  ASSERT_FALSE(u->test_database().empty());
  u = NextUpgrade(u, E("failed", 3));
  EXPECT_EQ(u->test_database(), "");
}

TEST(NextUpgrade, FollowsTheProductionLifecycleWithItsEstimates) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, P("accepted", 0));
  EXPECT_EQ(u->estimated_downtime().seconds(), 100);
  u = NextUpgrade(u, P("went_offline", 10));
  EXPECT_EQ(u->state(), STATE_GOING_OFFLINE);
  EXPECT_EQ(u->offline_at().seconds(), 1'800'000'010);
  u = NextUpgrade(u, P("snapshot_succeeded", 40));
  EXPECT_EQ(u->state(), STATE_SNAPSHOTTING);
  EXPECT_EQ(u->restore_point(), "acme_rp_0f8fad5b");
  EXPECT_EQ(u->estimated_remaining().seconds(), 70);  // 100 s estimated, 30 s offline so far
  u = NextUpgrade(u, P("migration_started", 41));
  EXPECT_EQ(u->state(), STATE_MIGRATING);
  u = NextUpgrade(u, P("succeeded", 90));
  EXPECT_EQ(u->state(), STATE_SUCCEEDED);
  EXPECT_EQ(u->online_at().seconds(), 1'800'000'090);
  EXPECT_EQ(u->estimated_remaining().seconds(), 0);
  EXPECT_EQ(u->restore_point(), "acme_rp_0f8fad5b");
}

TEST(NextUpgrade, OnceThePlanStartsTheTimeLeftCountsFromThePlansOwnEstimate) {
  auto with_plan = [](Event e) {
    e.mutable_order()->mutable_estimated_plan()->set_seconds(60);  // of the 100 s estimated
    return e;
  };
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, with_plan(P("went_offline", 0)));
  u = NextUpgrade(u, with_plan(P("snapshot_succeeded", 55)));  // the restore point took 55 s, not 40 s
  EXPECT_EQ(u->estimated_remaining().seconds(), 45);
  u = NextUpgrade(u, with_plan(P("migration_started", 56)));
  EXPECT_EQ(u->state(), STATE_MIGRATING);
  EXPECT_EQ(u->plan_started_at().seconds(), 1'800'000'056);
  EXPECT_EQ(u->estimated_remaining().seconds(), 60);  // the plan's part, re-anchored at its start
  Event step = with_plan(P("step", 86));
  step.mutable_step_applied()->set_steps_done(1);
  step.mutable_step_applied()->set_steps_total(2);
  u = NextUpgrade(u, step);
  EXPECT_EQ(u->estimated_remaining().seconds(), 30);
}

TEST(NextUpgrade, ARollbackEndsRolledBackWithTheCauseAndNoRestorePoint) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, P("snapshot_succeeded", 5));
  u = NextUpgrade(u, P("migration_failed", 6));
  EXPECT_EQ(u->state(), STATE_ROLLING_BACK);
  EXPECT_EQ(u->error(), "step broke");
  u = NextUpgrade(u, P("rolled_back", 7));
  EXPECT_EQ(u->state(), STATE_ROLLED_BACK);
  EXPECT_TRUE(u->restore_point().empty());
  EXPECT_TRUE(IsFinal(u->state()));
}

TEST(NextUpgrade, CancellableUntilAProductionMigrationStartsOrACancelIsAsked) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, P("accepted", 0));
  EXPECT_TRUE(u->cancellable());
  u = NextUpgrade(u, P("snapshot_succeeded", 1));
  EXPECT_TRUE(u->cancellable());
  u = NextUpgrade(u, P("migration_started", 2));
  EXPECT_FALSE(u->cancellable());
  std::optional<Upgrade> t = NextUpgrade(std::nullopt, E("migration_started", 2));
  EXPECT_TRUE(t->cancellable());  // a Test can be cancelled while its copy is migrated
  t = NextUpgrade(t, E("cancel_requested", 3));
  EXPECT_FALSE(t->cancellable());
  t = NextUpgrade(t, E("cancelled", 4));
  EXPECT_EQ(t->state(), STATE_CANCELLED);
  EXPECT_TRUE(t->test_database().empty());
}

TEST(NextUpgrade, ACancelledRestoreEndsCancelledNotRolledBack) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, P("snapshot_succeeded", 1));
  Event back = P("rolled_back", 3);
  back.mutable_rolled_back()->set_cancelled(true);
  u = NextUpgrade(u, back);
  EXPECT_EQ(u->state(), STATE_CANCELLED);
  EXPECT_TRUE(u->restore_point().empty());
  std::vector<TagChange> changes = TagChanges(NextUpgrade(std::nullopt, P("snapshot_succeeded", 1)), *u);
  for (const TagChange& c : changes) EXPECT_NE(c.tag, TAG_UPGRADE_FAILED);
}

TEST(NextUpgrade, StepsReportProgressAndRefreshTheRemainingEstimate) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, P("went_offline", 0));
  u = NextUpgrade(u, P("migration_started", 10));
  EXPECT_EQ(u->estimated_remaining().seconds(), 90);
  Event step = P("step", 40);
  step.mutable_step_applied()->set_hop("16.0->17.0");
  step.mutable_step_applied()->set_step("02_x");
  step.mutable_step_applied()->set_steps_done(2);
  step.mutable_step_applied()->set_steps_total(6);
  u = NextUpgrade(u, step);
  EXPECT_EQ(u->progress_percent(), 33);
  EXPECT_EQ(u->current_step(), "16.0->17.0/02_x");
  EXPECT_EQ(u->estimated_remaining().seconds(), 60);
  Event late = step;  // an earlier step arriving late does not move progress back
  late.mutable_step_applied()->set_steps_done(1);
  u = NextUpgrade(u, late);
  EXPECT_EQ(u->progress_percent(), 33);
}

Event Step(const std::string& hop, const std::string& name, int done, int total) {
  Event step = P("step/" + hop + "/" + name, 40);
  step.mutable_step_applied()->set_hop(hop);
  step.mutable_step_applied()->set_step(name);
  step.mutable_step_applied()->set_steps_done(done);
  step.mutable_step_applied()->set_steps_total(total);
  return step;
}

// A Test's report: three steps of the plan taking 10, 80 and 10 ms, then its neutralization.
IntegrityReport TestTimings() {
  IntegrityReport r;
  for (auto [hop, name, ms] : std::vector<std::tuple<std::string, std::string, int>>{
           {"16.0->17.0", "01_a", 10}, {"16.0->17.0", "02_slow", 80}, {"17.0->18.0", "01_b", 10}, {"neutralize", "neutralize", 500}}) {
    StepReport* s = r.add_steps();
    s->set_hop(hop);
    s->set_step(name);
    s->set_duration_ms(ms);
  }
  return r;
}

TEST(NextUpgrade, ProgressIsWeighedByTheTestsStepTimings) {
  IntegrityReport timings = TestTimings();
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, P("migration_started", 10));
  u = NextUpgrade(u, Step("16.0->17.0", "01_a", 1, 3), &timings);
  EXPECT_EQ(u->progress_percent(), 10);  // one step of three, but a tenth of the Test's time
  u = NextUpgrade(u, Step("16.0->17.0", "02_slow", 2, 3), &timings);
  EXPECT_EQ(u->progress_percent(), 90);
  u = NextUpgrade(u, Step("17.0->18.0", "01_b", 3, 3), &timings);
  EXPECT_EQ(u->progress_percent(), 100);
}

// A Test's plan as the migrator recorded it: 20 s, its steps done 4, 12 and 14 s after its start
// (pre-checks before them, post-checks after).
IntegrityReport TestTimeline() {
  IntegrityReport r;
  for (auto [hop, name, ms, after] : std::vector<std::tuple<std::string, std::string, int, int>>{
           {"16.0->17.0", "01_a", 2000, 4000}, {"16.0->17.0", "02_slow", 8000, 12000}, {"17.0->18.0", "01_b", 2000, 14000}}) {
    StepReport* s = r.add_steps();
    s->set_hop(hop);
    s->set_step(name);
    s->set_duration_ms(ms);
    s->set_done_after_ms(after);
  }
  r.set_plan_duration_ms(20000);
  return r;
}

Event WithPlan(Event e) {
  e.mutable_order()->mutable_estimated_plan()->set_seconds(20);  // of the 100 s estimated
  return e;
}

absl::Duration ExpectedAfterOffline(const Upgrade& u) {
  return FromProto(u.expected_online_at()) - FromProto(u.offline_at());
}

TEST(NextUpgrade, AtEachStepTheTimeLeftFollowsThePlansPaceAgainstItsTestsTimeline) {
  const IntegrityReport test = TestTimeline();
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, WithPlan(P("went_offline", 0)));
  EXPECT_EQ(ExpectedAfterOffline(*u), absl::Seconds(100));
  u = NextUpgrade(u, WithPlan(P("migration_started", 40)));
  EXPECT_EQ(ExpectedAfterOffline(*u), absl::Seconds(60));  // the plan's 20 s from its start
  // The plan runs 1.5 times as slow as estimated: it ends at 70 s.
  auto step = [&](const std::string& hop, const std::string& name, int done, int second) {
    Event e = WithPlan(Step(hop, name, done, 3));
    e.mutable_occurred_at()->set_seconds(1'800'000'000 + second);
    u = NextUpgrade(u, e, &test);
    return absl::ToDoubleSeconds(ExpectedAfterOffline(*u));
  };
  // 0.2 of the plan done in 6 s: a pace of 1.5 weighed 0.2 → 1.1 × the 16 s left.
  EXPECT_NEAR(step("16.0->17.0", "01_a", 1, 46), 46 + 17.6, 0.01);
  EXPECT_NEAR(u->estimated_remaining().seconds(), 17, 1);
  // 0.6 done in 18 s: 1.3 × the 8 s left.
  EXPECT_NEAR(step("16.0->17.0", "02_slow", 2, 58), 58 + 10.4, 0.01);
  // 0.7 done in 21 s: 1.35 × the 6 s left. The window foretold: 69.1 s of the 70 s.
  EXPECT_NEAR(step("17.0->18.0", "01_b", 3, 61), 61 + 8.1, 0.01);
  // Records without a step keep the paced time; the time left counts down to it.
  u = NextUpgrade(u, WithPlan(P("heartbeat", 65)));
  EXPECT_NEAR(absl::ToDoubleSeconds(ExpectedAfterOffline(*u)), 69.1, 0.01);
  u = NextUpgrade(u, WithPlan(P("migration_started", 66)));  // delivered again
  EXPECT_NEAR(absl::ToDoubleSeconds(ExpectedAfterOffline(*u)), 69.1, 0.01);
  u = NextUpgrade(u, WithPlan(P("coming_online", 70)));
  EXPECT_EQ(u->state(), STATE_COMING_ONLINE);
  EXPECT_EQ(u->estimated_remaining().seconds(), 0);  // later than foretold: nothing left to count down
}

TEST(NextUpgrade, APlanAsFastAsItsTestIsForetoldWithoutTheEstimatesMargin) {
  // The estimate counted 25 s for a plan its Test ran in 20 s; this one runs as its Test did.
  const IntegrityReport test = TestTimeline();
  auto with_plan = [](Event e) {
    e.mutable_order()->mutable_estimated_plan()->set_seconds(25);
    return e;
  };
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, with_plan(P("went_offline", 0)));
  u = NextUpgrade(u, with_plan(P("migration_started", 10)));
  EXPECT_EQ(ExpectedAfterOffline(*u), absl::Seconds(35));
  for (auto [hop, name, done, second] : std::vector<std::tuple<std::string, std::string, int, int>>{
           {"16.0->17.0", "01_a", 1, 14}, {"16.0->17.0", "02_slow", 2, 22}, {"17.0->18.0", "01_b", 3, 24}}) {
    Event e = with_plan(Step(hop, name, done, 3));
    e.mutable_occurred_at()->set_seconds(1'800'000'000 + second);
    u = NextUpgrade(u, e, &test);
  }
  // 0.7 done at the Test's pace, 0.8 of the estimate's: 0.86 × the 7.5 s left, 6.45 s. It ends at 30 s.
  EXPECT_NEAR(absl::ToDoubleSeconds(ExpectedAfterOffline(*u)), 24 + 6.45, 0.01);
}

TEST(NextUpgrade, WithoutATimelineTheTimeLeftCountsFromThePlansEstimate) {
  IntegrityReport untimed = TestTimeline();  // a Test recorded before timelines, or resumed
  for (StepReport& s : *untimed.mutable_steps()) s.set_done_after_ms(0);
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, WithPlan(P("went_offline", 0)));
  u = NextUpgrade(u, WithPlan(P("migration_started", 40)));
  Event e = WithPlan(Step("16.0->17.0", "02_slow", 2, 3));
  e.mutable_occurred_at()->set_seconds(1'800'000'058);
  u = NextUpgrade(u, e, &untimed);
  EXPECT_EQ(ExpectedAfterOffline(*u), absl::Seconds(60));
  EXPECT_EQ(u->estimated_remaining().seconds(), 2);
  EXPECT_EQ(u->progress_percent(), 83);  // still weighed by the step durations
}

TEST(WeightedPercent, FallsBackWhenTheTimingsDoNotCoverThePlan) {
  IntegrityReport timings = TestTimings();
  EXPECT_EQ(WeightedPercent(Step("16.0->17.0", "02_slow", 2, 3).step_applied(), timings), 90);
  EXPECT_EQ(WeightedPercent(Step("16.0->17.0", "99_unknown", 2, 3).step_applied(), timings), std::nullopt);
  EXPECT_EQ(WeightedPercent(Step("16.0->17.0", "02_slow", 2, 4).step_applied(), timings), std::nullopt);  // another plan
  IntegrityReport instant;
  for (StepReport s : timings.steps()) {
    s.set_duration_ms(0);
    *instant.add_steps() = s;
  }
  EXPECT_EQ(WeightedPercent(Step("16.0->17.0", "02_slow", 2, 3).step_applied(), instant), std::nullopt);
  // Without usable timings, by step count.
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, P("migration_started", 10));
  u = NextUpgrade(u, Step("16.0->17.0", "02_slow", 2, 3), &instant);
  EXPECT_EQ(u->progress_percent(), 66);
}

TEST(NextUpgrade, AFailureKeepsTheReportOfWhatRanAndWhatWasFound) {
  Event failed = E("failed", 4);
  CheckReport* c = failed.mutable_failed()->mutable_report()->add_checks();
  c->set_name("order_line_quantities_positive");
  c->set_passed(false);
  Upgrade u = NextUpgrade(NextUpgrade(std::nullopt, E("accepted", 0)), failed);
  ASSERT_EQ(u.report().checks_size(), 1);
  EXPECT_FALSE(u.report().checks(0).passed());

  Event rollback = P("migration_failed", 5);
  *rollback.mutable_migration_failed()->mutable_report() = failed.failed().report();
  Upgrade rolling = NextUpgrade(NextUpgrade(std::nullopt, P("went_offline", 1)), rollback);
  EXPECT_EQ(rolling.report().checks_size(), 1);
  EXPECT_EQ(NextUpgrade(rolling, P("rolled_back", 6)).report().checks_size(), 1);
}

bool Has(const std::vector<TagChange>& changes, const std::string& db, Tag tag, bool add) {
  for (const TagChange& c : changes) {
    if (c.database == db && c.tag == tag && c.add == add) return true;
  }
  return false;
}

absl::Time At(int second) { return absl::FromUnixSeconds(1'800'000'000 + second); }

TEST(Stalls, WhenNoWorkerReportedSinceTheCutoffAndNotYetMarked) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, E("accepted", 0));
  u = NextUpgrade(u, E("clone_succeeded", 10));
  EXPECT_EQ(u->last_activity_at().seconds(), 1'800'000'010);
  EXPECT_FALSE(Stalls(*u, At(10)));
  EXPECT_TRUE(Stalls(*u, At(11)));
  u->set_stalled(true);
  EXPECT_FALSE(Stalls(*u, At(11))) << "marked once";
  // A heartbeat is a report: it clears the mark and moves the activity forward, nothing else.
  Upgrade beat = NextUpgrade(u, E("heartbeat", 20));
  EXPECT_FALSE(beat.stalled());
  EXPECT_EQ(beat.last_activity_at().seconds(), 1'800'000'020);
  EXPECT_EQ(beat.state(), STATE_CLONING);
  EXPECT_EQ(beat.updated_at().seconds(), 1'800'000'010);
  EXPECT_FALSE(Stalls(beat, At(20)));
}

// Issue 24: a worker waiting for its server's capacity says so in its heartbeats: the upgrade shows
// what it waits for and is not stalled; its other heartbeats keep the note, its next step ends it.
TEST(NextUpgrade, AWaitForTheServersCapacityIsShownUntilTheWorkStarts) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, E("accepted", 0));
  Event waits = E("heartbeat", 10);
  waits.mutable_heartbeat()->set_working_on("accepted");
  waits.mutable_heartbeat()->set_waiting_for("hosting server pg-1 runs 2 copies, its limit");
  u = NextUpgrade(u, waits);
  EXPECT_EQ(u->waiting_for(), "hosting server pg-1 runs 2 copies, its limit");
  EXPECT_EQ(u->state(), STATE_ACCEPTED);
  EXPECT_FALSE(Stalls(*u, At(10)));
  u = NextUpgrade(u, E("heartbeat", 20));
  EXPECT_EQ(u->waiting_for(), "hosting server pg-1 runs 2 copies, its limit");
  EXPECT_EQ(u->last_activity_at().seconds(), 1'800'000'020);
  u = NextUpgrade(u, E("clone_started", 30));
  EXPECT_EQ(u->waiting_for(), "");
  EXPECT_EQ(u->state(), STATE_CLONING);
}

TEST(Stalls, NeverWhenFinal) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, E("accepted", 0));
  u = NextUpgrade(u, E("succeeded", 5));
  EXPECT_FALSE(Stalls(*u, At(1000)));
  Upgrade late = NextUpgrade(u, E("heartbeat", 6));
  EXPECT_EQ(late.SerializeAsString(), u->SerializeAsString()) << "a final upgrade takes no heartbeat";
}

TEST(Stalls, ALateHeartbeatOrACancellationRequestDoesNotClearTheMark) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, E("migration_started", 10));
  u->set_stalled(true);
  EXPECT_TRUE(NextUpgrade(u, E("heartbeat", 9)).stalled()) << "older than the last report";
  EXPECT_TRUE(NextUpgrade(u, E("cancel_requested", 30)).stalled()) << "the customer is not a worker";
}

TEST(OnlyActivityChanged, AHeartbeatIsNotAChangeToPublishButClearingTheMarkIs) {
  std::optional<Upgrade> u = NextUpgrade(std::nullopt, E("clone_started", 1));
  Upgrade beat = NextUpgrade(u, E("heartbeat", 2));
  EXPECT_TRUE(OnlyActivityChanged(*u, beat));
  u->set_stalled(true);
  EXPECT_FALSE(OnlyActivityChanged(*u, NextUpgrade(u, E("heartbeat", 3))));
  EXPECT_FALSE(OnlyActivityChanged(*u, NextUpgrade(u, E("clone_succeeded", 3))));
}

TEST(TagChanges, InProgressFromTheFirstEventUntilTheEnd) {
  Upgrade accepted = NextUpgrade(std::nullopt, E("accepted", 0));
  EXPECT_TRUE(Has(TagChanges(std::nullopt, accepted), "acme", TAG_UPGRADE_IN_PROGRESS, true));
  Upgrade done = NextUpgrade(accepted, E("succeeded", 4));
  auto changes = TagChanges(accepted, done);
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_IN_PROGRESS, false));
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_FAILED, false));
}

TEST(TagChanges, AScheduledUpgradeIsTaggedScheduledUntilItStartsThenInProgress) {
  Upgrade scheduled = NextUpgrade(std::nullopt, E("scheduled", 0));
  EXPECT_EQ(scheduled.state(), STATE_SCHEDULED);
  EXPECT_TRUE(scheduled.cancellable());
  EXPECT_EQ(scheduled.not_before().seconds(), 1'800'003'600);
  auto changes = TagChanges(std::nullopt, scheduled);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_SCHEDULED, true));
  // Waiting for its time is neither stalled nor a worker's backlog.
  EXPECT_FALSE(Stalls(scheduled, absl::FromUnixSeconds(1'900'000'000)));
  GetBacklogResponse backlog = Backlog({scheduled});
  for (const WorkerBacklog& group : backlog.groups()) EXPECT_EQ(group.waiting() + group.in_flight(), 0);
  // A reminder changes no state; the start does.
  Upgrade reminded = NextUpgrade(scheduled, E("reminder", 1));
  EXPECT_EQ(reminded.state(), STATE_SCHEDULED);
  EXPECT_TRUE(TagChanges(scheduled, reminded).empty());
  Upgrade started = NextUpgrade(reminded, E("accepted_later", 3600));
  EXPECT_EQ(started.state(), STATE_ACCEPTED);
  changes = TagChanges(reminded, started);
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_SCHEDULED, false));
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_IN_PROGRESS, true));
  // A scheduled upgrade cancelled before its start loses its tag, and gains no other.
  Upgrade cancelled = NextUpgrade(scheduled, E("cancelled", 5));
  EXPECT_EQ(cancelled.state(), STATE_CANCELLED);
  changes = TagChanges(scheduled, cancelled);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_SCHEDULED, false));
}

TEST(TagChanges, FailureSetsTheFailedTag) {
  Upgrade accepted = NextUpgrade(std::nullopt, E("accepted", 0));
  Upgrade failed = NextUpgrade(accepted, E("failed", 4));
  auto changes = TagChanges(accepted, failed);
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_IN_PROGRESS, false));
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_FAILED, true));
}

TEST(TagChanges, ALateEventAfterTheEndChangesNoTag) {
  Upgrade done = NextUpgrade(std::nullopt, E("succeeded", 4));
  Upgrade late = NextUpgrade(done, E("accepted", 0));
  EXPECT_TRUE(TagChanges(done, late).empty());
}

TEST(TagChanges, OfflineWhileTheProductionDatabaseIsDownAndFailedAfterARollback) {
  Upgrade accepted = NextUpgrade(std::nullopt, P("accepted", 0));
  Upgrade offline = NextUpgrade(accepted, P("went_offline", 1));
  EXPECT_TRUE(Has(TagChanges(accepted, offline), "acme", TAG_OFFLINE, true));
  Upgrade snap = NextUpgrade(offline, P("snapshot_succeeded", 2));
  EXPECT_TRUE(Has(TagChanges(offline, snap), "acme_rp_0f8fad5b", TAG_RESTORE_POINT, true));
  Upgrade back = NextUpgrade(snap, P("rolled_back", 3));
  auto changes = TagChanges(snap, back);
  EXPECT_TRUE(Has(changes, "acme", TAG_OFFLINE, false));
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_IN_PROGRESS, false));
  EXPECT_TRUE(Has(changes, "acme", TAG_UPGRADE_FAILED, true));
}

TEST(TagChanges, TheCopyIsTaggedOnceItExists) {
  Upgrade cloning = NextUpgrade(std::nullopt, E("clone_started", 1));
  Upgrade cloned = NextUpgrade(cloning, E("clone_succeeded", 2));
  EXPECT_TRUE(Has(TagChanges(cloning, cloned), "acme_test_0f8fad5b", TAG_TEST_COPY, true));
}

TEST(TagChanges, ACheckTagsOnlyItsThrowawayCopy) {
  Upgrade accepted = NextUpgrade(std::nullopt, E("accepted", 0, PURPOSE_CHECK));
  EXPECT_TRUE(TagChanges(std::nullopt, accepted).empty());
  Event cloned_event = E("clone_succeeded", 2, PURPOSE_CHECK);
  cloned_event.mutable_order()->set_test_database("acme_chk_0f8fad5b");
  Upgrade cloned = NextUpgrade(accepted, cloned_event);
  auto changes = TagChanges(accepted, cloned);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(Has(changes, "acme_chk_0f8fad5b", TAG_CHECK_COPY, true));
  Upgrade failed = NextUpgrade(cloned, E("failed", 4, PURPOSE_CHECK));
  EXPECT_TRUE(TagChanges(cloned, failed).empty());  // no failure tag: a check changes nothing
  EXPECT_TRUE(failed.test_database().empty());
  Upgrade passed = NextUpgrade(cloned, E("succeeded", 4, PURPOSE_CHECK));
  EXPECT_TRUE(passed.test_database().empty());  // its copy is dropped
}

Upgrade InState(upgrade::v1::State state, const std::function<void(Upgrade&)>& fill = nullptr) {
  Upgrade u;
  u.set_state(state);
  if (fill) fill(u);
  return u;
}

TEST(Backlog, CountsEachUnfinishedUpgradeForTheGroupWhoseTurnItIs) {
  auto copied = [](Upgrade& u) { u.add_copy_rows()->set_table("public.res_partner"); };
  auto snapshot = [](Upgrade& u) { u.set_restore_point("acme_rp_0f8fad5b"); };
  upgrade::v1::GetBacklogResponse b = Backlog({
      InState(upgrade::v1::STATE_ACCEPTED),                 // cloner, waiting
      InState(upgrade::v1::STATE_ACCEPTED),                 // cloner, waiting
      InState(upgrade::v1::STATE_CLONING),                  // cloner, copying
      InState(upgrade::v1::STATE_CLONING, copied),          // migrator, waiting for its plan
      InState(upgrade::v1::STATE_GOING_OFFLINE),            // cloner
      InState(upgrade::v1::STATE_SNAPSHOTTING),             // cloner, making the restore point
      InState(upgrade::v1::STATE_SNAPSHOTTING, snapshot),   // migrator, waiting
      InState(upgrade::v1::STATE_MIGRATING),                // migrator
      InState(upgrade::v1::STATE_MIGRATING, [](Upgrade& u) { u.set_stalled(true); }),
      InState(upgrade::v1::STATE_COMING_ONLINE),            // cloner
      InState(upgrade::v1::STATE_ROLLING_BACK),             // cloner
      InState(upgrade::v1::STATE_SUCCEEDED),                // nobody's
  });
  ASSERT_EQ(b.groups_size(), 2);
  EXPECT_EQ(b.groups(0).group(), "upshift-cloner");
  EXPECT_EQ(b.groups(0).waiting(), 2);
  EXPECT_EQ(b.groups(0).in_flight(), 5);
  EXPECT_EQ(b.groups(0).stalled(), 0);
  EXPECT_EQ(b.groups(1).group(), "upshift-migrator");
  EXPECT_EQ(b.groups(1).waiting(), 2);
  EXPECT_EQ(b.groups(1).in_flight(), 2);
  EXPECT_EQ(b.groups(1).stalled(), 1);
}

// A failed upgrade of `database` whose last step was `step` (empty: none ran), with `error`.
Upgrade Failed(const std::string& id, const std::string& database, const std::string& step, const std::string& error,
               int64_t ended_at_seconds) {
  Upgrade u;
  u.set_upgrade_id(id);
  u.set_database(database);
  u.set_restore_point(database + "_rp_" + id.substr(0, 8));
  u.set_state(STATE_ROLLED_BACK);
  u.set_current_step(step);
  u.set_error(error);
  u.mutable_finished_at()->set_seconds(ended_at_seconds);
  return u;
}

TEST(SignatureOf, TakesOutWhatVariesBetweenDatabasesAndKeepsTheStepAndTheVersions) {
  Upgrade acme = Failed("0f8fad5b-d9cb-469f-a165-70867728950e", "acme", "17.0->18.0/02a_test_slow",
                        "step 17.0->18.0/02b_test_fail failed: ERROR: forced failure in database \"acme\" (restore point acme_rp_0f8fad5b, pid 4242, "
                        "upgrade 0f8fad5b-d9cb-469f-a165-70867728950e, after 2.5s)",
                        100);
  Upgrade globex = Failed("7c9e6679-7425-40de-944b-e07fc1f90ae7", "globex", "17.0->18.0/02a_test_slow",
                          "step 17.0->18.0/02b_test_fail failed: ERROR: forced failure in database \"globex\" (restore point globex_rp_7c9e6679, pid 77, "
                          "upgrade 7c9e6679-7425-40de-944b-e07fc1f90ae7, after 1m30s)",
                          200);
  FailureSignature a = SignatureOf(acme), g = SignatureOf(globex);
  EXPECT_EQ(a.where, "step 17.0->18.0/02b_test_fail");
  EXPECT_EQ(a.signature,
            "step 17.0->18.0/02b_test_fail failed: ERROR: forced failure in database \"<db>\" (restore point <db>, pid N, upgrade <id>, after <duration>)");
  EXPECT_EQ(g.where, a.where);
  EXPECT_EQ(g.signature, a.signature);
  // A hop's versions and a step's name stay; hex of 8 or more goes.
  Upgrade checked = Failed("1", "initech", "", "pre-check of hop 16.0->17.0: 3 rows in sale_order_2024 (lsn 0a1b2c3d)", 1);
  EXPECT_EQ(SignatureOf(checked).where, "pre-checks of hop 16.0->17.0");
  // A post-check after the last step; nothing ran at all.
  EXPECT_EQ(SignatureOf(Failed("2", "initech", "17.0->18.0/03_x", "post-check: 2 orders without lines", 1)).where,
            "after step 17.0->18.0/03_x");
  EXPECT_EQ(SignatureOf(Failed("3", "initech", "", "the copy does not match its source", 1)).where, "before the plan");
  EXPECT_EQ(SignatureOf(checked).signature, "pre-check of hop 16.0->17.0: N rows in sale_order_2024 (lsn <hex>)");
}

TEST(GroupFailures, GroupsBySignatureLargestFirstWithTheirDatabasesNewestFirst) {
  // Newest first, as the store reads them.
  std::vector<Upgrade> failed = {
      Failed("c-3", "carol", "", "step 17.0->18.0/02b_test_fail failed: forced failure on carol, 3 rows", 300),
      Failed("d-1", "dave", "", "step 16.0->17.0/01_partners failed: column \"phone\" does not exist", 250),
      Failed("b-2", "bob", "", "step 17.0->18.0/02b_test_fail failed: forced failure on bob, 12 rows", 200),
      Failed("a-1", "alice", "", "step 17.0->18.0/02b_test_fail failed: forced failure on alice, 1 rows", 100),
  };
  ListFailureGroupsResponse groups = GroupFailures(failed);
  EXPECT_EQ(groups.failures(), 4);
  ASSERT_EQ(groups.groups_size(), 2);
  const FailureGroup& big = groups.groups(0);
  EXPECT_EQ(big.count(), 3);
  EXPECT_EQ(big.where(), "step 17.0->18.0/02b_test_fail");
  EXPECT_EQ(big.signature(), "step 17.0->18.0/02b_test_fail failed: forced failure on <db>, N rows");
  EXPECT_EQ(big.example_error(), "step 17.0->18.0/02b_test_fail failed: forced failure on carol, 3 rows");
  EXPECT_EQ(std::vector<std::string>(big.databases().begin(), big.databases().end()),
            (std::vector<std::string>{"carol", "bob", "alice"}));
  EXPECT_EQ(std::vector<std::string>(big.upgrade_ids().begin(), big.upgrade_ids().end()),
            (std::vector<std::string>{"c-3", "b-2", "a-1"}));
  EXPECT_EQ(big.last_failed_at().seconds(), 300);
  EXPECT_EQ(big.first_failed_at().seconds(), 100);
  EXPECT_EQ(groups.groups(1).count(), 1);
  EXPECT_EQ(groups.groups(1).where(), "step 16.0->17.0/01_partners");
  EXPECT_EQ(GroupFailures({}).groups_size(), 0);
}

}  // namespace
}  // namespace upshift::status
