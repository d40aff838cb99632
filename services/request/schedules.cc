#include "services/request/schedules.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/kafka/events.h"
#include "libs/kafka/topics.h"
#include "libs/metrics/metrics.h"

namespace upshift::request {

Schedules::Schedules(ScheduleOptions options, OrderBook& book, OrderSchedule& schedule, Clock& clock,
                     std::function<void()> recorded)
    : options_(options), book_(book), schedule_(schedule), clock_(clock), recorded_(std::move(recorded)) {}

absl::StatusOr<std::string> Schedules::RefusalAt(const upgrade::v1::Order& order, absl::Time now) {
  if (order.purpose() != upgrade::v1::PURPOSE_PRODUCTION) return std::string();
  // Never offline outside the window the customer chose: a start missed while no replica ran is
  // skipped, not served late.
  if (order.has_latest_start() && now > FromProto(order.latest_start())) {
    return absl::StrCat(
        "not started: its maintenance window opened at ",
        absl::FormatTime("%Y-%m-%d %H:%M UTC", FromProto(order.not_before()), absl::UTCTimeZone()),
        " but the platform could not start it by ",
        absl::FormatTime("%Y-%m-%d %H:%M UTC", FromProto(order.latest_start()), absl::UTCTimeZone()),
        ", the latest that leaves room for its downtime; order it again and it goes to the next opening");
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> test, book_.FindByUpgradeId(order.test_upgrade_id()));
  if (!test.has_value() || test->outcome != Outcome::kSucceeded) {
    return absl::StrCat("not started at its scheduled time: its Test upgrade ", order.test_upgrade_id(),
                        " is no longer on record; order a new Test upgrade");
  }
  absl::Duration age = now - test->finished_at;
  if (age > options_.max_test_age) {
    return absl::StrCat("not started at its scheduled time: its Test upgrade ended ", absl::ToInt64Hours(age) / 24,
                        " days ago, more than the ", absl::ToInt64Hours(options_.max_test_age) / 24,
                        " days allowed; order a new Test upgrade, then the Production upgrade again");
  }
  return std::string();
}

absl::StatusOr<Schedules::Swept> Schedules::Sweep() {
  static metrics::Family& served = metrics::Default().Counter(
      "upshift_scheduled_upgrades_total",
      "Scheduled upgrades served at their start (started, or refused: an old Test, a missed maintenance window) "
      "and reminders sent",
      {"outcome"});
  static metrics::Family& lateness = metrics::Default().Histogram(
      "upshift_scheduled_start_lateness_seconds",
      "How long after its not_before a scheduled upgrade started (long: no request replica ran at its time)", {},
      {0.5, 1, 2, 5, 10, 30, 60, 300, 3600});
  Swept swept;
  const absl::Time now = clock_.Now();
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<StoredOrder> due, schedule_.Scheduled(now, false, options_.batch));
  for (const StoredOrder& s : due) {
    const upgrade::v1::Order& order = s.order;
    LogScope scope(order.upgrade_id(), order.database());
    UPSHIFT_ASSIGN_OR_RETURN(std::string refusal, RefusalAt(order, now));
    bool starts = refusal.empty();
    UPSHIFT_ASSIGN_OR_RETURN(bool acted, schedule_.StartScheduled(order.upgrade_id(), now, [&](const StoredOrder& at) {
      if (starts) {
        return OrderSchedule::Start{true, {topics::kOrders, at.order.database(), AcceptanceOf(at.order, now).SerializeAsString()}};
      }
      upgrade::v1::Event cancelled = MakeEvent(at.order, "cancelled", "request", now);
      cancelled.mutable_cancelled()->set_reason(refusal);
      return OrderSchedule::Start{false, {topics::kEvents, at.order.database(), cancelled.SerializeAsString()}};
    }));
    if (!acted) continue;
    const absl::Duration late = now - FromProto(order.not_before());
    served.Increment({starts ? "started" : "refused"});
    if (starts) {
      lateness.ObserveDuration({}, late);
      ++swept.started;
      LogInfo(absl::StrCat("scheduled upgrade started, ", absl::FormatDuration(late), " after its not_before"));
    } else {
      ++swept.refused;
      LogWarning(absl::StrCat("scheduled upgrade refused at its start: ", refusal));
    }
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<StoredOrder> soon,
                           schedule_.Scheduled(now + options_.reminder_before, true, options_.batch));
  for (const StoredOrder& s : soon) {
    const absl::Time start = FromProto(s.order.not_before());
    if (start <= now) continue;  // due: started above, or at the next sweep
    // Placed within the reminder's lead: the email that it is scheduled told the same, so it is
    // only marked as needing no reminder.
    const bool needs_one = start - FromProto(s.order.created_at()) > options_.reminder_before;
    UPSHIFT_ASSIGN_OR_RETURN(bool reminded, schedule_.Remind(s.order.upgrade_id(), now,
                                                             [&](const StoredOrder& at) -> std::optional<OutgoingRecord> {
      if (!needs_one) return std::nullopt;
      upgrade::v1::Event reminder = MakeEvent(at.order, "reminder", "request", now);
      ToProto(start - now, reminder.mutable_reminder()->mutable_starts_in());
      return OutgoingRecord{topics::kOrders, at.order.database(), reminder.SerializeAsString()};
    }));
    if (reminded && needs_one) {
      ++swept.reminded;
      served.Increment({"reminded"});
    }
  }
  if ((swept.started > 0 || swept.refused > 0 || swept.reminded > 0) && recorded_) recorded_();
  return swept;
}

}  // namespace upshift::request
