#include "services/request/maintenance_window.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"
#include "libs/common/validation.h"

namespace upshift::request {
namespace {

// "HH:MM" as minutes after midnight, or -1.
int MinutesOf(const std::string& hhmm) {
  if (hhmm.size() != 5 || hhmm[2] != ':') return -1;
  int h = 0, m = 0;
  if (!absl::SimpleAtoi(hhmm.substr(0, 2), &h) || !absl::SimpleAtoi(hhmm.substr(3, 2), &m)) return -1;
  if (h < 0 || h > 23 || m < 0 || m > 59 || hhmm[0] == '-' || hhmm[3] == '-') return -1;
  return h * 60 + m;
}

// ISO weekday, 1 Monday to 7 Sunday.
int IsoWeekday(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday: return 1;
    case absl::Weekday::tuesday: return 2;
    case absl::Weekday::wednesday: return 3;
    case absl::Weekday::thursday: return 4;
    case absl::Weekday::friday: return 5;
    case absl::Weekday::saturday: return 6;
    case absl::Weekday::sunday: return 7;
  }
  return 0;
}

}  // namespace

absl::Status ValidateWindow(const upgrade::v1::MaintenanceWindow& window) {
  if (window.weekdays_size() == 0 || window.weekdays_size() > 7) {
    return absl::InvalidArgumentError("window.weekdays: give 1 to 7 weekdays, 1 Monday to 7 Sunday");
  }
  std::set<int> days;
  for (int d : window.weekdays()) {
    if (d < 1 || d > 7 || !days.insert(d).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("window.weekdays: ", d, " is not a weekday (1 Monday to 7 Sunday) or is given twice"));
    }
  }
  if (MinutesOf(window.start()) < 0) {
    return absl::InvalidArgumentError("window.start must be a local time \"HH:MM\", 00:00 to 23:59");
  }
  const google::protobuf::Duration& length = window.length();
  if (length.nanos() != 0 || length.seconds() < 30 * 60 || length.seconds() > 24 * 3600) {
    return absl::InvalidArgumentError("window.length must be whole seconds from 30 minutes to 24 hours");
  }
  absl::TimeZone zone;
  if (window.time_zone().empty() || window.time_zone().size() > 64 || !absl::LoadTimeZone(window.time_zone(), &zone)) {
    return absl::InvalidArgumentError(
        absl::StrCat("window.time_zone must be an IANA time zone such as \"Europe/Brussels\" (not known: \"",
                     window.time_zone().substr(0, 64), "\")"));
  }
  return absl::OkStatus();
}

WindowOpening NextOpening(const upgrade::v1::MaintenanceWindow& window, absl::Time now) {
  absl::TimeZone zone;
  absl::LoadTimeZone(window.time_zone(), &zone);
  const int minutes = MinutesOf(window.start());
  const absl::Duration length = FromProto(window.length());
  const std::set<int> days(window.weekdays().begin(), window.weekdays().end());
  const absl::CivilDay today = absl::ToCivilDay(now, zone);
  // From yesterday (a window opened then may still be open) to a week ahead.
  for (int offset = -1; offset <= 8; ++offset) {
    const absl::CivilDay day = today + offset;
    if (days.count(IsoWeekday(day)) == 0) continue;
    const absl::CivilSecond local(day.year(), day.month(), day.day(), minutes / 60, minutes % 60, 0);
    const absl::TimeZone::TimeInfo at = zone.At(local);
    const absl::Time start = at.kind == absl::TimeZone::TimeInfo::SKIPPED ? at.trans : at.pre;
    if (start + length > now) return {start, start + length};
  }
  return {absl::InfiniteFuture(), absl::InfiniteFuture()};  // unreachable for a valid window
}

absl::StatusOr<WindowStart> StartInWindow(const upgrade::v1::MaintenanceWindow& window, absl::Duration downtime,
                                          absl::Time now) {
  if (downtime > FromProto(window.length())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the estimated downtime, ", absl::FormatDuration(downtime), ", is longer than the maintenance window (",
        absl::FormatDuration(FromProto(window.length())), "): lengthen the window, or schedule the upgrade with not_before"));
  }
  absl::Time from = now;
  for (int i = 0; i < 16; ++i) {
    WindowOpening opening = NextOpening(window, from);
    const absl::Time start = std::max(opening.start, now);
    if (start + downtime <= opening.end) return WindowStart{start, opening.end - downtime};
    from = opening.end;  // too little of this opening is left: the next one
  }
  return absl::InternalError("no opening of the maintenance window found");
}

absl::StatusOr<MaintenanceWindows::Owner> MaintenanceWindows::OwnerOf(const std::string& database,
                                                                      const std::string& tenant,
                                                                      const Principal& caller) {
  if (!database.empty()) {
    if (!tenant.empty()) return absl::InvalidArgumentError("name a database or a tenant, not both");
    UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(database, reserved_));
    UPSHIFT_ASSIGN_OR_RETURN(PlacedDatabase placed, Locate(fleet_, database, [&](const HostedDatabase& hosted) {
                               return caller.ActsFor(hosted.owner);
                             }));
    return Owner{placed.database.owner, database};
  }
  if (!caller.ForEveryTenant()) {
    if (caller.tenant.empty()) return absl::PermissionDeniedError("a token without a tenant acts only as an operator");
    if (!tenant.empty() && tenant != caller.tenant) {
      return absl::PermissionDeniedError("only an operator names another tenant");
    }
    return Owner{caller.tenant, ""};
  }
  if (tenant.empty() || tenant.size() > 63) {  // a role name; bound as a parameter, never spliced
    return absl::InvalidArgumentError("an operator names the tenant (its owner role, at most 63 bytes) or a database");
  }
  return Owner{tenant, ""};
}

absl::StatusOr<upgrade::v1::SetMaintenanceWindowResponse> MaintenanceWindows::Set(
    const upgrade::v1::SetMaintenanceWindowRequest& request, const Principal& caller, const AuditOf& audit_of) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kProduction, "setting a maintenance window"));
  std::optional<upgrade::v1::MaintenanceWindow> window;
  if (request.has_window()) {
    UPSHIFT_RETURN_IF_ERROR(ValidateWindow(request.window()));
    window = request.window();
  }
  UPSHIFT_ASSIGN_OR_RETURN(Owner owner, OwnerOf(request.database(), request.tenant(), caller));
  UPSHIFT_RETURN_IF_ERROR(book_.PutWindow(owner.tenant, owner.database, window, audit_of));
  upgrade::v1::SetMaintenanceWindowResponse response;
  if (window.has_value()) {
    *response.mutable_window() = *window;
    ToProto(NextOpening(*window, clock_.Now()).start, response.mutable_next_opening());
  }
  return response;
}

absl::StatusOr<upgrade::v1::GetMaintenanceWindowResponse> MaintenanceWindows::Get(
    const upgrade::v1::GetMaintenanceWindowRequest& request, const Principal& caller) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, "reading a maintenance window"));
  UPSHIFT_ASSIGN_OR_RETURN(Owner owner, OwnerOf(request.database(), request.tenant(), caller));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<WindowBook::Found> found, book_.WindowOf(owner.tenant, owner.database));
  upgrade::v1::GetMaintenanceWindowResponse response;
  if (found.has_value() && ValidateWindow(found->window).ok()) {
    *response.mutable_window() = found->window;
    response.set_set_on(found->own ? "database" : "tenant");
    ToProto(NextOpening(found->window, clock_.Now()).start, response.mutable_next_opening());
  }
  return response;
}

}  // namespace upshift::request
