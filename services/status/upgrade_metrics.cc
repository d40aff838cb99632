#include "services/status/upgrade_metrics.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "libs/common/time.h"
#include "libs/metrics/metrics.h"
#include "services/status/status_logic.h"

namespace upshift::status {
namespace {

using upgrade::v1::Event;
using upgrade::v1::Upgrade;

std::string PurposeLabel(upgrade::v1::Purpose purpose) {
  absl::string_view name = upgrade::v1::Purpose_Name(purpose);
  absl::ConsumePrefix(&name, "PURPOSE_");
  return absl::AsciiStrToLower(name);
}

std::string StateLabel(upgrade::v1::State state) {
  absl::string_view name = upgrade::v1::State_Name(state);
  absl::ConsumePrefix(&name, "STATE_");
  return absl::AsciiStrToLower(name);
}

bool Finished(upgrade::v1::State state) {
  return state == upgrade::v1::STATE_SUCCEEDED || state == upgrade::v1::STATE_FAILED ||
         state == upgrade::v1::STATE_ROLLED_BACK || state == upgrade::v1::STATE_CANCELLED;
}

// The event kinds that end an upgrade.
bool Ends(const Event& event) {
  return event.has_succeeded() || event.has_failed() || event.has_rolled_back() || event.has_cancelled();
}

bool Set(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

metrics::Family& Stages() {
  static metrics::Family& family = metrics::Default().Histogram(
      "upshift_stage_duration_seconds",
      "Time of each stage of the upgrades that completed it: copy, plan, check, offline (a Production's window)",
      {"stage", "purpose"}, metrics::StageBuckets());
  return family;
}

}  // namespace

void CountRecorded(const Event& event, const Upgrade& after) {
  static metrics::Family& finished = metrics::Default().Counter(
      "upshift_upgrades_finished_total", "Upgrades that ended, by purpose and final state", {"purpose", "state"});
  static metrics::Family& durations = metrics::Default().Histogram(
      "upshift_upgrade_duration_seconds", "Time from admission (a scheduled upgrade: its start) to the end, by purpose and final state",
      {"purpose", "state"}, metrics::StageBuckets());
  static metrics::Family& ratio = metrics::Default().Histogram(
      "upshift_offline_window_to_estimate_ratio",
      "A finished Production upgrade's offline window over the downtime estimated at admission",
      {}, {0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 8});
  const std::string purpose = PurposeLabel(event.order().purpose());
  if (event.has_clone_succeeded()) {
    Stages().ObserveDuration({"copy", purpose}, FromProto(event.clone_succeeded().copy_duration()));
  }
  if (event.has_migrated()) {
    Stages().ObserveDuration({"plan", purpose}, FromProto(event.migrated().duration()));
  }
  if (event.has_succeeded() && event.order().purpose() != upgrade::v1::PURPOSE_PRODUCTION) {
    const bool check = event.order().purpose() == upgrade::v1::PURPOSE_CHECK;
    Stages().ObserveDuration({check ? "check" : "plan", purpose}, FromProto(event.succeeded().migrate_duration()));
  }
  if (!Ends(event) || !Finished(after.state())) return;
  const std::string state = StateLabel(after.state());
  finished.Increment({purpose, state});
  if (Set(after.created_at()) && Set(after.finished_at())) {
    // A scheduled upgrade counts from its start, not from the wait before it.
    absl::Time from = FromProto(after.created_at());
    if (Set(after.not_before())) from = std::max(from, FromProto(after.not_before()));
    durations.ObserveDuration({purpose, state}, std::max(absl::ZeroDuration(), FromProto(after.finished_at()) - from));
  }
  if (after.purpose() == upgrade::v1::PURPOSE_PRODUCTION && Set(after.offline_at())) {
    absl::Time back = Set(after.online_at()) ? FromProto(after.online_at()) : FromProto(after.finished_at());
    absl::Duration window = back - FromProto(after.offline_at());
    if (window >= absl::ZeroDuration()) {
      Stages().ObserveDuration({"offline", purpose}, window);
      absl::Duration estimate = FromProto(after.estimated_downtime());
      if (estimate > absl::ZeroDuration()) ratio.Observe({}, absl::FDivDuration(window, estimate));
    }
  }
}

void ExportUnfinished(const std::vector<Upgrade>& unfinished, absl::Time now) {
  static metrics::Family& states = metrics::Default().Gauge(
      "upshift_upgrades_unfinished", "Upgrades admitted and not ended, by purpose and state", {"purpose", "state"});
  static metrics::Family& stalled = metrics::Default().Gauge(
      "upshift_upgrades_stalled", "Unfinished upgrades no worker reported on within status's --stall_timeout",
      {"purpose"});
  static metrics::Family& backlog = metrics::Default().Gauge(
      "upshift_backlog_upgrades",
      "Unfinished upgrades per worker group: waiting for it, in its hands (in_flight), and stalled among those",
      {"group", "kind"});
  static metrics::Family& offline = metrics::Default().Gauge(
      "upshift_databases_offline", "Databases offline now for a Production upgrade");
  static metrics::Family& overrun = metrics::Default().Gauge(
      "upshift_offline_longest_to_estimate_ratio",
      "Of the databases offline now, the longest time offline so far over its estimated downtime (0: none offline)");
  static metrics::Family& waiting = metrics::Default().Gauge(
      "upshift_upgrades_waiting",
      "Unfinished upgrades waiting for their hosting server (its capacity, or for it to answer), by server", {"server"});
  static metrics::Family& offline_longest = metrics::Default().Gauge(
      "upshift_databases_offline_longest_seconds",
      "Of the databases offline now for a Production upgrade, the longest time offline so far, by hosting server",
      {"server"});
  std::map<std::string, int> waiting_by_server;
  std::map<std::string, double> offline_by_server;
  std::map<std::pair<std::string, std::string>, int> by_state;
  std::map<std::string, int> stalled_by_purpose = {{"test", 0}, {"production", 0}, {"check", 0}};
  int offline_now = 0;
  double longest = 0;
  for (const Upgrade& u : unfinished) {
    const std::string purpose = PurposeLabel(u.purpose());
    ++by_state[{purpose, StateLabel(u.state())}];
    if (u.stalled()) ++stalled_by_purpose[purpose];
    if (!u.waiting_for().empty()) ++waiting_by_server[u.server()];
    if (u.purpose() == upgrade::v1::PURPOSE_PRODUCTION && Set(u.offline_at()) && !Set(u.online_at())) {
      ++offline_now;
      double& longest_here = offline_by_server[u.server()];
      longest_here = std::max(longest_here, absl::ToDoubleSeconds(now - FromProto(u.offline_at())));
      absl::Duration estimate = FromProto(u.estimated_downtime());
      if (estimate > absl::ZeroDuration()) {
        longest = std::max(longest, absl::FDivDuration(now - FromProto(u.offline_at()), estimate));
      }
    }
  }
  // Cleared first: a state no upgrade is in any more disappears instead of keeping its last count.
  states.Clear();
  for (const auto& [key, count] : by_state) states.Set({key.first, key.second}, count);
  for (const auto& [purpose, count] : stalled_by_purpose) stalled.Set({purpose}, count);
  const upgrade::v1::GetBacklogResponse groups = Backlog(unfinished);
  for (const upgrade::v1::WorkerBacklog& group : groups.groups()) {
    backlog.Set({group.group(), "waiting"}, group.waiting());
    backlog.Set({group.group(), "in_flight"}, group.in_flight());
    backlog.Set({group.group(), "stalled"}, group.stalled());
  }
  offline.Set({}, offline_now);
  overrun.Set({}, longest);
  // Only servers with such upgrades: the others' series end instead of keeping a last value.
  waiting.Clear();
  for (const auto& [server, count] : waiting_by_server) waiting.Set({server}, count);
  offline_longest.Clear();
  for (const auto& [server, seconds] : offline_by_server) offline_longest.Set({server}, seconds);
}

}  // namespace upshift::status
