#include "services/request/maintenance_window.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libs/common/time.h"

namespace upshift::request {
namespace {

using upgrade::v1::MaintenanceWindow;
using ::testing::HasSubstr;

absl::Time Utc(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << error;
  return t;
}

MaintenanceWindow Window(std::vector<int> weekdays, const std::string& start, absl::Duration length,
                         const std::string& zone) {
  MaintenanceWindow w;
  for (int d : weekdays) w.add_weekdays(d);
  w.set_start(start);
  ToProto(length, w.mutable_length());
  w.set_time_zone(zone);
  return w;
}

TEST(MaintenanceWindow, AMalformedWindowIsRefusedNamingTheField) {
  EXPECT_TRUE(ValidateWindow(Window({6, 7}, "02:00", absl::Hours(4), "Europe/Brussels")).ok());
  struct Case {
    MaintenanceWindow window;
    const char* field;
  };
  for (const Case& c : std::vector<Case>{
           {Window({}, "02:00", absl::Hours(4), "UTC"), "weekdays"},
           {Window({0}, "02:00", absl::Hours(4), "UTC"), "weekdays"},
           {Window({8}, "02:00", absl::Hours(4), "UTC"), "weekdays"},
           {Window({6, 6}, "02:00", absl::Hours(4), "UTC"), "weekdays"},
           {Window({6}, "24:00", absl::Hours(4), "UTC"), "start"},
           {Window({6}, "2:00", absl::Hours(4), "UTC"), "start"},
           {Window({6}, "02:60", absl::Hours(4), "UTC"), "start"},
           {Window({6}, "-1:00", absl::Hours(4), "UTC"), "start"},
           {Window({6}, "02:00", absl::Minutes(10), "UTC"), "length"},
           {Window({6}, "02:00", absl::Hours(25), "UTC"), "length"},
           {Window({6}, "02:00", absl::Hours(4), "Mars/Olympus_Mons"), "time_zone"},
           {Window({6}, "02:00", absl::Hours(4), ""), "time_zone"},
       }) {
    absl::Status refused = ValidateWindow(c.window);
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << c.window.DebugString();
    EXPECT_THAT(refused.message(), HasSubstr(c.field)) << refused;
  }
}

TEST(MaintenanceWindow, TheNextOpeningIsInTheWindowsOwnTimeZone) {
  // Saturdays and Sundays, 02:00 for 4 h in Brussels (CET, UTC+1, in December).
  const MaintenanceWindow weekend = Window({6, 7}, "02:00", absl::Hours(4), "Europe/Brussels");
  WindowOpening next = NextOpening(weekend, Utc("2026-12-09T12:00:00Z"));  // a Wednesday
  EXPECT_EQ(next.start, Utc("2026-12-12T01:00:00Z"));
  EXPECT_EQ(next.end, Utc("2026-12-12T05:00:00Z"));
  // Open now: the opening it is in.
  EXPECT_EQ(NextOpening(weekend, Utc("2026-12-12T04:59:59Z")).start, Utc("2026-12-12T01:00:00Z"));
  // Just closed: the next day's.
  EXPECT_EQ(NextOpening(weekend, Utc("2026-12-12T05:00:00Z")).start, Utc("2026-12-13T01:00:00Z"));
  // New York, Mondays 09:00 (EST, UTC-5).
  EXPECT_EQ(NextOpening(Window({1}, "09:00", absl::Hours(1), "America/New_York"), Utc("2026-12-09T12:00:00Z")).start,
            Utc("2026-12-14T14:00:00Z"));
  // A window past midnight is still open the next morning.
  const MaintenanceWindow night = Window({1}, "22:00", absl::Hours(6), "UTC");  // Monday 22:00 to Tuesday 04:00
  EXPECT_EQ(NextOpening(night, Utc("2026-12-08T01:00:00Z")).start, Utc("2026-12-07T22:00:00Z"));
}

TEST(MaintenanceWindow, DaylightSavingChangesMoveTheLocalStartNotTheWindow) {
  // Brussels, Sundays 02:30 for 2 h. On 2027-03-28 the clocks go from 02:00 to 03:00: 02:30 does
  // not exist, and the window opens at the change (01:00 UTC). It lasts 2 real hours.
  const MaintenanceWindow w = Window({7}, "02:30", absl::Hours(2), "Europe/Brussels");
  WindowOpening spring = NextOpening(w, Utc("2027-03-24T00:00:00Z"));
  EXPECT_EQ(spring.start, Utc("2027-03-28T01:00:00Z"));
  EXPECT_EQ(spring.end, Utc("2027-03-28T03:00:00Z"));
  // The week after, summer time (UTC+2): 02:30 local is 00:30 UTC.
  EXPECT_EQ(NextOpening(w, spring.end).start, Utc("2027-04-04T00:30:00Z"));
  // On 2026-10-25 the clocks go from 03:00 back to 02:00: 02:30 happens twice; the window opens the
  // first time (still summer time, 00:30 UTC).
  EXPECT_EQ(NextOpening(w, Utc("2026-10-21T00:00:00Z")).start, Utc("2026-10-25T00:30:00Z"));
  // And the week after in winter time (UTC+1).
  EXPECT_EQ(NextOpening(w, Utc("2026-10-26T00:00:00Z")).start, Utc("2026-11-01T01:30:00Z"));
}

TEST(MaintenanceWindow, AnUpgradeStartsNowWhenTheOpenWindowHasRoomElseAtTheNextOpeningThatHas) {
  const MaintenanceWindow w = Window({6, 7}, "02:00", absl::Hours(4), "UTC");
  // Open, with room for 30 min: now; it may start until 30 min before the close.
  absl::StatusOr<WindowStart> start = StartInWindow(w, absl::Minutes(30), Utc("2026-12-12T03:00:00Z"));
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_EQ(start->not_before, Utc("2026-12-12T03:00:00Z"));
  EXPECT_EQ(start->latest, Utc("2026-12-12T05:30:00Z"));
  // Open, without room for 90 min: Sunday's opening.
  start = StartInWindow(w, absl::Minutes(90), Utc("2026-12-12T05:00:00Z"));
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_EQ(start->not_before, Utc("2026-12-13T02:00:00Z"));
  EXPECT_EQ(start->latest, Utc("2026-12-13T04:30:00Z"));
  // Closed: the next opening.
  start = StartInWindow(w, absl::Minutes(30), Utc("2026-12-09T12:00:00Z"));
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_EQ(start->not_before, Utc("2026-12-12T02:00:00Z"));
  // A downtime longer than the window never fits.
  absl::Status never = StartInWindow(w, absl::Hours(5), Utc("2026-12-09T12:00:00Z")).status();
  EXPECT_EQ(never.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(never.message(), HasSubstr("longer than the maintenance window"));
}

}  // namespace
}  // namespace upshift::request
