#include "tools/upgradectl/printers.h"

#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "libs/common/time.h"

namespace upshift::ctl {

using namespace upgrade::v1;

std::string TagName(int tag) {
  switch (tag) {
    case TAG_UPGRADE_IN_PROGRESS:
      return "Upgrade in progress";
    case TAG_UPGRADE_FAILED:
      return "Upgrade failed";
    case TAG_TEST_COPY:
      return "Test copy";
    case TAG_OFFLINE:
      return "Offline";
    case TAG_RESTORE_POINT:
      return "Restore point";
    case TAG_CHECK_COPY:
      return "Check copy";
    case TAG_UPGRADE_SCHEDULED:
      return "Upgrade scheduled";
    default:
      return Tag_Name(static_cast<Tag>(tag));
  }
}

std::string When(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", FromProto(ts), absl::UTCTimeZone());
}

std::string PurposeWord(int purpose) {
  return purpose == PURPOSE_TEST ? "test" : purpose == PURPOSE_PRODUCTION ? "production" : "check";
}

namespace {

std::string Rounded(absl::Duration d, absl::Duration unit) { return absl::FormatDuration(absl::Trunc(d, unit)); }

void AppendReport(const IntegrityReport& r, std::string& out) {
  absl::StrAppend(&out, "report    ", r.tables_size() > 0 ? "table: rows before -> after" : "what ran and was checked",
                  "\n");
  for (const TableReport& t : r.tables()) {
    absl::StrAppendFormat(&out, "          %s: %d -> %d%s\n", t.table(), t.rows_before(), t.rows_after(),
                          t.declared_unchanged()
                              ? (t.content_unchanged() ? "  (declared unchanged: identical)" : "  (CHANGED)")
                              : "");
  }
  for (const std::string& c : r.constraints_validated()) absl::StrAppend(&out, "          constraint ", c, " validated\n");
  for (const CheckReport& c : r.checks()) {
    absl::StrAppend(&out, "          ", c.kind(), " ", c.name(), ": ", c.passed() ? "passed" : "FAILED, ", c.detail(),
                    "\n");
  }
  for (const StepReport& s : r.steps()) {
    absl::StrAppendFormat(&out, "          step %s/%s: %d ms, %d rows\n", s.hop(), s.step(), s.duration_ms(),
                          s.rows_affected());
  }
}

}  // namespace

std::string FormatUpgrade(const Upgrade& u) {
  std::string out;
  absl::StrAppend(&out, "upgrade   ", u.upgrade_id(), "\n", "database  ", u.database(), "\n");
  if (!u.tenant().empty()) absl::StrAppend(&out, "tenant    ", u.tenant(), "\n");
  if (!u.server().empty()) absl::StrAppend(&out, "server    ", u.server(), "\n");
  if (!u.waiting_for().empty()) absl::StrAppend(&out, "waiting   ", u.waiting_for(), "\n");
  absl::StrAppend(&out, "purpose   ", Purpose_Name(u.purpose()), "\n", "versions  ", u.from_version(), " -> ",
                  u.target_version(), "\n", "state     ", State_Name(u.state()), "\n");
  if (!u.test_database().empty()) absl::StrAppend(&out, "copy      ", u.test_database(), "\n");
  if (!u.restore_point().empty()) absl::StrAppend(&out, "restore   ", u.restore_point(), "\n");
  absl::StrAppend(&out, "created   ", When(u.created_at()), "\n");
  if (u.has_not_before()) absl::StrAppend(&out, "starts    ", When(u.not_before()), "\n");
  absl::StrAppend(&out, "finished  ", When(u.finished_at()), "\n");
  if (!u.current_step().empty()) {
    absl::StrAppend(&out, "progress  ", u.progress_percent(), "% (", u.current_step(), ")\n");
  }
  if (u.stalled()) absl::StrAppend(&out, "STALLED   no worker reported since ", When(u.last_activity_at()), "\n");
  if (u.cancellable()) absl::StrAppend(&out, "cancel    possible (upgradectl cancel ", u.upgrade_id(), ")\n");
  if (u.has_estimated_downtime()) {
    absl::StrAppend(&out, "downtime  estimated ", Rounded(FromProto(u.estimated_downtime()), absl::Milliseconds(100)));
    if (u.has_offline_at() && u.has_online_at()) {
      absl::StrAppend(&out, ", offline ",
                      Rounded(FromProto(u.online_at()) - FromProto(u.offline_at()), absl::Milliseconds(100)));
    } else if (u.has_estimated_remaining()) {
      absl::StrAppend(&out, ", about ", Rounded(FromProto(u.estimated_remaining()), absl::Seconds(1)), " left");
      if (u.has_expected_online_at()) absl::StrAppend(&out, " (back online about ", When(u.expected_online_at()), ")");
    }
    if (u.has_max_offline()) absl::StrAppend(&out, ", at most ", Rounded(FromProto(u.max_offline()), absl::Seconds(1)));
    absl::StrAppend(&out, "\n");
  }
  if (!u.error().empty()) absl::StrAppend(&out, "error     ", u.error(), "\n");
  if (u.report().ByteSizeLong() > 0) AppendReport(u.report(), out);
  if (u.source_rows_size() > 0) {
    absl::StrAppend(&out, "rows      table: source / copy\n");
    for (int i = 0; i < u.source_rows_size(); ++i) {
      const int64_t copy = i < u.copy_rows_size() ? u.copy_rows(i).rows() : -1;
      absl::StrAppendFormat(&out, "          %s: %d / %d\n", u.source_rows(i).table(), u.source_rows(i).rows(), copy);
    }
  }
  return out;
}

std::string ServerHeader() {
  return absl::StrFormat("%-20s %-5s %-8s %-8s %s\n", "SERVER", "UP", "COPIES", "PLANS", "LABELS");
}

std::string FormatServerRow(const upgrade::v1::HostingServerStatus& s) {
  auto load = [](int running, int limit) {
    return limit > 0 ? absl::StrCat(running, "/", limit) : absl::StrCat(running);
  };
  std::vector<std::string> labels;
  for (const auto& [k, v] : std::map<std::string, std::string>(s.labels().begin(), s.labels().end())) {
    labels.push_back(absl::StrCat(k, "=", v));
  }
  std::string row = absl::StrFormat("%-20s %-5s %-8s %-8s %s", s.name(), s.answering() ? "yes" : "no",
                                    load(s.copies(), s.max_copies()), load(s.plans(), s.max_plans()),
                                    absl::StrJoin(labels, ","));
  if (!s.answering() && !s.error().empty()) absl::StrAppend(&row, "  (", s.error(), ")");
  return absl::StrCat(row, "\n");
}

std::string DatabaseHeader() {
  return absl::StrFormat("%-44s %-12s %-8s %-7s %s\n", "DATABASE", "SERVER", "VERSION", "ONLINE", "TAGS");
}

std::string FormatDatabaseRow(const Database& db, bool nested) {
  std::vector<std::string> tags;
  for (int t : db.tags()) {
    tags.push_back(TagName(t));
    if (t == TAG_UPGRADE_SCHEDULED && db.has_scheduled_start()) {
      tags.back() = absl::StrCat("Upgrade scheduled ", When(db.scheduled_start()).substr(0, 16), " UTC");
    }
  }
  if (db.has_expires_at()) tags.push_back(absl::StrCat("expires ", When(db.expires_at()).substr(0, 10)));
  return absl::StrFormat("%s%-*s %-12s %-8s %-7s %s\n", nested ? "  └─ " : "", nested ? 39 : 44, db.name(),
                         db.server().empty() ? "-" : db.server(), db.version().empty() ? "-" : db.version(), db.online() ? "yes" : "no",
                         tags.empty() ? "" : absl::StrCat("[", absl::StrJoin(tags, "] ["), "]"));
}

std::string FormatWatchLine(const Upgrade& u) {
  std::string detail = u.state() == STATE_MIGRATING && !u.current_step().empty()
                           ? absl::StrCat(u.progress_percent(), "% ", u.current_step(), " ")
                           : "";
  if (u.has_estimated_remaining() && u.estimated_remaining().seconds() > 0 && u.state() != STATE_SUCCEEDED) {
    absl::StrAppend(&detail, "about ", u.estimated_remaining().seconds(), " s left ");
  }
  if (!u.waiting_for().empty()) absl::StrAppend(&detail, "waiting: ", u.waiting_for(), " ");
  if (u.stalled()) absl::StrAppend(&detail, "STALLED: no worker reported since ", When(u.last_activity_at()), " ");
  return absl::StrCat(When(u.updated_at()), "  ", absl::StrFormat("%-16s", State_Name(u.state())), " ", detail,
                      u.test_database().empty() ? "" : absl::StrCat("copy ", u.test_database(), " "), u.error(), "\n");
}

std::string FormatUpgradeRow(const Upgrade& u) {
  return absl::StrFormat("%s  %-10s %s -> %-6s %-16s %s\n", u.upgrade_id(), Purpose_Name(u.purpose()).substr(8),
                         u.from_version(),
                         u.target_version(), State_Name(u.state()), When(u.created_at()));
}

std::string AuditHeader() {
  return absl::StrFormat("%-23s %-24s %-18s %-15s %-24s %-36s %s\n", "TIME", "WHO", "TENANT", "CALL", "DATABASE",
                         "UPGRADE", "ANSWER");
}

std::string FormatAuditRow(const AuditRecord& r) {
  const std::string call = r.method().substr(r.method().rfind('/') + 1);
  std::string answer = absl::StatusCodeToString(static_cast<absl::StatusCode>(r.code()));
  if (r.code() != 0) absl::StrAppend(&answer, ": ", r.message());
  return absl::StrFormat("%-23s %-24s %-18s %-15s %-24s %-36s %s  (from %s)\n", When(r.at()),
                         absl::StrCat(r.subject(), r.by_operator() ? " (operator)" : ""), r.tenant(), call,
                         r.database(), r.upgrade_id(), answer, r.peer());
}

std::string FormatBacklog(const GetBacklogResponse& backlog) {
  std::string out = absl::StrFormat("%-20s %8s %10s %8s\n", "GROUP", "WAITING", "IN FLIGHT", "STALLED");
  for (const WorkerBacklog& g : backlog.groups()) {
    absl::StrAppendFormat(&out, "%-20s %8d %10d %8d\n", g.group(), g.waiting(), g.in_flight(), g.stalled());
  }
  return out;
}

std::string FormatFailureGroups(const ListFailureGroupsResponse& groups) {
  std::string out = absl::StrFormat("%d failed upgrades in %d groups\n", groups.failures(), groups.groups_size());
  for (const FailureGroup& g : groups.groups()) {
    absl::StrAppendFormat(&out, "%6d  %s  (last %s, first %s)\n        %s\n", g.count(), g.where(),
                          When(g.last_failed_at()), When(g.first_failed_at()), g.signature());
    std::string listed = absl::StrJoin(g.databases(), ", ");
    if (g.count() > g.databases_size()) absl::StrAppend(&listed, " and ", g.count() - g.databases_size(), " more");
    absl::StrAppend(&out, "        databases: ", listed, "\n");
  }
  return out;
}

namespace {

std::string RolloutStateWord(int state) {
  switch (state) {
    case upgrade::v1::ROLLOUT_RUNNING: return "running";
    case upgrade::v1::ROLLOUT_PAUSED: return "PAUSED";
    case upgrade::v1::ROLLOUT_CANCELLED: return "cancelled";
    case upgrade::v1::ROLLOUT_DONE: return "done";
    default: return "unknown";
  }
}

}  // namespace

std::string FormatRolloutRow(const upgrade::v1::Rollout& r) {
  int total = 0, ended = 0;
  for (const upgrade::v1::RolloutWaveProgress& w : r.waves()) {
    total += w.databases();
    ended += w.succeeded() + w.failed() + w.skipped();
  }
  return absl::StrFormat("%s  %-9s %-10s -> %-6s wave %d/%d  %d/%d ended  %s\n", r.rollout_id(),
                         RolloutStateWord(r.state()), PurposeWord(r.spec().purpose()), r.spec().target_version(),
                         r.current_wave(), r.waves_size(), ended, total, When(r.created_at()));
}

std::string FormatRollout(const upgrade::v1::Rollout& r) {
  std::string out = absl::StrCat("rollout   ", r.rollout_id(), "\nstate     ", RolloutStateWord(r.state()), "\n");
  if (!r.reason().empty()) absl::StrAppend(&out, "why       ", r.reason(), "\n");
  absl::StrAppend(&out, "upgrade   ", PurposeWord(r.spec().purpose()), " to ", r.spec().target_version(),
                  ", pauses above ", r.spec().max_failed_percent(), "% failed in a wave\n");
  absl::StrAppend(&out, "started   ", When(r.created_at()), " by ", r.created_by(), "\n");
  if (r.has_next_wave_at()) absl::StrAppend(&out, "next wave ", When(r.next_wave_at()), "\n");
  absl::StrAppend(&out, "wave  databases  succeeded  running  failed  skipped  left\n");
  for (const upgrade::v1::RolloutWaveProgress& w : r.waves()) {
    absl::StrAppendFormat(&out, "%s%-3d %10d %10d %8d %7d %8d %5d\n", w.wave() == r.current_wave() ? ">" : " ",
                          w.wave(), w.databases(), w.succeeded(), w.running(), w.failed(), w.skipped(), w.left());
  }
  for (const upgrade::v1::RolloutDatabase& d : r.databases()) {
    if (d.state() == "left") continue;
    absl::StrAppendFormat(&out, "  %-30s wave %-3d %-9s %s%s\n", d.database(), d.wave(), d.state(), d.upgrade_id(),
                          d.note().empty() ? "" : absl::StrCat("  ", d.note()));
  }
  return out;
}

std::string FormatOptions(const GetUpgradeOptionsResponse& options) {
  std::string out = absl::StrCat("database ", options.database(), " at version ", options.version(), "\n");
  if (!options.active_upgrade_id().empty()) absl::StrAppend(&out, "upgrade ", options.active_upgrade_id(), " is in progress\n");
  for (const TargetOption& o : options.options()) {
    std::vector<std::string> purposes;
    for (int p : o.purposes()) purposes.push_back(PurposeWord(p));
    absl::StrAppendFormat(&out, "  -> %-8s %s\n", o.version(),
                          purposes.empty() ? "(nothing can be ordered now)" : absl::StrJoin(purposes, ", "));
  }
  return out;
}

std::string FormatWindow(const GetMaintenanceWindowResponse& w) {
  if (!w.has_window()) return "window    none: a Production upgrade starts at once, or at its not_before\n";
  static const char* const kDays[] = {"", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  std::vector<std::string> days;
  for (int d : w.window().weekdays()) days.push_back(d >= 1 && d <= 7 ? kDays[d] : "?");
  return absl::StrCat("window    ", absl::StrJoin(days, ", "), " ", w.window().start(), " for ",
                      absl::FormatDuration(FromProto(w.window().length())), ", ", w.window().time_zone(), " (set on the ",
                      w.set_on(), ")\nnext      ", When(w.next_opening()), "\n");
}

}  // namespace upshift::ctl
