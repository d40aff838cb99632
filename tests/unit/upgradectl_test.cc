#include <gtest/gtest.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/time.h"
#include "tools/upgradectl/commands.h"
#include "tools/upgradectl/printers.h"

namespace upshift::ctl {
namespace {

using namespace upgrade::v1;

TEST(UpgradectlPrinters, AProductionUpgradeShowsItsDowntimeAndItsReport) {
  Upgrade u;
  u.set_upgrade_id("0f8fad5b-d9cb-469f-a165-70867728950e");
  u.set_database("acme");
  u.set_purpose(PURPOSE_PRODUCTION);
  u.set_from_version("16.0");
  u.set_target_version("18.0");
  u.set_state(STATE_SUCCEEDED);
  ToProto(absl::FromUnixSeconds(1'800'000'000), u.mutable_created_at());
  ToProto(absl::Seconds(12), u.mutable_estimated_downtime());
  ToProto(absl::Minutes(5), u.mutable_max_offline());
  ToProto(absl::FromUnixSeconds(1'800'000'100), u.mutable_offline_at());
  ToProto(absl::FromUnixSeconds(1'800'000'110) + absl::Milliseconds(340), u.mutable_online_at());
  StepReport* step = u.mutable_report()->add_steps();
  step->set_hop("16.0->17.0");
  step->set_step("01_add_column");
  step->set_duration_ms(1500);
  step->set_rows_affected(42);
  const std::string text = FormatUpgrade(u);
  EXPECT_TRUE(absl::StrContains(text, "state     STATE_SUCCEEDED\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "versions  16.0 -> 18.0\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "created   2027-01-15 08:00:00 UTC\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "finished  -\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "downtime  estimated 12s, offline 10.3s, at most 5m\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "          step 16.0->17.0/01_add_column: 1500 ms, 42 rows\n")) << text;
  EXPECT_FALSE(absl::StrContains(text, "copy      ")) << text;
}

TEST(UpgradectlPrinters, ACopyIsNestedUnderItsDatabaseWithItsTagsAndExpiry) {
  Database copy;
  copy.set_name("acme_test_0f8fad5b");
  copy.set_version("18.0");
  copy.set_online(true);
  copy.set_server("pg-eu-1");
  copy.add_tags(TAG_TEST_COPY);
  ToProto(absl::FromUnixSeconds(1'800'000'000), copy.mutable_expires_at());
  EXPECT_EQ(FormatDatabaseRow(copy, true),
            "  └─ acme_test_0f8fad5b                      pg-eu-1      18.0     yes     [Test copy] [expires 2027-01-15]\n");
  Database main;
  main.set_name("acme");
  main.add_tags(TAG_UPGRADE_IN_PROGRESS);
  EXPECT_EQ(FormatDatabaseRow(main, false),
            "acme                                         -            -        no      [Upgrade in progress]\n");
}

TEST(UpgradectlPrinters, AScheduledUpgradeSaysWhenItStartsOnItsDatabaseAndItself) {
  Database main;
  main.set_name("acme");
  main.set_online(true);
  main.add_tags(TAG_UPGRADE_SCHEDULED);
  ToProto(absl::FromUnixSeconds(1'800'003'600), main.mutable_scheduled_start());
  EXPECT_EQ(FormatDatabaseRow(main, false),
            "acme                                         -            -        yes     [Upgrade scheduled 2027-01-15 09:00 UTC]\n");
  Upgrade u;
  u.set_upgrade_id("0f8fad5b-d9cb-469f-a165-70867728950e");
  u.set_state(STATE_SCHEDULED);
  u.set_cancellable(true);
  ToProto(absl::FromUnixSeconds(1'800'003'600), u.mutable_not_before());
  const std::string text = FormatUpgrade(u);
  EXPECT_TRUE(absl::StrContains(text, "state     STATE_SCHEDULED\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "starts    2027-01-15 09:00:00 UTC\n")) << text;
}

TEST(UpgradectlPrinters, AServerRowSaysWhetherItAnswersAndItsLoadAgainstItsLimits) {
  HostingServerStatus s;
  s.set_name("pg-eu-1");
  s.set_answering(true);
  s.set_copies(1);
  s.set_max_copies(2);
  s.set_plans(3);
  (*s.mutable_labels())["region"] = "eu";
  (*s.mutable_labels())["class"] = "ssd";
  EXPECT_EQ(FormatServerRow(s), "pg-eu-1              yes   1/2      3        class=ssd,region=eu\n");
  s.set_answering(false);
  s.set_error("connection refused");
  EXPECT_EQ(FormatServerRow(s), "pg-eu-1              no    1/2      3        class=ssd,region=eu  (connection refused)\n");
}

TEST(UpgradectlPrinters, AnUpgradeOfflineSaysWhenItIsExpectedBack) {
  Upgrade u;
  u.set_upgrade_id("0f8fad5b-d9cb-469f-a165-70867728950e");
  u.set_state(STATE_MIGRATING);
  u.mutable_estimated_downtime()->set_seconds(12);
  ToProto(absl::FromUnixSeconds(1'800'000'000), u.mutable_offline_at());
  u.mutable_estimated_remaining()->set_seconds(7);
  ToProto(absl::FromUnixSeconds(1'800'000'009), u.mutable_expected_online_at());
  const std::string text = FormatUpgrade(u);
  EXPECT_TRUE(absl::StrContains(text, "downtime  estimated 12s, about 7s left (back online about 2027-01-15 08:00:09 UTC)\n"))
      << text;
}

TEST(UpgradectlPrinters, AWatchLineSaysTheStepAndWhatIsLeft) {
  Upgrade u;
  u.set_state(STATE_MIGRATING);
  u.set_current_step("02_rename");
  u.set_progress_percent(40);
  u.mutable_estimated_remaining()->set_seconds(30);
  ToProto(absl::FromUnixSeconds(1'800'000'000), u.mutable_updated_at());
  EXPECT_EQ(FormatWatchLine(u), "2027-01-15 08:00:00 UTC  STATE_MIGRATING  40% 02_rename about 30 s left \n");
}

TEST(UpgradectlPrinters, AFailureGroupSaysHowManyWhereWhyAndWhichDatabases) {
  ListFailureGroupsResponse groups;
  groups.set_failures(23);
  FailureGroup* g = groups.add_groups();
  g->set_count(22);
  g->set_where("step 17.0->18.0/02b_fix");
  g->set_signature("step 17.0->18.0/02b_fix failed: N rows in <db>");
  g->add_databases("acme");
  g->add_databases("globex");
  ToProto(absl::FromUnixSeconds(1'800'000'000), g->mutable_last_failed_at());
  ToProto(absl::FromUnixSeconds(1'799'996'400), g->mutable_first_failed_at());
  EXPECT_EQ(FormatFailureGroups(groups),
            "23 failed upgrades in 1 groups\n"
            "    22  step 17.0->18.0/02b_fix  (last 2027-01-15 08:00:00 UTC, first 2027-01-15 07:00:00 UTC)\n"
            "        step 17.0->18.0/02b_fix failed: N rows in <db>\n"
            "        databases: acme, globex and 20 more\n");
}

TEST(UpgradectlPrinters, AMaintenanceWindowSaysItsDaysHoursZoneOriginAndNextOpening) {
  GetMaintenanceWindowResponse w;
  EXPECT_EQ(FormatWindow(w), "window    none: a Production upgrade starts at once, or at its not_before\n");
  w.mutable_window()->add_weekdays(6);
  w.mutable_window()->add_weekdays(7);
  w.mutable_window()->set_start("02:00");
  ToProto(absl::Hours(4), w.mutable_window()->mutable_length());
  w.mutable_window()->set_time_zone("Europe/Brussels");
  w.set_set_on("tenant");
  ToProto(absl::FromUnixSeconds(1'800'000'000), w.mutable_next_opening());
  EXPECT_EQ(FormatWindow(w),
            "window    Sat, Sun 02:00 for 4h, Europe/Brussels (set on the tenant)\n"
            "next      2027-01-15 08:00:00 UTC\n");
}

TEST(UpgradectlPrinters, ARolloutSaysItsStateWhyEachWaveAndTheDatabasesOrdered) {
  Rollout r;
  r.set_rollout_id("0f8fad5b-d9cb-469f-a165-70867728950e");
  r.set_state(ROLLOUT_PAUSED);
  r.set_reason("paused by itself: wave 2: 4 of 10 failed (40%), above the 20% allowed");
  r.mutable_spec()->set_purpose(PURPOSE_TEST);
  r.mutable_spec()->set_target_version("18.0");
  r.mutable_spec()->set_max_failed_percent(20);
  r.set_created_by("ops");
  ToProto(absl::FromUnixSeconds(1'800'000'000), r.mutable_created_at());
  r.set_current_wave(2);
  for (int i = 1; i <= 2; ++i) {
    RolloutWaveProgress* w = r.add_waves();
    w->set_wave(i);
    w->set_databases(10);
    if (i == 1) w->set_succeeded(10);
    if (i == 2) {
      w->set_failed(4);
      w->set_succeeded(6);
    }
  }
  RolloutDatabase* d = r.add_databases();
  d->set_database("fleet_10");
  d->set_wave(2);
  d->set_state("failed");
  d->set_upgrade_id("1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  RolloutDatabase* left = r.add_databases();
  left->set_database("fleet_20");
  left->set_state("left");
  EXPECT_EQ(FormatRollout(r),
            "rollout   0f8fad5b-d9cb-469f-a165-70867728950e\n"
            "state     PAUSED\n"
            "why       paused by itself: wave 2: 4 of 10 failed (40%), above the 20% allowed\n"
            "upgrade   test to 18.0, pauses above 20% failed in a wave\n"
            "started   2027-01-15 08:00:00 UTC by ops\n"
            "wave  databases  succeeded  running  failed  skipped  left\n"
            " 1           10         10        0       0        0     0\n"
            ">2           10          6        0       4        0     0\n"
            "  fleet_10                       wave 2   failed    1b4e28ba-2fa1-11d2-883f-0016d3cca427\n");
  EXPECT_EQ(FormatRolloutRow(r),
            "0f8fad5b-d9cb-469f-a165-70867728950e  PAUSED    test       -> 18.0   wave 2/2  20/20 ended  "
            "2027-01-15 08:00:00 UTC\n");
}

TEST(UpgradectlCommands, TheUsageNamesEveryCommandOnceWithItsOperands) {
  const std::string usage = UsageText();
  std::set<std::string> names;
  for (const Command& c : Commands()) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name << " twice";
    EXPECT_TRUE(absl::StrContains(usage, absl::StrCat("\n  ", c.name, c.operands.empty() ? "" : " ", c.operands, "\n")))
        << c.name;
    EXPECT_LE(c.min_operands, c.max_operands) << c.name;
    EXPECT_NE(c.run, nullptr) << c.name;
  }
  EXPECT_EQ(names.size(), 19u);
}

TEST(UpgradectlCommands, AnUnknownCommandOrAWrongOperandCountIsUsageBeforeAnyCall) {
  // No credentials: a command that passed these checks would say so, and still be usage (2).
  Settings settings;
  EXPECT_EQ(ctl::Run({"upgradectl"}, settings, nullptr), kUsage);
  EXPECT_EQ(ctl::Run({"upgradectl", "frobnicate"}, settings, nullptr), kUsage);
  EXPECT_EQ(ctl::Run({"upgradectl", "show"}, settings, nullptr), kUsage);
  EXPECT_EQ(ctl::Run({"upgradectl", "probe", "a", "b", "c"}, settings, nullptr), kUsage);
  // A server that is not there: the command ran, and says it could not reach it.
  settings.status_addr = "127.0.0.1:1";
  settings.timeout = absl::Milliseconds(200);
  EXPECT_EQ(ctl::Run({"upgradectl", "show", "0f8fad5b-d9cb-469f-a165-70867728950e"}, settings,
                grpc::InsecureChannelCredentials()),
            kUnreachable);
}

}  // namespace
}  // namespace upshift::ctl
