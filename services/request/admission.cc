#include "services/request/admission.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/common/validation.h"
#include "libs/kafka/events.h"
#include "libs/kafka/topics.h"
#include "services/request/maintenance_window.h"
#include "services/request/schedules.h"

namespace upshift::request {

using upgrade::v1::Purpose;

absl::StatusOr<absl::Duration> MaxOffline(std::optional<absl::Duration> requested, absl::Duration estimate,
                                          const AdmissionOptions& options) {
  if (!requested.has_value()) {
    return std::max(options.max_offline_floor, absl::Ceil(estimate * options.max_offline_factor, absl::Seconds(1)));
  }
  if (*requested < estimate) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_offline ", absl::FormatDuration(*requested), " is below this upgrade's estimated downtime (",
        absl::FormatDuration(estimate), "): it would be rolled back while going as planned"));
  }
  if (*requested > absl::Hours(24 * 7)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_offline ", absl::FormatDuration(*requested), " is above the most allowed, 168h"));
  }
  return *requested;
}

AuditOf AuditInDecision(Auditor& auditor, const AuditedCall& call, bool* written, const Admission* admission) {
  return [&auditor, &call, written, admission](const upgrade::v1::Order& order) {
    AuditedCall decided = call;
    decided.result = absl::OkStatus();
    decided.tenant = order.tenant();
    if (decided.database.empty()) decided.database = order.database();
    decided.upgrade_id = order.upgrade_id();
    if (admission != nullptr) decided.superuser_steps = admission->SuperuserSteps(order);
    std::optional<AuditEntry> entry = auditor.Entry(decided);
    if (written != nullptr) *written = entry.has_value();
    return entry;
  };
}

upgrade::v1::Upgrade UpgradeOf(const StoredOrder& stored) {
  const upgrade::v1::Order& o = stored.order;
  upgrade::v1::Upgrade u;
  u.set_upgrade_id(o.upgrade_id());
  u.set_database(o.database());
  u.set_from_version(o.from_version());
  u.set_target_version(o.target_version());
  u.set_purpose(o.purpose());
  u.set_notify_email(o.notify_email());
  u.set_request_id(o.request_id());
  u.set_tenant(o.tenant());
  u.set_server(o.server());
  u.set_rollout_id(o.rollout_id());
  *u.mutable_created_at() = o.created_at();
  *u.mutable_updated_at() = o.created_at();
  if (o.has_estimated_downtime()) *u.mutable_estimated_downtime() = o.estimated_downtime();
  if (o.has_max_offline()) *u.mutable_max_offline() = o.max_offline();
  if (o.has_not_before()) *u.mutable_not_before() = o.not_before();
  if (o.has_latest_start()) *u.mutable_latest_start() = o.latest_start();
  switch (stored.outcome) {
    case Outcome::kActive:
      u.set_state(stored.scheduled() ? upgrade::v1::STATE_SCHEDULED : upgrade::v1::STATE_ACCEPTED);
      break;
    case Outcome::kSucceeded:
      u.set_state(upgrade::v1::STATE_SUCCEEDED);
      break;
    case Outcome::kFailed:
      u.set_state(o.purpose() == upgrade::v1::PURPOSE_PRODUCTION && !o.restore_point().empty() &&
                          stored.no_return_at != absl::InfinitePast()
                      ? upgrade::v1::STATE_ROLLED_BACK
                      : upgrade::v1::STATE_FAILED);
      break;
    case Outcome::kCancelled:
      u.set_state(upgrade::v1::STATE_CANCELLED);
      break;
  }
  u.set_cancellable(stored.outcome == Outcome::kActive && stored.cancel_requested_at == absl::InfinitePast() &&
                    stored.no_return_at == absl::InfinitePast());
  if (stored.outcome != Outcome::kActive) ToProto(stored.finished_at, u.mutable_finished_at());
  return u;
}

Admission::Admission(AdmissionOptions options, const Catalog& catalog, HostingFleet& fleet, OrderStore& store,
                     Clock& clock, std::function<void()> admitted, Limiter* orders, Limiter* reads,
                     WindowBook* windows)
    : options_(std::move(options)),
      catalog_(catalog),
      fleet_(fleet),
      store_(store),
      clock_(clock),
      own_orders_limit_(clock, options_.orders_per_hour, absl::Hours(1), options_.order_burst),
      own_reads_limit_(clock, options_.reads_per_minute, absl::Minutes(1), options_.read_burst),
      per_tenant_(orders != nullptr ? *orders : own_orders_limit_),
      reads_per_tenant_(reads != nullptr ? *reads : own_reads_limit_),
      admitted_(std::move(admitted)),
      windows_(windows) {}

absl::Status Admission::Limit(const std::string& tenant, const Principal& caller) {
  if (caller.ForEveryTenant()) return absl::OkStatus();
  return per_tenant_.Take(tenant, absl::StrCat("tenant \"", tenant, "\"'s rate of orders and checks"));
}

absl::StatusOr<PlacedDatabase> Admission::Place(const std::string& database, const Principal& caller) {
  UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(database, options_.reserved_databases));
  return Locate(fleet_, database, [&](const HostedDatabase& hosted) { return caller.ActsFor(hosted.owner); });
}

absl::StatusOr<std::string> Admission::CurrentVersion(const PlacedDatabase& placed) {
  const std::string& database = placed.database.name;
  UPSHIFT_ASSIGN_OR_RETURN(bool is_copy, store_.IsTestCopy(database));
  if (is_copy) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database \"", database, "\" is a copy Upshift made (a test copy or a restore point); upgrade its main database "
        "instead"));
  }
  return placed.hosting->ReadVersion(database, catalog_.version_query());
}

// The offline window's work the Test did not measure: the hand-offs between services through the
// broker, the gate, and taking the database offline and back. tests/bench measured 45-91 ms on
// most days, and 250-430 ms on a slow one whose windows were 6 s and more: 150 ms keeps the
// estimate of a one-second window and of a slow day's within their band (the rows of 2026-12-08).
constexpr absl::Duration kHandOffs = absl::Milliseconds(150);

DowntimeEstimate EstimateDowntime(const TestTimings& test, int64_t size_now_bytes) {
  double growth = 1.0;
  if (test.source_size_bytes > 0 && size_now_bytes > 0) {
    growth = static_cast<double>(size_now_bytes) / static_cast<double>(test.source_size_bytes);
  }
  // Inside the window the database is copied as the Test's copy was (the copy takes its name, and the
  // database itself is the restore point: nothing is compared): the Test's copy alone. The plan then
  // counts the restore point beside its steps, which the Test's plan did not: the Test's counts (its
  // copy and source counted at once) stand for that. A Test recorded without its copy timed alone
  // counts both in the restore point's part.
  const absl::Duration copy = test.copy > absl::ZeroDuration() ? test.copy : test.clone;
  const absl::Duration counts = std::max(test.clone - copy, absl::ZeroDuration());
  return {copy * growth + kHandOffs / 2, (test.migrate + counts) * growth + kHandOffs / 2};
}

absl::StatusOr<const StoredOrder*> Admission::TestAllowingProduction(const std::vector<StoredOrder>& orders,
                                                                     const std::string& database,
                                                                     const std::string& from,
                                                                     const std::string& target) const {
  for (const StoredOrder& s : orders) {  // newest first
    if (s.order.purpose() != upgrade::v1::PURPOSE_TEST || s.outcome != Outcome::kSucceeded) continue;
    if (s.order.target_version() != target) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the latest successful Test upgrade of \"", database, "\" went to ", s.order.target_version(), ", not ",
          target, ": order a Test upgrade to ", target, " first"));
    }
    if (s.order.from_version() != from) {
      return absl::FailedPreconditionError(absl::StrCat("database \"", database, "\" is at ", from,
                                                        " but its successful Test started from ",
                                                        s.order.from_version(), ": order a new Test upgrade"));
    }
    absl::Duration age = clock_.Now() - s.finished_at;
    if (age > options_.max_test_age) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the successful Test upgrade of \"", database, "\" to ", target, " ended ", absl::ToInt64Hours(age) / 24,
          " days ago, more than the ", absl::ToInt64Hours(options_.max_test_age) / 24,
          " days allowed: order a new Test upgrade"));
    }
    return &s;
  }
  return absl::FailedPreconditionError(absl::StrCat("database \"", database,
                                                    "\" has no successful Test upgrade to ", target,
                                                    ": order a Test upgrade and check its copy first"));
}

namespace {

// OK when `first`, the order admitted with a request_id, is what `asked` (a new call's order with
// the same request_id) asks for: the same database, target, purpose and email.
absl::Status SameOrder(const upgrade::v1::Order& first, const upgrade::v1::Order& asked) {
  std::string differs;
  if (first.database() != asked.database()) {
    differs = absl::StrCat("database \"", first.database(), "\"");
  } else if (first.target_version() != asked.target_version()) {
    differs = absl::StrCat("target version ", first.target_version());
  } else if (first.purpose() != asked.purpose()) {
    differs = absl::StrCat("purpose ", upgrade::v1::Purpose_Name(first.purpose()));
  } else if (first.notify_email() != asked.notify_email()) {
    differs = "another email address";
  } else {
    return absl::OkStatus();
  }
  return absl::AlreadyExistsError(absl::StrCat("request_id \"", asked.request_id(), "\" was used for upgrade ",
                                               first.upgrade_id(), " with ", differs,
                                               "; a new order needs a new request_id"));
}

}  // namespace

absl::StatusOr<std::optional<upgrade::v1::Upgrade>> Admission::FirstWithRequestId(const upgrade::v1::Order& asked) {
  UPSHIFT_RETURN_IF_ERROR(ValidateRequestId(asked.request_id()));
  if (asked.request_id().empty()) return std::nullopt;
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> first,
                           store_.FindByRequestId(asked.tenant(), asked.request_id()));
  if (!first.has_value()) return std::nullopt;
  UPSHIFT_RETURN_IF_ERROR(SameOrder(first->order, asked));
  return UpgradeOf(*first);
}

upgrade::v1::Order Admission::NewOrder(const PlacedDatabase& placed, const std::string& from,
                                       const std::string& target, upgrade::v1::Purpose purpose,
                                       const std::string& request_id) const {
  upgrade::v1::Order order;
  order.set_upgrade_id(NewUpgradeId());
  order.set_tenant(placed.database.owner);
  order.set_database(placed.database.name);
  order.set_server(placed.server);
  order.set_from_version(from);
  order.set_target_version(target);
  order.set_purpose(purpose);
  order.set_request_id(request_id);
  return order;
}

absl::StatusOr<upgrade::v1::Upgrade> Admission::RequestUpgrade(const upgrade::v1::RequestUpgradeRequest& request,
                                                               const Principal& caller, const AuditOf& audit_of,
                                                               const std::string& rollout_id) {
  const bool production = request.purpose() == upgrade::v1::PURPOSE_PRODUCTION;
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, production ? scopes::kProduction : scopes::kTest,
                                       production ? "a Production upgrade" : "a Test upgrade"));
  UPSHIFT_ASSIGN_OR_RETURN(PlacedDatabase placed, Place(request.database(), caller));
  const std::string& tenant = placed.database.owner;
  upgrade::v1::Order asked;
  asked.set_tenant(tenant);
  asked.set_database(request.database());
  asked.set_target_version(request.target_version());
  asked.set_purpose(request.purpose());
  asked.set_notify_email(request.notify_email());
  asked.set_request_id(request.request_id());
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::Upgrade> first, FirstWithRequestId(asked));
  if (first.has_value()) return *std::move(first);
  UPSHIFT_RETURN_IF_ERROR(ValidateVersion(request.target_version()));
  UPSHIFT_RETURN_IF_ERROR(ValidateEmail(request.notify_email()));
  if (request.purpose() != upgrade::v1::PURPOSE_TEST && request.purpose() != upgrade::v1::PURPOSE_PRODUCTION) {
    return absl::InvalidArgumentError(
        "purpose is required: PURPOSE_TEST or PURPOSE_PRODUCTION (a dry run is CheckUpgrade)");
  }
  std::optional<absl::Duration> max_offline;
  if (request.has_max_offline()) {
    if (!production) return absl::InvalidArgumentError("max_offline bounds a Production upgrade's downtime; a Test takes nothing offline");
    const google::protobuf::Duration& d = request.max_offline();
    if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999'999'999 || (d.seconds() == 0 && d.nanos() == 0)) {
      return absl::InvalidArgumentError("max_offline must be a positive duration");
    }
    max_offline = FromProto(d);
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<absl::Time> not_before, NotBefore(request));
  UPSHIFT_RETURN_IF_ERROR(Limit(tenant, caller));
  const std::string& database = request.database();
  UPSHIFT_ASSIGN_OR_RETURN(std::string current, CurrentVersion(placed));
  UPSHIFT_RETURN_IF_ERROR(catalog_.Plan(current, request.target_version()).status());
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> active, store_.FindActive(database));
  if (active.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("upgrade ", active->order.upgrade_id(), " of database \"",
                                                      database, "\" is still active; wait until it ends"));
  }
  DowntimeEstimate estimate{};
  std::string test_upgrade_id;
  std::optional<absl::Time> latest_start;  // scheduled into a maintenance window
  if (request.purpose() == upgrade::v1::PURPOSE_PRODUCTION) {
    UPSHIFT_ASSIGN_OR_RETURN(std::vector<StoredOrder> orders, store_.ListByDatabase(database));
    UPSHIFT_ASSIGN_OR_RETURN(const StoredOrder* test,
                             TestAllowingProduction(orders, database, current, request.target_version()));
    UPSHIFT_ASSIGN_OR_RETURN(int64_t data_bytes, placed.hosting->DataSizeBytes(database));
    estimate = EstimateDowntime(test->timings, data_bytes);
    LogInfo(absl::StrCat("downtime estimate for ", database, ": ", absl::FormatDuration(estimate.total()),
                         " (restore point ", absl::FormatDuration(estimate.restore_point), ", plan ",
                         absl::FormatDuration(estimate.plan), "; its Test copied ",
                         test->timings.source_size_bytes, " bytes in ", absl::FormatDuration(test->timings.clone),
                         " and planned in ", absl::FormatDuration(test->timings.migrate), "; ", data_bytes,
                         " bytes now)"));
    test_upgrade_id = test->order.upgrade_id();
    UPSHIFT_ASSIGN_OR_RETURN(absl::Duration bound, MaxOffline(max_offline, estimate.total(), options_));
    max_offline = bound;
    // Without a time of its own, it goes to its database's maintenance window, if one is set.
    if (!not_before.has_value() && windows_ != nullptr) {
      UPSHIFT_ASSIGN_OR_RETURN(std::optional<WindowBook::Found> window, windows_->WindowOf(tenant, database));
      if (window.has_value() && ValidateWindow(window->window).ok()) {
        UPSHIFT_ASSIGN_OR_RETURN(WindowStart start, StartInWindow(window->window, estimate.total(), clock_.Now()));
        if (start.not_before > clock_.Now()) not_before = start.not_before;
        latest_start = start.latest;
      }
    }
    if (not_before.has_value() && *not_before - test->finished_at > options_.max_test_age) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the successful Test upgrade of \"", database, "\" to ", request.target_version(), " will be more than ",
          absl::ToInt64Hours(options_.max_test_age) / 24, " days old at ",
          absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", *not_before, absl::UTCTimeZone()),
          latest_start.has_value() ? ", the next opening of its maintenance window" : "",
          ": schedule the Production upgrade earlier, or order a new Test upgrade"));
    }
  }

  upgrade::v1::Order order =
      NewOrder(placed, current, request.target_version(), request.purpose(), request.request_id());
  order.set_rollout_id(rollout_id);
  order.set_notify_email(request.notify_email());
  if (order.purpose() == upgrade::v1::PURPOSE_TEST) {
    order.set_test_database(TestDatabaseName(database, order.upgrade_id()));
  } else {
    order.set_restore_point(RestorePointName(database, order.upgrade_id()));
    ToProto(estimate.total(), order.mutable_estimated_downtime());
    ToProto(estimate.plan, order.mutable_estimated_plan());
    ToProto(*max_offline, order.mutable_max_offline());
    order.set_test_upgrade_id(test_upgrade_id);
  }
  if (not_before.has_value()) {
    ToProto(*not_before, order.mutable_not_before());
    if (latest_start.has_value()) ToProto(*latest_start, order.mutable_latest_start());
  }
  return Record(std::move(order), audit_of);
}

absl::StatusOr<std::optional<absl::Time>> Admission::NotBefore(const upgrade::v1::RequestUpgradeRequest& request) {
  if (!request.has_not_before()) return std::nullopt;
  const google::protobuf::Timestamp& t = request.not_before();
  // Timestamp's own range: 0001-01-01 to 9999-12-31, nanos below a second.
  using google::protobuf::util::TimeUtil;
  if (t.seconds() < TimeUtil::kTimestampMinSeconds || t.seconds() > TimeUtil::kTimestampMaxSeconds || t.nanos() < 0 ||
      t.nanos() > 999'999'999) {
    return absl::InvalidArgumentError("not_before is not a valid timestamp");
  }
  const absl::Time at = FromProto(t), now = clock_.Now();
  if (at <= now) return std::nullopt;  // due already: it starts at once
  if (at - now > kMaxScheduleAhead) {
    return absl::InvalidArgumentError(absl::StrCat("not_before ",
                                                   absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", at, absl::UTCTimeZone()),
                                                   " is more than 90 days ahead"));
  }
  return at;
}

absl::StatusOr<upgrade::v1::RevertUpgradeResponse> Admission::RevertUpgrade(
    const upgrade::v1::RevertUpgradeRequest& request, const Principal& caller, const AuditOf& audit_of) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kProduction, "reverting a Production upgrade"));
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(request.upgrade_id()));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> found, store_.FindByUpgradeId(request.upgrade_id()));
  if (!found.has_value() || !caller.ActsFor(found->order.tenant())) {
    return absl::NotFoundError(absl::StrCat("no upgrade ", request.upgrade_id()));
  }
  const upgrade::v1::Order& production = found->order;
  const std::string& database = production.database();
  if (production.purpose() != upgrade::v1::PURPOSE_PRODUCTION || found->outcome != Outcome::kSucceeded) {
    return absl::FailedPreconditionError(absl::StrCat(
        "upgrade ", production.upgrade_id(), " is not a successful Production upgrade: there is nothing to revert",
        production.purpose() == upgrade::v1::PURPOSE_PRODUCTION ? " (a failed one was rolled back by itself)" : ""));
  }
  const std::string since = absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", found->finished_at, absl::UTCTimeZone());
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<StoredOrder> orders, store_.ListByDatabase(database));
  for (const StoredOrder& s : orders) {  // newest first
    if (s.order.purpose() == upgrade::v1::PURPOSE_REVERT && s.order.reverts_upgrade_id() == production.upgrade_id() &&
        (s.outcome == Outcome::kActive || s.outcome == Outcome::kSucceeded)) {
      return absl::FailedPreconditionError(absl::StrCat("upgrade ", production.upgrade_id(), " was ",
                                                        s.outcome == Outcome::kActive ? "being " : "",
                                                        "reverted already, by ", s.order.upgrade_id()));
    }
    if (s.order.upgrade_id() != production.upgrade_id() && s.outcome == Outcome::kSucceeded &&
        s.finished_at > found->finished_at &&
        (s.order.purpose() == upgrade::v1::PURPOSE_PRODUCTION || s.order.purpose() == upgrade::v1::PURPOSE_REVERT)) {
      return absl::FailedPreconditionError(absl::StrCat("upgrade ", production.upgrade_id(), " of \"", database,
                                                        "\" is not its latest change: ", s.order.upgrade_id(),
                                                        " came after it; only the latest Production upgrade is reverted"));
    }
  }
  if (clock_.Now() - found->finished_at > options_.restore_point_retention) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the restore point of upgrade ", production.upgrade_id(), " was kept ",
        absl::FormatDuration(options_.restore_point_retention), " after it ended at ", since, " and is gone"));
  }
  if (!request.confirm_data_loss()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "reverting upgrade ", production.upgrade_id(), " takes \"", database, "\" offline and replaces it by its ",
        "restore point: it goes back to version ", production.from_version(), " as it was at ", since,
        ", and EVERYTHING WRITTEN TO IT SINCE ", since, " IS LOST; call again with confirm_data_loss to revert"));
  }
  UPSHIFT_ASSIGN_OR_RETURN(PlacedDatabase placed, Place(database, caller));
  upgrade::v1::Order asked;
  asked.set_tenant(production.tenant());
  asked.set_database(database);
  asked.set_target_version(production.from_version());
  asked.set_purpose(upgrade::v1::PURPOSE_REVERT);
  asked.set_notify_email(production.notify_email());
  asked.set_request_id(request.request_id());
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::Upgrade> first, FirstWithRequestId(asked));
  upgrade::v1::RevertUpgradeResponse response;
  ToProto(found->finished_at, response.mutable_writes_lost_since());
  if (first.has_value()) {
    *response.mutable_upgrade() = *std::move(first);
    return response;
  }
  UPSHIFT_RETURN_IF_ERROR(Limit(production.tenant(), caller));
  UPSHIFT_ASSIGN_OR_RETURN(std::string current, placed.hosting->ReadVersion(database, catalog_.version_query()));
  if (current != production.target_version()) {
    return absl::FailedPreconditionError(absl::StrCat("database \"", database, "\" is at ", current, ", not at ",
                                                      production.target_version(), " where upgrade ",
                                                      production.upgrade_id(), " left it: it is not reverted"));
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> active, store_.FindActive(database));
  if (active.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("upgrade ", active->order.upgrade_id(), " of database \"",
                                                      database, "\" is still active; wait until it ends"));
  }
  upgrade::v1::Order order = NewOrder(placed, current, production.from_version(), upgrade::v1::PURPOSE_REVERT,
                                      request.request_id());
  order.set_notify_email(production.notify_email());
  order.set_restore_point(production.restore_point());
  order.set_reverts_upgrade_id(production.upgrade_id());
  ToProto(found->finished_at, order.mutable_writes_lost_since());
  LogWarning(absl::StrCat("reverting upgrade ", production.upgrade_id(), " of ", database, ": writes since ", since,
                          " are lost, as confirmed by ", caller.subject));
  UPSHIFT_ASSIGN_OR_RETURN(*response.mutable_upgrade(), Record(std::move(order), audit_of));
  return response;
}

absl::StatusOr<upgrade::v1::Upgrade> Admission::CheckUpgrade(const upgrade::v1::CheckUpgradeRequest& request,
                                                             const Principal& caller, const AuditOf& audit_of,
                                                             const std::string& rollout_id) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kTest, "a check"));
  UPSHIFT_ASSIGN_OR_RETURN(PlacedDatabase placed, Place(request.database(), caller));
  const std::string& tenant = placed.database.owner;
  upgrade::v1::Order asked;
  asked.set_tenant(tenant);
  asked.set_database(request.database());
  asked.set_target_version(request.target_version());
  asked.set_purpose(upgrade::v1::PURPOSE_CHECK);
  asked.set_request_id(request.request_id());
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::Upgrade> first, FirstWithRequestId(asked));
  if (first.has_value()) return *std::move(first);
  UPSHIFT_RETURN_IF_ERROR(ValidateVersion(request.target_version()));
  UPSHIFT_RETURN_IF_ERROR(Limit(tenant, caller));
  const std::string& database = request.database();
  UPSHIFT_ASSIGN_OR_RETURN(std::string current, CurrentVersion(placed));
  UPSHIFT_RETURN_IF_ERROR(catalog_.Plan(current, request.target_version()).status());
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> active, store_.FindActive(database));
  if (active.has_value() && !MayRunBeside(upgrade::v1::PURPOSE_CHECK, active->order.purpose())) {
    return absl::FailedPreconditionError(absl::StrCat("Production upgrade ", active->order.upgrade_id(),
                                                      " of database \"", database,
                                                      "\" is still active; check again once it ends"));
  }
  upgrade::v1::Order order =
      NewOrder(placed, current, request.target_version(), upgrade::v1::PURPOSE_CHECK, request.request_id());
  order.set_rollout_id(rollout_id);
  order.set_test_database(CheckDatabaseName(database, order.upgrade_id()));
  return Record(std::move(order), audit_of);
}

absl::StatusOr<upgrade::v1::Upgrade> Admission::Record(upgrade::v1::Order order, const AuditOf& audit_of) {
  absl::Time now = clock_.Now();
  ToProto(now, order.mutable_created_at());
  // An order that starts at once is accepted now; a scheduled one announced as scheduled, and
  // accepted at its start (Schedules).
  upgrade::v1::Event announced;
  if (order.has_not_before()) {
    announced = MakeEvent(order, "scheduled", "request", now);
    announced.mutable_scheduled();
  } else {
    announced = AcceptanceOf(order, now);
  }
  absl::Status admitted =
      store_.Admit(order, {topics::kOrders, order.database(), announced.SerializeAsString()}, audit_of);
  if (admitted.code() == absl::StatusCode::kAlreadyExists && !order.request_id().empty()) {
    // A concurrent call with the same request_id won the race: answer with its order.
    UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> first, store_.FindByRequestId(order.tenant(), order.request_id()));
    if (first.has_value()) {
      UPSHIFT_RETURN_IF_ERROR(SameOrder(first->order, order));
      return UpgradeOf(*first);
    }
  }
  UPSHIFT_RETURN_IF_ERROR(admitted);
  if (admitted_) admitted_();
  StoredOrder stored;
  stored.order = std::move(order);
  if (!stored.order.has_not_before()) stored.started_at = now;
  return UpgradeOf(stored);
}

absl::StatusOr<upgrade::v1::GetUpgradeOptionsResponse> Admission::GetUpgradeOptions(
    const upgrade::v1::GetUpgradeOptionsRequest& request, const Principal& caller) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, "reading upgrade options"));
  const std::string& database = request.database();
  UPSHIFT_ASSIGN_OR_RETURN(PlacedDatabase placed, Place(database, caller));
  const std::string& tenant = placed.database.owner;
  if (!caller.ForEveryTenant()) {
    UPSHIFT_RETURN_IF_ERROR(reads_per_tenant_.Take(tenant, absl::StrCat("tenant \"", tenant, "\"'s rate of reads")));
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::string current, CurrentVersion(placed));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> active, store_.FindActive(database));
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<StoredOrder> orders, store_.ListByDatabase(database));
  upgrade::v1::GetUpgradeOptionsResponse response;
  response.set_database(database);
  response.set_version(current);
  if (active.has_value()) response.set_active_upgrade_id(active->order.upgrade_id());
  bool check_running = std::any_of(orders.begin(), orders.end(), [](const StoredOrder& s) {
    return s.outcome == Outcome::kActive && s.order.purpose() == upgrade::v1::PURPOSE_CHECK;
  });
  bool may_check = !check_running && (!active.has_value() || MayRunBeside(upgrade::v1::PURPOSE_CHECK, active->order.purpose()));
  bool any_test = false, any_production = false;
  for (const std::string& target : catalog_.TargetsFrom(current)) {
    response.add_target_versions(target);
    upgrade::v1::TargetOption* option = response.add_options();
    option->set_version(target);
    if (!active.has_value()) {
      option->add_purposes(upgrade::v1::PURPOSE_TEST);
      any_test = true;
      if (!check_running && TestAllowingProduction(orders, database, current, target).ok()) {
        option->add_purposes(upgrade::v1::PURPOSE_PRODUCTION);
        any_production = true;
      }
    }
    if (may_check) option->add_purposes(upgrade::v1::PURPOSE_CHECK);
  }
  if (windows_ != nullptr) {
    UPSHIFT_ASSIGN_OR_RETURN(std::optional<WindowBook::Found> window, windows_->WindowOf(tenant, database));
    if (window.has_value() && ValidateWindow(window->window).ok()) {
      *response.mutable_maintenance_window() = window->window;
      ToProto(NextOpening(window->window, clock_.Now()).start, response.mutable_next_window_opening());
    }
  }
  if (any_test) response.add_purposes(upgrade::v1::PURPOSE_TEST);
  if (any_production) response.add_purposes(upgrade::v1::PURPOSE_PRODUCTION);
  if (may_check && response.options_size() > 0) response.add_purposes(upgrade::v1::PURPOSE_CHECK);
  return response;
}

}  // namespace upshift::request
