#include "services/migrator/migrator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/ids.h"
#include "services/migrator/lease_heartbeat.h"
#include "tests/unit/fakes.h"

namespace upshift::migrator {
namespace {

using namespace upgrade::v1;
using upshift::testing::FakeClock;
using upshift::testing::FakePublisher;
using upshift::testing::SampleOrder;

// A database with a version and a migration history; steps "run" by being recorded.
class FakeTarget final : public MigrationTarget {
 public:
  std::vector<absl::Time> deadlines;  // each step's, as it was run
  std::function<void()> after_step;   // e.g. a step that takes long
  absl::StatusOr<bool> ApplyStep(const StepRun& step) override {
    if (!down.ok()) return down;
    std::string key = step.hop + "/" + step.name;
    auto it = history.find(key);
    if (it != history.end()) {
      if (it->second != step.checksum) return absl::FailedPreconditionError("checksum changed");
      return false;
    }
    if (!step.fence.empty() && !leases.count(step.fence)) return absl::FailedPreconditionError("no lease");
    if (key == fail_step) return absl::InternalError("step " + key + " failed: boom");
    history[key] = step.checksum;
    ran.push_back(key);
    deadlines.push_back(step.deadline);
    if (after_step) after_step();
    return true;
  }
  absl::StatusOr<int> ApplyStepsTogether(const std::vector<StepRun>& steps) override {
    int ran_now = 0;
    for (const StepRun& s : steps) {
      absl::StatusOr<bool> r = ApplyStep(s);
      if (!r.ok()) return r.status();
      ran_now += *r;
    }
    return ran_now;
  }
  absl::Status SetVersion(const std::string&, const std::string&, const std::string& v,
                          const std::string& fence) override {
    if (!fence.empty() && !leases.count(fence)) return absl::FailedPreconditionError("no lease");
    version = v;
    return absl::OkStatus();
  }
  absl::Status Heartbeat(const std::string&, const std::string& upgrade_id) override {
    ++heartbeats;
    return absl::OkStatus();
  }
  absl::StatusOr<bool> RunCheck(const std::string&, const std::string& sql) override {
    Called();
    if (!awaited_check.empty() && absl::StrContains(sql, awaited_check)) {
      std::lock_guard<std::mutex> lock(mu);
      awaited_check_started = true;
      cv.notify_all();
    }
    return check_result && (failing_check.empty() || !absl::StrContains(sql, failing_check));
  }
  absl::StatusOr<std::map<std::string, int64_t>> CountRows(const std::string& database) override {
    Called();
    {
      std::lock_guard<std::mutex> lock(mu);
      counted.push_back({database, ran.size()});
      auto elsewhere = rows_in.find(database);
      if (elsewhere != rows_in.end()) return elsewhere->second;
    }
    if (!awaited_check.empty() && !ran.empty()) {
      std::unique_lock<std::mutex> lock(mu);
      count_saw_check = cv.wait_for(lock, std::chrono::seconds(10), [&] { return awaited_check_started; });
    }
    return rows;
  }
  absl::StatusOr<std::map<std::string, std::string>> ChecksumTables(const std::string& database,
                                                                    const std::vector<std::string>& tables,
                                                                    const std::function<void()>& pinned) override {
    Called();
    // A step that corrupts a table declared unchanged shows as another checksum once steps ran.
    bool corrupted = corrupt_unchanged && !ran.empty();
    std::string sum = corrupted ? "changed" : "original";
    {
      std::lock_guard<std::mutex> lock(mu);
      summed.push_back(database);
      if (auto it = sums_in.find(database); it != sums_in.end()) sum = it->second;
    }
    std::map<std::string, std::string> out;
    for (const std::string& t : tables) out[t] = sum;
    if (pinned) pinned();  // what the steps do from here on is not in `out`
    return out;
  }
  absl::StatusOr<std::vector<std::string>> ValidateConstraints(const std::string&) override {
    Called();
    return std::vector<std::string>{"sale_order_line.quantity_positive"};
  }
  absl::StatusOr<std::vector<StepReport>> History(const std::string&) override {
    std::vector<StepReport> out;
    for (const std::string& key : ran) {
      StepReport& s = out.emplace_back();
      s.set_hop(key.substr(0, key.find('/')));
      s.set_step(key.substr(key.find('/') + 1));
    }
    return out;
  }
  absl::StatusOr<bool> AcceptsConnections(const std::string&) override { return accepts_connections; }
  absl::StatusOr<std::string> ReadVersion(const std::string&, const std::string&) override {
    if (!down.ok()) return down;
    return version;
  }
  void EndSession(const std::string& database) override {
    ended.push_back({database, published != nullptr ? published->records.size() : 0});
  }

  std::set<std::string> leases = {"0f8fad5b-d9cb-469f-a165-70867728950e"};
  std::atomic<int> heartbeats{0};
  bool check_result = true;
  std::map<std::string, int64_t> rows = {{"public.res_partner", 40}, {"public.sale_order", 80}};
  // Databases whose counts are not `rows`'; each CountRows: the database, and how many steps had run.
  std::map<std::string, std::map<std::string, int64_t>> rows_in;
  std::vector<std::pair<std::string, size_t>> counted;
  // Databases whose tables declared unchanged sum to another value; each ChecksumTables' database.
  std::map<std::string, std::string> sums_in;
  std::vector<std::string> summed;
  bool corrupt_unchanged = false;
  std::string failing_check;  // RunCheck returns false for SQL containing it
  bool accepts_connections = false;
  std::string version = "16.0";
  std::map<std::string, std::string> history;
  std::vector<std::string> ran;
  std::string fail_step;
  absl::Status down;
  const FakePublisher* published = nullptr;
  // The threads the reads (checks, counts, checksums, validations) ran on.
  void Called() {
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
  }
  std::set<std::thread::id> threads;
  // When set: the count after the steps waits (10 s at most) for a check whose SQL contains it to
  // start, and says in count_saw_check whether one did.
  std::string awaited_check;
  std::mutex mu;
  std::condition_variable cv;
  bool awaited_check_started = false;
  bool count_saw_check = false;
  // Each EndSession: the database, and how many records had been published by then.
  std::vector<std::pair<std::string, size_t>> ended;
};

class MigratorTest : public ::testing::Test {
 protected:
  MigratorTest()
      : catalog_(*Catalog::Load(std::string(UPSHIFT_SOURCE_DIR) + "/deploy/catalogs/sample_erp")),
        migrator_(catalog_, OnlyTarget(target_), publisher_, gate_, clock_) {
    target_.published = &publisher_;
  }

  Catalog catalog_;
  FakeTarget target_;
  FakePublisher publisher_;
  upshift::testing::FakeGate gate_;
  FakeClock clock_;
  Migrator migrator_;
};

TEST_F(MigratorTest, RunsEveryStepInOrderThenNeutralizesAndAnnouncesSuccess) {
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  EXPECT_EQ(target_.ran, (std::vector<std::string>{
                             "16.0->17.0/01_split_partner_address", "16.0->17.0/02_rename_order_line_quantity",
                             "16.0->17.0/03_invoice_states", "17.0->18.0/01_product_templates",
                             "17.0->18.0/02_rename_partner_phone", "17.0->18.0/03_order_line_constraints",
                             "neutralize/neutralize"}));
  EXPECT_EQ(target_.version, "18.0");
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 8u);  // started, six steps, succeeded
  EXPECT_TRUE(events[0].has_migration_started());
  EXPECT_EQ(events[3].step_applied().steps_done(), 3);
  EXPECT_EQ(events[3].step_applied().steps_total(), 6);
  EXPECT_EQ(events[3].event_id(), "0f8fad5b-d9cb-469f-a165-70867728950e/step/16.0->17.0/03_invoice_states");
  EXPECT_TRUE(events[7].has_succeeded());
  EXPECT_EQ(events[7].event_id(), "0f8fad5b-d9cb-469f-a165-70867728950e/succeeded");
}

TEST_F(MigratorTest, ASmallDatabaseIsReadOnTheCallersThreadAlone) {
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());  // 120 rows
  ASSERT_TRUE(publisher_.Events().back().has_succeeded());
  EXPECT_EQ(target_.threads, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(MigratorTest, OnALargeDatabaseThePostChecksRunBesideTheCountsAfterThePlan) {
  target_.rows = {{"public.res_partner", 400000}, {"public.sale_order", 800000}};
  target_.awaited_check = "sum(price_subtotal)";  // the catalog's post-check order_totals_match_lines
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  EXPECT_TRUE(target_.count_saw_check) << "the row count after the plan ended before any post-check started";
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_succeeded());
  std::vector<std::string> kinds;
  for (const CheckReport& c : last.succeeded().report().checks()) kinds.push_back(c.kind());
  // The report keeps the catalog's order: pre-checks, neutralization assertions, post-checks.
  EXPECT_EQ(kinds, (std::vector<std::string>{"pre-check of hop 17.0->18.0", "neutralization assertion",
                                             "neutralization assertion", "neutralization assertion", "post-check",
                                             "post-check"}));
}

TEST_F(MigratorTest, ARedeliveredOrderRunsNoStepTwice) {
  // The first delivery stops in the middle of the second hop, after one hop and one step ran.
  target_.fail_step = "17.0->18.0/02_rename_partner_phone";
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  size_t ran_before = target_.ran.size();
  EXPECT_EQ(ran_before, 4u);
  target_.fail_step.clear();
  publisher_.records.clear();
  gate_.done.clear();  // as if its replica died there, its claim never marked done
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  std::multiset<std::string> all(target_.ran.begin(), target_.ran.end());
  for (const std::string& step : target_.ran) EXPECT_EQ(all.count(step), 1u) << step << " ran twice";
  EXPECT_EQ(target_.version, "18.0");
}

TEST_F(MigratorTest, APlanClaimedByAnotherReplicaRunsNoStepAndOneDoneRunsNothingAgain) {
  gate_.claims[{SampleOrder().upgrade_id(), "plan"}] = "migrator/other/7/abcdef";
  absl::Status s = migrator_.MigrateCopy(SampleOrder());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(target_.ran.empty());
  EXPECT_TRUE(publisher_.Events().empty());
  gate_.claims.clear();  // the other replica died, and its claim expired
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  EXPECT_TRUE(publisher_.Events().back().has_succeeded());
  const size_t ran = target_.ran.size();
  publisher_.records.clear();
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());  // delivered again after its end
  EXPECT_EQ(target_.ran.size(), ran);
  EXPECT_TRUE(publisher_.Events().empty());
}

TEST_F(MigratorTest, AFailingStepFailsTheUpgradeWithTheStepsError) {
  target_.fail_step = "16.0->17.0/03_invoice_states";
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_EQ(last.failed().phase(), "migrate");
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "03_invoice_states")) << last.failed().error();
  EXPECT_EQ(target_.version, "16.0");
}

TEST_F(MigratorTest, AChangedScriptStopsThePlan) {
  target_.history["16.0->17.0/01_split_partner_address"] = "0000000000000000";
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  auto events = publisher_.Events();
  ASSERT_TRUE(events.back().has_failed());
  EXPECT_TRUE(target_.ran.empty());
}

TEST_F(MigratorTest, AnUnreachableDatabaseIsRetriedNotFailed) {
  target_.down = absl::UnavailableError("connection refused");
  EXPECT_EQ(migrator_.MigrateCopy(SampleOrder()).code(), absl::StatusCode::kUnavailable);
  for (const Event& e : publisher_.Events()) EXPECT_FALSE(e.has_failed());
}

TEST_F(MigratorTest, ARecordDeliveredAgainAfterTheUpgradeEndedDoesNothing) {
  gate_.ended.insert(SampleOrder().upgrade_id());
  target_.down = absl::UnavailableError("the copy was dropped");  // touching it would be retried forever
  EXPECT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  EXPECT_TRUE(publisher_.Events().empty());
  EXPECT_TRUE(target_.ran.empty());
}

Order CheckOrder() {
  Order o = SampleOrder(PURPOSE_CHECK);
  o.clear_notify_email();
  o.set_test_database("acme_chk_0f8fad5b");
  return o;
}

TEST_F(MigratorTest, ACheckMigratesItsCopyWithoutNeutralizingAndReportsEveryCheck) {
  ASSERT_TRUE(migrator_.MigrateCopy(CheckOrder()).ok());
  EXPECT_EQ(target_.ran.size(), 6u);  // the plan's six steps; no neutralize step
  for (const std::string& step : target_.ran) EXPECT_FALSE(absl::StartsWith(step, "neutralize")) << step;
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_succeeded());
  std::vector<std::string> checks;
  for (const CheckReport& c : last.succeeded().report().checks()) {
    EXPECT_TRUE(c.passed()) << c.name();
    checks.push_back(c.kind() + " " + c.name());
  }
  EXPECT_EQ(checks, (std::vector<std::string>{"pre-check of hop 17.0->18.0 order_line_quantities_positive",
                                              "post-check order_lines_reference_products",
                                              "post-check order_totals_match_lines"}));
  EXPECT_EQ(last.succeeded().report().steps_size(), 6);
  // Nothing is handed over: the only checkpoint is the one before the plan.
  EXPECT_EQ(gate_.passed, (std::vector<Checkpoint>{CHECKPOINT_BEGIN_MIGRATION}));
}

TEST_F(MigratorTest, ACheckStopsAtAHopWhosePreCheckFailsAndReportsTheFinding) {
  target_.failing_check = "quantity <= 0";
  ASSERT_TRUE(migrator_.MigrateCopy(CheckOrder()).ok());
  EXPECT_EQ(target_.ran.size(), 3u);  // the first hop, which the failing pre-check does not guard
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_EQ(last.failed().phase(), "check");
  EXPECT_EQ(last.failed().error(), "pre-check of hop 17.0->18.0 order_line_quantities_positive returned false");
  ASSERT_EQ(last.failed().report().checks_size(), 1);
  const CheckReport& finding = last.failed().report().checks(0);
  EXPECT_FALSE(finding.passed());
  EXPECT_EQ(finding.detail(), "returned false");
  EXPECT_EQ(last.failed().report().steps_size(), 3);  // what ran on the copy before the finding
}

TEST_F(MigratorTest, EveryPostCheckRunsSoThatOneRunReportsEveryFinding) {
  target_.failing_check = "LEFT JOIN product_product";  // the first of the two post-checks
  ASSERT_TRUE(migrator_.MigrateCopy(CheckOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_EQ(last.failed().error(), "post-check order_lines_reference_products returned false");
  int post_checks = 0;
  for (const CheckReport& c : last.failed().report().checks()) {
    if (c.kind() != "post-check") continue;
    ++post_checks;
    EXPECT_EQ(c.passed(), c.name() == "order_totals_match_lines") << c.name();
  }
  EXPECT_EQ(post_checks, 2);
}

Order ProductionOrder() {
  Order o = SampleOrder(PURPOSE_PRODUCTION);
  o.set_test_database("");
  o.set_restore_point("acme_rp_0f8fad5b");
  return o;
}

TEST_F(MigratorTest, ProductionRunsThePlanWithoutNeutralizing) {
  ASSERT_TRUE(migrator_.MigrateInPlace(ProductionOrder()).ok());
  EXPECT_EQ(target_.ran.size(), 6u);
  EXPECT_EQ(target_.deadlines.front(), absl::InfiniteFuture());  // no time offline, no max_offline: no bound
  EXPECT_EQ(target_.history.count("neutralize/neutralize"), 0u);
  EXPECT_TRUE(publisher_.Events().back().has_migrated());
}

TEST_F(MigratorTest, AFailingProductionStepAsksForARollback) {
  target_.fail_step = "17.0->18.0/02_rename_partner_phone";
  ASSERT_TRUE(migrator_.MigrateInPlace(ProductionOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_migration_failed());
  EXPECT_TRUE(absl::StrContains(last.migration_failed().error(), "02_rename_partner_phone"));
}

// A step that fails because its server went away (a command that could not connect) is retried
// once the server answers, not taken as the upgrade's failure; with the server up, it fails the upgrade.
TEST_F(MigratorTest, AFailureWhileTheServerDoesNotAnswerIsRetriedNotTheUpgradesFailure) {
  absl::Status server = absl::UnavailableError("connection refused");
  Migrator pinging(catalog_, OnlyTarget(target_), publisher_, gate_, clock_, absl::Seconds(10), {"migrator"},
                   [&](const std::string&) { return server; });
  target_.fail_step = "17.0->18.0/02_rename_partner_phone";
  absl::Status away = pinging.MigrateCopy(SampleOrder());
  EXPECT_EQ(away.code(), absl::StatusCode::kUnavailable) << away;
  EXPECT_TRUE(absl::StrContains(away.message(), "02_rename_partner_phone")) << away;
  for (const Event& e : publisher_.Events()) EXPECT_FALSE(e.has_failed()) << e.DebugString();
  server = absl::OkStatus();
  ASSERT_TRUE(pinging.MigrateCopy(SampleOrder()).ok());
  EXPECT_TRUE(publisher_.Events().back().has_failed());
}

TEST_F(MigratorTest, AProductionPlanStopsAtItsDowntimeBoundAndAsksForARollback) {
  Order order = ProductionOrder();
  ToProto(absl::Seconds(60), order.mutable_max_offline());
  const absl::Time offline_at = clock_.now - absl::Seconds(10);
  // The second step takes 55 s: the window passes its bound (offline + 60 s) during it.
  target_.after_step = [&] {
    if (target_.ran.size() == 2) clock_.now += absl::Seconds(55);
  };
  ASSERT_TRUE(migrator_.MigrateInPlace(order, std::nullopt, offline_at).ok());
  EXPECT_EQ(target_.ran.size(), 2u) << "a step ran past the bound";
  EXPECT_EQ(target_.deadlines[0], offline_at + absl::Seconds(60));  // each step is told the bound
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_migration_failed());
  EXPECT_TRUE(absl::StrContains(last.migration_failed().error(), "downtime bound (max_offline 1m)"))
      << last.migration_failed().error();
}

// The migrator's session in a database is closed before the event that hands the database on: the
// copy to its owner, or the database to the cloner, which may rename or drop it.
TEST_F(MigratorTest, TheSessionInTheCopyEndsBeforeItIsHandedOver) {
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  ASSERT_EQ(target_.ended.size(), 1u);
  EXPECT_EQ(target_.ended[0].first, SampleOrder().test_database());
  EXPECT_EQ(target_.ended[0].second, publisher_.records.size() - 1);
  EXPECT_TRUE(publisher_.Events().back().has_succeeded());
}

TEST_F(MigratorTest, TheSessionInAProductionDatabaseEndsBeforeItsRollbackIsAskedFor) {
  target_.fail_step = "17.0->18.0/02_rename_partner_phone";
  ASSERT_TRUE(migrator_.MigrateInPlace(ProductionOrder()).ok());
  ASSERT_EQ(target_.ended.size(), 1u);
  EXPECT_EQ(target_.ended[0].first, ProductionOrder().database());
  EXPECT_EQ(target_.ended[0].second, publisher_.records.size() - 1);
  EXPECT_TRUE(publisher_.Events().back().has_migration_failed());
}

TEST_F(MigratorTest, AFailedPostCheckFailsTheUpgrade) {
  target_.failing_check = "amount_total";  // the sample's order_totals_match_lines
  ASSERT_TRUE(migrator_.MigrateInPlace(ProductionOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_migration_failed());
  EXPECT_TRUE(absl::StrContains(last.migration_failed().error(), "post-check")) << last.migration_failed().error();
}

TEST_F(MigratorTest, NeverMigratesAProductionDatabaseThatIsOnline) {
  target_.accepts_connections = true;  // e.g. a redelivered snapshot event after a rollback
  ASSERT_TRUE(migrator_.MigrateInPlace(ProductionOrder()).ok());
  EXPECT_TRUE(target_.ran.empty());
  EXPECT_TRUE(publisher_.records.empty());
}

TEST_F(MigratorTest, ATestCancelledBeforeItsPlanRunsNoStep) {
  gate_.cancelled.insert(SampleOrder().upgrade_id());
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  EXPECT_TRUE(target_.ran.empty());
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].cancelled().reason(), "cancelled on request");
}

TEST_F(MigratorTest, ATestCancelledDuringItsPlanIsNotHandedOver) {
  gate_.cancelled.insert(SampleOrder().upgrade_id());
  gate_.cancel_at = {CHECKPOINT_FINISH};
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  EXPECT_EQ(target_.ran.size(), 7u);
  auto events = publisher_.Events();
  EXPECT_TRUE(events.back().has_cancelled());
  for (const Event& e : events) EXPECT_FALSE(e.has_succeeded());
}

TEST_F(MigratorTest, AProductionCancelledBeforeItsPointOfNoReturnIsRestoredNotMigrated) {
  gate_.cancelled.insert(SampleOrder().upgrade_id());
  ASSERT_TRUE(migrator_.MigrateInPlace(ProductionOrder()).ok());
  EXPECT_TRUE(target_.ran.empty());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_migration_failed());
  EXPECT_TRUE(last.migration_failed().cancelled());
  EXPECT_EQ(gate_.passed, (std::vector<Checkpoint>{CHECKPOINT_BEGIN_MIGRATION}));
}

TEST_F(MigratorTest, ASuccessfulPlanCarriesItsIntegrityReport) {
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  const IntegrityReport report = publisher_.Events().back().succeeded().report();
  ASSERT_EQ(report.tables_size(), 2);
  EXPECT_EQ(report.tables(0).table(), "public.res_partner");
  EXPECT_EQ(report.tables(0).rows_before(), 40);
  EXPECT_EQ(report.tables(0).rows_after(), 40);
  EXPECT_EQ(report.steps_size(), 7);
  EXPECT_EQ(report.constraints_validated(0), "sale_order_line.quantity_positive");
  int assertions = 0, post = 0, pre = 0;
  for (const CheckReport& c : report.checks()) {
    EXPECT_TRUE(c.passed());
    if (absl::StrContains(c.kind(), "neutralization")) ++assertions;
    if (c.kind() == "post-check") ++post;
    if (absl::StrContains(c.kind(), "pre-check")) ++pre;
  }
  EXPECT_EQ(assertions, 3);
  EXPECT_EQ(post, 2);
  EXPECT_EQ(pre, 1);
}

TEST_F(MigratorTest, TheReportCarriesThePlansTimelineWhenThisRunAppliedEveryStep) {
  target_.after_step = [&] { clock_.now += absl::Seconds(1); };  // each step takes a second
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  const IntegrityReport report = publisher_.Events().back().succeeded().report();
  ASSERT_EQ(report.steps_size(), 7);
  std::vector<int64_t> done_after;
  for (const StepReport& s : report.steps()) done_after.push_back(s.done_after_ms());
  // The six steps of the plan, then the neutralization, which is no step of it.
  EXPECT_EQ(done_after, (std::vector<int64_t>{1000, 2000, 3000, 4000, 5000, 6000, 0}));
  EXPECT_EQ(report.plan_duration_ms(), 7000);

  // A plan resumed after a redelivery did not time the steps an earlier run applied: no timeline.
  target_.history.erase("17.0->18.0/03_order_line_constraints");
  target_.ran.pop_back();
  target_.ran.pop_back();  // the neutralization's, after it
  target_.history.erase("neutralize/neutralize");
  target_.version = "17.0";
  publisher_.records.clear();
  gate_.done.clear();
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  const IntegrityReport resumed = publisher_.Events().back().succeeded().report();
  ASSERT_EQ(resumed.steps_size(), 7);
  for (const StepReport& s : resumed.steps()) EXPECT_EQ(s.done_after_ms(), 0) << s.step();
  EXPECT_EQ(resumed.plan_duration_ms(), 2000);  // one step applied of the plan, then the neutralization
}

TEST_F(MigratorTest, TheReportsBeforeCountsAreTheClonersWhenTheEventCarriesThem) {
  Event cloned;
  cloned.set_event_id("0f8fad5b-d9cb-469f-a165-70867728950e/clone_succeeded");
  *cloned.mutable_order() = SampleOrder();
  TableCount* c = cloned.mutable_clone_succeeded()->add_copy_rows();
  c->set_table("public.res_partner");
  c->set_rows(39);  // as the cloner counted it; the fake database now says 40
  TableCount* own = cloned.mutable_clone_succeeded()->add_copy_rows();
  own->set_table("upshift.migration_history");
  own->set_rows(3);
  gate_.Admit(SampleOrder());
  ASSERT_TRUE(migrator_.Handle(upshift::testing::RecordOf(cloned)).ok());
  const IntegrityReport report = publisher_.Events().back().succeeded().report();
  ASSERT_EQ(report.tables_size(), 2);
  EXPECT_EQ(report.tables(0).table(), "public.res_partner");
  EXPECT_EQ(report.tables(0).rows_before(), 39);
  EXPECT_EQ(report.tables(0).rows_after(), 40);
  EXPECT_EQ(report.tables(1).rows_before(), 0);  // public.sale_order: not in the cloner's counts
}

// What the cloner publishes once the database that went offline is `order`'s restore point and its
// copy bears its name: no counts (the migrator reads them in the restore point).
Event RestorePointMade(const Order& order) {
  Event snapshot;
  snapshot.set_event_id(absl::StrCat(order.upgrade_id(), "/snapshot_succeeded"));
  *snapshot.mutable_order() = order;
  snapshot.mutable_snapshot_succeeded()->set_verified_by("original");
  return snapshot;
}

// The restore point is the database as it went offline, and the database a copy of it: the report's
// "before" and the checksums of the tables declared unchanged are the restore point's, read on
// sessions of their own (ended afterwards), never the copy's before its steps.
TEST_F(MigratorTest, TheRestorePointIsReadForTheReportAndTheChecksumsInsteadOfTheCopyBeforeItsSteps) {
  Order order = ProductionOrder();
  target_.rows_in[order.restore_point()] = {{"public.res_partner", 41}, {"public.sale_order", 80}};
  gate_.Admit(order);
  ASSERT_TRUE(migrator_.Handle(upshift::testing::RecordOf(RestorePointMade(order))).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_migrated()) << last.DebugString();
  const IntegrityReport& report = last.migrated().report();
  ASSERT_EQ(report.tables_size(), 2);
  EXPECT_EQ(report.tables(0).rows_before(), 41);
  EXPECT_EQ(report.tables(0).rows_after(), 40);
  std::vector<std::string> counted;
  for (const auto& [database, steps_run] : target_.counted) counted.push_back(database);
  // The restore point once, the database once after its steps.
  EXPECT_EQ(counted, (std::vector<std::string>{order.restore_point(), order.database()}));
  EXPECT_EQ(target_.counted.back().second, 6u);
  // Before the steps in the restore point, after them in the database.
  EXPECT_EQ(target_.summed, (std::vector<std::string>{order.restore_point(), order.database()}));
  bool ended = false;
  for (const auto& [database, published] : target_.ended) ended = ended || database == order.restore_point();
  EXPECT_TRUE(ended);
}

// What a copy got wrong in a table the plan leaves alone fails the plan: the copy is held to the
// restore point, the database's own files, and the cloner's rollback gives those back.
TEST_F(MigratorTest, ACopyWhoseUnchangedTableDiffersFromTheRestorePointFailsThePlan) {
  Order order = ProductionOrder();
  target_.rows_in[order.restore_point()] = target_.rows;
  target_.sums_in[order.database()] = "copied wrong";
  gate_.Admit(order);
  ASSERT_TRUE(migrator_.Handle(upshift::testing::RecordOf(RestorePointMade(order))).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_migration_failed()) << last.DebugString();
  EXPECT_TRUE(absl::StrContains(last.migration_failed().error(), "declared unchanged")) << last.migration_failed().error();
}

TEST_F(MigratorTest, AStepThatChangesATableDeclaredUnchangedFailsTheUpgrade) {
  target_.corrupt_unchanged = true;
  ASSERT_TRUE(migrator_.MigrateCopy(SampleOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "declared unchanged")) << last.failed().error();
}

TEST_F(MigratorTest, NothingRunsInADatabaseWithoutTheUpgradesLease) {
  target_.leases.clear();  // e.g. the database was restored from its restore point meanwhile
  ASSERT_TRUE(migrator_.MigrateInPlace(ProductionOrder()).ok());
  EXPECT_TRUE(target_.ran.empty());
  EXPECT_TRUE(publisher_.Events().back().has_migration_failed());
}

TEST_F(MigratorTest, TheLeaseIsRenewedWhileTheProductionPlanRuns) {
  ASSERT_TRUE(migrator_.MigrateInPlace(ProductionOrder()).ok());
  EXPECT_GE(target_.heartbeats.load(), 1);
}

TEST_F(MigratorTest, IgnoresEventsItDoesNotHandle) {
  Event e;
  e.set_event_id("x/accepted");
  *e.mutable_order() = SampleOrder();
  e.mutable_accepted();
  EXPECT_TRUE(migrator_.Handle(upshift::testing::RecordOf(e)).ok());
  EXPECT_TRUE(publisher_.records.empty());
}

TEST_F(MigratorTest, AnUndecodableRecordIsPermanent) {
  ConsumedRecord r;
  r.payload = "\xff\xff not protobuf";
  EXPECT_EQ(migrator_.Handle(r).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MigratorTest, ACloneSucceededNamingALiveDatabaseAsTheCopyIsRefusedAndRunsNothing) {
  gate_.Admit(SampleOrder());
  Event cloned;
  cloned.set_event_id("0f8fad5b-d9cb-469f-a165-70867728950e/clone_succeeded");
  *cloned.mutable_order() = SampleOrder();
  cloned.mutable_order()->set_test_database("acme");  // the customer's own database
  cloned.mutable_clone_succeeded();
  absl::Status handled = migrator_.Handle(upshift::testing::RecordOf(cloned));
  EXPECT_EQ(handled.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(publisher_.records.empty());
  EXPECT_TRUE(gate_.passed.empty());  // not even a checkpoint was passed
}

TEST_F(MigratorTest, ASnapshotOfAnUpgradeRequestNeverAdmittedIsRefused) {
  Event snapshot;
  snapshot.set_event_id("0f8fad5b-d9cb-469f-a165-70867728950e/snapshot_succeeded");
  *snapshot.mutable_order() = SampleOrder(PURPOSE_PRODUCTION);
  snapshot.mutable_snapshot_succeeded();
  EXPECT_EQ(migrator_.Handle(upshift::testing::RecordOf(snapshot)).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(publisher_.records.empty());
}

}  // namespace
}  // namespace upshift::migrator

namespace upshift::migrator {
namespace {

// A step the catalog runs as the hosting server's superuser is named so in the report the customer
// and the operators read.
TEST(MigratorReport, NamesTheStepsThatRanAsTheSuperuser) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("catalog_", NewUpgradeId().substr(0, 8));
  std::filesystem::copy(std::string(UPSHIFT_SOURCE_DIR) + "/deploy/catalogs/sample_erp", dir,
                        std::filesystem::copy_options::recursive);
  std::string manifest;
  {
    std::ifstream in(dir / "catalog.textproto");
    manifest.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string step = R"(sql: "hops/17.0-18.0/02_rename_partner_phone.sql" })";
  ASSERT_NE(manifest.find(step), std::string::npos);
  manifest.replace(manifest.find(step), step.size(),
                   R"(sql: "hops/17.0-18.0/02_rename_partner_phone.sql" superuser: true })");
  std::ofstream(dir / "catalog.textproto") << manifest;
  absl::StatusOr<Catalog> catalog = Catalog::Load(dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  FakeTarget target;
  FakePublisher publisher;
  target.published = &publisher;
  upshift::testing::FakeGate gate;
  FakeClock clock;
  Migrator migrator(*catalog, OnlyTarget(target), publisher, gate, clock);
  ASSERT_TRUE(migrator.MigrateCopy(SampleOrder()).ok());
  Event last = publisher.Events().back();
  ASSERT_TRUE(last.has_succeeded());
  std::vector<std::string> as_superuser;
  for (const StepReport& s : last.succeeded().report().steps()) {
    if (s.superuser()) as_superuser.push_back(absl::StrCat(s.hop(), "/", s.step()));
  }
  EXPECT_EQ(as_superuser, (std::vector<std::string>{"17.0->18.0/02_rename_partner_phone"}));
  EXPECT_EQ(last.succeeded().report().steps_size(), 7);  // the six steps and the neutralization
}

}  // namespace
}  // namespace upshift::migrator

namespace upshift::migrator {
namespace {

// The lease is renewed at once, then every interval until the heartbeat is destroyed.
TEST(LeaseHeartbeat, RenewsAtOnceThenEveryIntervalUntilDestroyed) {
  FakeTarget target;
  {
    LeaseHeartbeat hourly(target, "acme", "0f8fad5b-d9cb-469f-a165-70867728950e", absl::Hours(1));
    EXPECT_EQ(target.heartbeats.load(), 1);  // before the constructor returned
  }  // destroyed at once: its wait for the next hour ends with it
  EXPECT_EQ(target.heartbeats.load(), 1);
  {
    LeaseHeartbeat often(target, "acme", "0f8fad5b-d9cb-469f-a165-70867728950e", absl::Milliseconds(1));
    const absl::Time until = absl::Now() + absl::Seconds(30);
    while (target.heartbeats.load() < 4 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
    EXPECT_GE(target.heartbeats.load(), 4);
  }
}

}  // namespace
}  // namespace upshift::migrator
