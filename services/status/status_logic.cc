#include "services/status/status_logic.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "libs/common/ids.h"
#include "libs/common/time.h"

namespace upshift::status {

using upgrade::v1::Event;
using upgrade::v1::State;
using upgrade::v1::Upgrade;

namespace {

// The order of states along both lifecycles; a state only moves to a higher rank.
int Rank(State state) {
  switch (state) {
    case upgrade::v1::STATE_SCHEDULED:
      return 1;
    case upgrade::v1::STATE_ACCEPTED:
      return 2;
    case upgrade::v1::STATE_CLONING:
    case upgrade::v1::STATE_GOING_OFFLINE:
      return 3;
    case upgrade::v1::STATE_SNAPSHOTTING:
      return 4;
    case upgrade::v1::STATE_MIGRATING:
      return 5;
    case upgrade::v1::STATE_COMING_ONLINE:
      return 6;
    case upgrade::v1::STATE_ROLLING_BACK:
      return 7;
    case upgrade::v1::STATE_SUCCEEDED:
    case upgrade::v1::STATE_FAILED:
    case upgrade::v1::STATE_ROLLED_BACK:
    case upgrade::v1::STATE_CANCELLED:
      return 9;
    default:
      return 0;
  }
}

bool IsOfflinePhase(State state) {
  return state == upgrade::v1::STATE_GOING_OFFLINE || state == upgrade::v1::STATE_SNAPSHOTTING ||
         state == upgrade::v1::STATE_MIGRATING || state == upgrade::v1::STATE_COMING_ONLINE ||
         state == upgrade::v1::STATE_ROLLING_BACK;
}

State StateOf(const Event& event) {
  switch (event.kind_case()) {
    case Event::kScheduled:
      return upgrade::v1::STATE_SCHEDULED;
    case Event::kAccepted:
      return upgrade::v1::STATE_ACCEPTED;
    case Event::kCloneStarted:
    case Event::kCloneSucceeded:
      return upgrade::v1::STATE_CLONING;
    case Event::kMigrationStarted:
      return upgrade::v1::STATE_MIGRATING;
    case Event::kSucceeded:
      return upgrade::v1::STATE_SUCCEEDED;
    case Event::kFailed:
      return upgrade::v1::STATE_FAILED;
    case Event::kWentOffline:
      return upgrade::v1::STATE_GOING_OFFLINE;
    case Event::kSnapshotStarted:
    case Event::kSnapshotSucceeded:
      return upgrade::v1::STATE_SNAPSHOTTING;
    case Event::kMigrated:
    case Event::kStepApplied:
      return upgrade::v1::STATE_MIGRATING;
    case Event::kComingOnline:
      return upgrade::v1::STATE_COMING_ONLINE;
    case Event::kMigrationFailed:
    case Event::kRollingBack:
      return upgrade::v1::STATE_ROLLING_BACK;
    case Event::kRolledBack:
      return event.rolled_back().cancelled() ? upgrade::v1::STATE_CANCELLED : upgrade::v1::STATE_ROLLED_BACK;
    case Event::kCancelled:
      return upgrade::v1::STATE_CANCELLED;
    default:
      return upgrade::v1::STATE_UNSPECIFIED;
  }
}

}  // namespace

const std::vector<State>& FinalStates() {
  static const std::vector<State> kFinal = {upgrade::v1::STATE_SUCCEEDED, upgrade::v1::STATE_FAILED,
                                            upgrade::v1::STATE_ROLLED_BACK, upgrade::v1::STATE_CANCELLED};
  return kFinal;
}

bool IsFinal(State state) {
  const std::vector<State>& ends = FinalStates();
  return std::find(ends.begin(), ends.end(), state) != ends.end();
}

bool OnlyActivityChanged(const Upgrade& before, const Upgrade& after) {
  Upgrade same = before;
  *same.mutable_last_activity_at() = after.last_activity_at();
  return same.SerializeAsString() == after.SerializeAsString();
}

bool Stalls(const Upgrade& upgrade, absl::Time cutoff) {
  // A scheduled upgrade waits for its time, not for a worker.
  if (IsFinal(upgrade.state()) || upgrade.stalled() || upgrade.state() == upgrade::v1::STATE_SCHEDULED) return false;
  absl::Time active = FromProto(upgrade.has_last_activity_at() ? upgrade.last_activity_at() : upgrade.updated_at());
  return active < cutoff;
}

std::optional<int> WeightedPercent(const upgrade::v1::StepApplied& step, const upgrade::v1::IntegrityReport& timings) {
  int64_t total_ms = 0, done_ms = -1;
  int steps = 0;
  for (const upgrade::v1::StepReport& s : timings.steps()) {
    if (s.hop() == "neutralize") continue;  // a Test's own last step, not part of the plan
    ++steps;
    total_ms += s.duration_ms();
    if (s.hop() == step.hop() && s.step() == step.step()) done_ms = total_ms;
  }
  if (done_ms < 0 || total_ms <= 0 || steps != step.steps_total()) return std::nullopt;
  return static_cast<int>(100 * done_ms / total_ms);
}

namespace {

// When a Production upgrade is expected back online, at `event`, a step of its plan, from the plan's
// pace so far: the plan ran `elapsed` since its start, where its Test (its `timings`' timeline) had
// done a share `q` of its plan. Alone, the pace extrapolates `estimated_plan`; it counts as much as
// the share of the plan it covers, the estimate the rest. nullopt without a timeline for the step.
std::optional<absl::Time> PacedOnlineAt(const Upgrade& upgrade, const Event& event, absl::Duration estimated_plan,
                                        const upgrade::v1::IntegrityReport& timings) {
  const upgrade::v1::StepApplied& step = event.step_applied();
  if (timings.plan_duration_ms() <= 0 || estimated_plan <= absl::ZeroDuration()) return std::nullopt;
  int64_t done_after_ms = 0;
  for (const upgrade::v1::StepReport& s : timings.steps()) {
    if (s.hop() == step.hop() && s.step() == step.step()) done_after_ms = s.done_after_ms();
  }
  if (done_after_ms <= 0) return std::nullopt;
  const absl::Time at = FromProto(event.occurred_at());
  const absl::Duration elapsed = at - FromProto(upgrade.plan_started_at());
  if (elapsed <= absl::ZeroDuration()) return std::nullopt;
  const double q = std::min(1.0, static_cast<double>(done_after_ms) / static_cast<double>(timings.plan_duration_ms()));
  const double pace = absl::FDivDuration(elapsed, estimated_plan * q);  // 1: as estimated; 2: twice as slow
  const double weighed = q * pace + (1 - q);
  return at + estimated_plan * ((1 - q) * weighed);
}

}  // namespace

Upgrade NextUpgrade(const std::optional<Upgrade>& current, const Event& event,
                    const upgrade::v1::IntegrityReport* timings) {
  Upgrade next;
  const upgrade::v1::Order& order = event.order();
  if (current.has_value()) {
    next = *current;
  } else {
    next.set_upgrade_id(order.upgrade_id());
    next.set_database(order.database());
    next.set_from_version(order.from_version());
    next.set_target_version(order.target_version());
    next.set_purpose(order.purpose());
    next.set_notify_email(order.notify_email());
    next.set_request_id(order.request_id());
    next.set_tenant(order.tenant());
    next.set_server(order.server());
    *next.mutable_created_at() = order.created_at();
    next.set_state(event.kind_case() == Event::kScheduled ? upgrade::v1::STATE_SCHEDULED : upgrade::v1::STATE_ACCEPTED);
    next.set_cancellable(true);
    if (order.has_not_before()) *next.mutable_not_before() = order.not_before();
    if (order.has_latest_start()) *next.mutable_latest_start() = order.latest_start();
    next.set_rollout_id(order.rollout_id());
    *next.mutable_updated_at() = event.occurred_at();
    if (order.has_estimated_downtime()) *next.mutable_estimated_downtime() = order.estimated_downtime();
    if (order.has_max_offline()) *next.mutable_max_offline() = order.max_offline();
  }
  if (IsFinal(next.state())) return next;
  if (event.kind_case() != Event::kCancelRequested &&
      FromProto(event.occurred_at()) > FromProto(next.last_activity_at())) {
    *next.mutable_last_activity_at() = event.occurred_at();
    next.set_stalled(false);
  }
  if (event.kind_case() == Event::kCancelRequested) next.set_cancellable(false);
  // A worker waiting for the server's capacity says so in a heartbeat; the work's next step (its
  // first event once it runs) ends the wait. Other heartbeats leave it as it is.
  if (event.kind_case() == Event::kHeartbeat) {
    if (!event.heartbeat().waiting_for().empty()) next.set_waiting_for(event.heartbeat().waiting_for());
  } else if (event.kind_case() != Event::kCancelRequested) {
    next.clear_waiting_for();
  }
  bool stepped = false;  // a step recorded as the plan's latest
  if (event.kind_case() == Event::kStepApplied) {
    const upgrade::v1::StepApplied& step = event.step_applied();
    std::optional<int> weighted = timings != nullptr ? WeightedPercent(step, *timings) : std::nullopt;
    int percent = weighted.has_value()       ? *weighted
                  : step.steps_total() > 0 ? 100 * step.steps_done() / step.steps_total()
                                           : 0;
    if (percent >= next.progress_percent()) {  // progress only moves forward, whatever arrives late
      stepped = true;
      next.set_current_step(absl::StrCat(step.hop(), "/", step.step()));
      next.set_progress_percent(percent);
      if (FromProto(event.occurred_at()) > FromProto(next.updated_at())) *next.mutable_updated_at() = event.occurred_at();
    }
  }

  if (event.kind_case() == Event::kWentOffline && !next.has_offline_at()) *next.mutable_offline_at() = event.occurred_at();
  bool plan_started_now = false;
  if (event.kind_case() == Event::kMigrationStarted && next.purpose() == upgrade::v1::PURPOSE_PRODUCTION &&
      !next.has_plan_started_at()) {
    *next.mutable_plan_started_at() = event.occurred_at();
    plan_started_now = true;
  }
  if (event.kind_case() == Event::kSnapshotSucceeded) next.set_restore_point(order.restore_point());
  if (event.kind_case() == Event::kCloneSucceeded) {
    next.set_test_database(order.test_database());
    *next.mutable_source_rows() = event.clone_succeeded().source_rows();
    *next.mutable_copy_rows() = event.clone_succeeded().copy_rows();
  }
  if (event.kind_case() == Event::kMigrationFailed && event.migration_failed().has_report()) {
    *next.mutable_report() = event.migration_failed().report();  // what ran before the failure
  }
  State state = StateOf(event);
  if (Rank(state) > Rank(next.state())) {
    next.set_state(state);
    *next.mutable_updated_at() = event.occurred_at();
    if (state == upgrade::v1::STATE_SUCCEEDED) {
      *next.mutable_report() = event.succeeded().report();
      if (next.purpose() == upgrade::v1::PURPOSE_TEST) next.set_test_database(order.test_database());
      if (next.purpose() == upgrade::v1::PURPOSE_CHECK) next.set_test_database("");  // its copy is dropped
      *next.mutable_finished_at() = event.occurred_at();
    } else if (state == upgrade::v1::STATE_FAILED) {
      next.set_error(event.failed().error());
      *next.mutable_report() = event.failed().report();
      next.set_test_database("");  // a failed Test or check leaves no copy behind
      next.set_restore_point("");  // nor a failed snapshot a restore point
      *next.mutable_finished_at() = event.occurred_at();
    } else if (state == upgrade::v1::STATE_ROLLING_BACK) {
      next.set_error(event.kind_case() == Event::kRollingBack ? event.rolling_back().error()
                                                              : event.migration_failed().error());
    } else if (state == upgrade::v1::STATE_ROLLED_BACK || event.kind_case() == Event::kRolledBack) {
      next.set_error(event.rolled_back().error());
      next.set_restore_point("");  // it became the database again
      *next.mutable_finished_at() = event.occurred_at();
    } else if (state == upgrade::v1::STATE_CANCELLED) {
      next.set_error(event.cancelled().reason());
      next.set_test_database("");  // a cancelled Test's copy is dropped
      *next.mutable_finished_at() = event.occurred_at();
    }
    // A Production upgrade can be cancelled until its in-place migration starts; nothing after its end.
    bool production = next.purpose() == upgrade::v1::PURPOSE_PRODUCTION;
    bool revert = next.purpose() == upgrade::v1::PURPOSE_REVERT;  // no stopping it once offline
    if (IsFinal(state) || (production && Rank(state) >= Rank(upgrade::v1::STATE_MIGRATING)) ||
        (revert && Rank(state) >= Rank(upgrade::v1::STATE_GOING_OFFLINE))) {
      next.set_cancellable(false);
    }
    if (IsFinal(state) && next.has_offline_at()) *next.mutable_online_at() = event.occurred_at();
  }
  // When the database is expected back online, and the time left until then (0 once it ended).
  if (next.has_estimated_downtime() && next.has_offline_at()) {
    const bool plan_anchored = next.has_plan_started_at() && order.has_estimated_plan();
    // Before the plan, the estimate from going offline; from the plan's start, the plan's own part of
    // the estimate, so that a restore point faster or slower than estimated does not carry over. Set
    // by the first record that can, and again by the plan's start (records arrive in any order).
    if (!next.has_expected_online_at() || plan_started_now) {
      const absl::Time anchored = plan_anchored
                                      ? FromProto(next.plan_started_at()) + FromProto(order.estimated_plan())
                                      : FromProto(next.offline_at()) + FromProto(next.estimated_downtime());
      ToProto(anchored, next.mutable_expected_online_at());
    }
    if (event.kind_case() == Event::kStepApplied && stepped && plan_anchored && timings != nullptr) {
      if (std::optional<absl::Time> paced = PacedOnlineAt(next, event, FromProto(order.estimated_plan()), *timings)) {
        ToProto(*paced, next.mutable_expected_online_at());
      }
    }
    absl::Duration left = FromProto(next.expected_online_at()) - FromProto(next.updated_at());
    if (IsFinal(next.state())) left = absl::ZeroDuration();
    ToProto(std::max(left, absl::ZeroDuration()), next.mutable_estimated_remaining());
  }
  return next;
}

std::vector<TagChange> TagChanges(const std::optional<Upgrade>& before, const Upgrade& after) {
  std::vector<TagChange> changes;
  const std::string& db = after.database();
  bool was_final = before.has_value() && IsFinal(before->state());
  if (was_final) return changes;
  bool check = after.purpose() == upgrade::v1::PURPOSE_CHECK;
  if (check) {
    // A check changes nothing of its database: only its throwaway copy is marked, while it exists.
  } else if (after.state() == upgrade::v1::STATE_SCHEDULED) {
    if (!before.has_value()) changes.push_back({db, upgrade::v1::TAG_UPGRADE_SCHEDULED, true});
  } else if (!IsFinal(after.state())) {
    // In progress from its start: its acceptance, or the first record after it.
    const bool was_scheduled = before.has_value() && before->state() == upgrade::v1::STATE_SCHEDULED;
    if (was_scheduled) changes.push_back({db, upgrade::v1::TAG_UPGRADE_SCHEDULED, false});
    if (!before.has_value() || was_scheduled) changes.push_back({db, upgrade::v1::TAG_UPGRADE_IN_PROGRESS, true});
    bool was_offline = before.has_value() && IsOfflinePhase(before->state());
    if (IsOfflinePhase(after.state()) && !was_offline) changes.push_back({db, upgrade::v1::TAG_OFFLINE, true});
  } else if (before.has_value() && before->state() == upgrade::v1::STATE_SCHEDULED) {
    changes.push_back({db, upgrade::v1::TAG_UPGRADE_SCHEDULED, false});  // it ended before it started
  } else {
    changes.push_back({db, upgrade::v1::TAG_UPGRADE_IN_PROGRESS, false});
    changes.push_back({db, upgrade::v1::TAG_OFFLINE, false});
    if (after.state() != upgrade::v1::STATE_CANCELLED) {  // a cancellation is neither success nor failure
      changes.push_back({db, upgrade::v1::TAG_UPGRADE_FAILED, after.state() != upgrade::v1::STATE_SUCCEEDED});
    }
  }
  bool had_restore_point = before.has_value() && !before->restore_point().empty();
  if (!after.restore_point().empty() && !had_restore_point) {
    changes.push_back({after.restore_point(), upgrade::v1::TAG_RESTORE_POINT, true});
  }
  bool had_copy = before.has_value() && !before->test_database().empty();
  if (!after.test_database().empty() && !had_copy) {
    changes.push_back({after.test_database(), check ? upgrade::v1::TAG_CHECK_COPY : upgrade::v1::TAG_TEST_COPY, true});
  }
  return changes;
}

upgrade::v1::GetBacklogResponse Backlog(const std::vector<upgrade::v1::Upgrade>& unfinished) {
  upgrade::v1::GetBacklogResponse response;
  upgrade::v1::WorkerBacklog* cloner = response.add_groups();
  cloner->set_group("upshift-cloner");
  upgrade::v1::WorkerBacklog* migrator = response.add_groups();
  migrator->set_group("upshift-migrator");
  for (const upgrade::v1::Upgrade& u : unfinished) {
    const bool copied = u.copy_rows_size() > 0 || u.source_rows_size() > 0;  // set by CloneSucceeded
    const bool snapshot = !u.restore_point().empty();                         // set by SnapshotSucceeded
    upgrade::v1::WorkerBacklog* group = nullptr;
    bool waiting = false;
    switch (u.state()) {
      case upgrade::v1::STATE_ACCEPTED:
        group = cloner;
        waiting = true;
        break;
      case upgrade::v1::STATE_CLONING:
        group = copied ? migrator : cloner;
        waiting = copied;
        break;
      case upgrade::v1::STATE_SNAPSHOTTING:
        group = snapshot ? migrator : cloner;
        waiting = snapshot;
        break;
      case upgrade::v1::STATE_GOING_OFFLINE:
      case upgrade::v1::STATE_COMING_ONLINE:
      case upgrade::v1::STATE_ROLLING_BACK:
        group = cloner;
        break;
      case upgrade::v1::STATE_MIGRATING:
        group = migrator;
        break;
      default:
        continue;  // final
    }
    if (waiting) {
      group->set_waiting(group->waiting() + 1);
    } else {
      group->set_in_flight(group->in_flight() + 1);
      if (u.stalled()) group->set_stalled(group->stalled() + 1);
    }
  }
  return response;
}

namespace {

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// An id (8-4-4-4-12 hex digits) starts at `at`.
bool IsIdAt(const std::string& text, size_t at) {
  if (at + 36 > text.size() || (at + 36 < text.size() && IsWordChar(text[at + 36]))) return false;
  for (size_t k = 0; k < 36; ++k) {
    const bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    if (dash ? text[at + k] != '-' : !IsHex(text[at + k])) return false;
  }
  return true;
}

// A duration as absl::FormatDuration writes it: "8s", "1m30s", "250ms", "2.5s".
bool IsDuration(const std::string& token) {
  size_t i = 0;
  bool any = false;
  while (i < token.size()) {
    const size_t digits = i;
    while (i < token.size() && (IsDigit(token[i]) || token[i] == '.')) ++i;
    if (i == digits) return false;
    const size_t unit = i;
    while (i < token.size() && std::isalpha(static_cast<unsigned char>(token[i])) != 0) ++i;
    const std::string u = token.substr(unit, i - unit);
    if (u != "h" && u != "m" && u != "s" && u != "ms" && u != "us" && u != "ns") return false;
    any = true;
  }
  return any;
}

// One token of an error with what varies taken out: a number is N, a duration <duration>, a run of
// 8 or more hex digits <hex>. A dotted number (a version: a hop names its versions) and a name
// that has digits in it ("02b_test_fail") stay.
std::string Generalized(const std::string& token) {
  const bool digits = std::all_of(token.begin(), token.end(), IsDigit);
  if (digits) return "N";
  if (IsDigit(token[0]) && IsDuration(token)) return "<duration>";
  if (token.size() >= 8 && std::all_of(token.begin(), token.end(), IsHex) &&
      std::any_of(token.begin(), token.end(), IsDigit)) {
    return "<hex>";
  }
  return token;
}

std::string TakeOutVarying(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (!IsWordChar(text[i])) {
      out += text[i++];
      continue;
    }
    if ((i == 0 || !IsWordChar(text[i - 1])) && IsIdAt(text, i)) {
      out += "<id>";
      i += 36;
      continue;
    }
    // A token: word characters, and a dot between two digits.
    size_t end = i;
    while (end < text.size() &&
           (IsWordChar(text[end]) ||
            (text[end] == '.' && IsDigit(text[end - 1]) && end + 1 < text.size() && IsDigit(text[end + 1])))) {
      ++end;
    }
    out += Generalized(text.substr(i, end - i));
    i = end;
  }
  return out;
}

// The step a migrator's error names ("step 17.0->18.0/02b_test_fail failed: ..."); else the hop of
// a failed pre-check; else after the last step that ran (a post-check, the downtime bound), or
// before the plan when none did.
std::string WhereItFailed(const upgrade::v1::Upgrade& failed) {
  const std::string& error = failed.error();
  for (size_t at = error.find("step "); at != std::string::npos; at = error.find("step ", at + 1)) {
    if (at > 0 && IsWordChar(error[at - 1])) continue;
    const size_t from = at + 5;
    const size_t end = error.find_first_of(" :;,", from);
    const std::string named = error.substr(from, end == std::string::npos ? std::string::npos : end - from);
    if (named.find("->") != std::string::npos && named.find('/') != std::string::npos) return absl::StrCat("step ", named);
  }
  constexpr char kPreCheck[] = "pre-check of hop ";
  if (size_t at = error.find(kPreCheck); at != std::string::npos) {
    const size_t from = at + sizeof(kPreCheck) - 1;
    return absl::StrCat("pre-checks of hop ", error.substr(from, error.find_first_of(" :;,", from) - from));
  }
  if (!failed.current_step().empty()) return absl::StrCat("after step ", failed.current_step());
  return "before the plan";
}

}  // namespace

FailureSignature SignatureOf(const upgrade::v1::Upgrade& failed) {
  FailureSignature s;
  s.where = WhereItFailed(failed);
  // Where two names match at one place the longer wins: a restore point's begins with its database's.
  std::vector<std::pair<std::string, std::string>> names;
  for (const std::string& name : {failed.restore_point(), failed.test_database(), failed.database()}) {
    if (!name.empty()) names.emplace_back(name, "<db>");
  }
  s.signature = TakeOutVarying(absl::StrReplaceAll(failed.error(), names));
  return s;
}

upgrade::v1::ListFailureGroupsResponse GroupFailures(const std::vector<upgrade::v1::Upgrade>& failed) {
  constexpr int kListed = 20;
  std::map<std::pair<std::string, std::string>, upgrade::v1::FailureGroup> groups;
  for (const upgrade::v1::Upgrade& u : failed) {
    FailureSignature s = SignatureOf(u);
    upgrade::v1::FailureGroup& g = groups[{s.where, s.signature}];
    const google::protobuf::Timestamp& at = u.has_finished_at() ? u.finished_at() : u.updated_at();
    if (g.count() == 0) {
      g.set_where(s.where);
      g.set_signature(s.signature);
      g.set_example_error(u.error());
      *g.mutable_last_failed_at() = at;
    }
    g.set_count(g.count() + 1);
    *g.mutable_first_failed_at() = at;  // newest first: the last one seen is the oldest
    if (g.upgrade_ids_size() < kListed) {
      g.add_upgrade_ids(u.upgrade_id());
      g.add_databases(u.database());
    }
  }
  upgrade::v1::ListFailureGroupsResponse response;
  response.set_failures(static_cast<int32_t>(failed.size()));
  std::vector<upgrade::v1::FailureGroup> ordered;
  for (auto& [key, g] : groups) ordered.push_back(std::move(g));
  std::stable_sort(ordered.begin(), ordered.end(), [](const upgrade::v1::FailureGroup& a, const upgrade::v1::FailureGroup& b) {
    if (a.count() != b.count()) return a.count() > b.count();
    return FromProto(a.last_failed_at()) > FromProto(b.last_failed_at());
  });
  for (upgrade::v1::FailureGroup& g : ordered) *response.add_groups() = std::move(g);
  return response;
}

}  // namespace upshift::status
