#include "services/status/queries.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/paging.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/common/validation.h"
#include "services/status/status_logic.h"

namespace upshift::status {
namespace {

constexpr char kReading[] = "reading databases and upgrades";

// How long a watched upgrade may stay unknown: request's acceptance reaches status through the
// broker, a moment after the caller was told the upgrade id.
constexpr absl::Duration kAppearGrace = absl::Seconds(10);

absl::Status NoSuchUpgrade(const std::string& upgrade_id) {
  return absl::NotFoundError(absl::StrCat("no upgrade ", upgrade_id));
}


}  // namespace

absl::StatusOr<upgrade::v1::ListDatabasesResponse> Queries::ListDatabases(
    const Principal& caller, const upgrade::v1::ListDatabasesRequest& request) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, kReading));
  UPSHIFT_ASSIGN_OR_RETURN(int limit, PageSize(request.page_size()));
  PagePosition after;
  if (!request.page_token().empty()) {
    UPSHIFT_ASSIGN_OR_RETURN(std::vector<std::string> fields, ParsePageToken(request.page_token(), "databases", 2));
    if (!ValidateDatabaseName(fields[0]).ok()) return absl::InvalidArgumentError("page_token names no database");
    after = {fields[0], fields[1]};
  }
  UPSHIFT_ASSIGN_OR_RETURN(DatabasePage page, view_.ListDatabases(
                                                  [&](const std::string& tenant) { return caller.ActsFor(tenant); },
                                                  after, limit, request.server()));
  upgrade::v1::ListDatabasesResponse response;
  for (upgrade::v1::Database& db : page.databases) *response.add_databases() = std::move(db);
  if (page.more) {
    const upgrade::v1::Database& last = *response.databases().rbegin();
    response.set_next_page_token(PageToken("databases", {last.name(), last.server()}));
  }
  return response;
}

absl::StatusOr<upgrade::v1::Database> Queries::GetDatabase(const Principal& caller, const std::string& name) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, kReading));
  // Another tenant's database is neither read (its version query) nor remembered.
  return view_.GetDatabase(name, [&](const std::string& tenant) { return caller.ActsFor(tenant); });
}

absl::StatusOr<upgrade::v1::Upgrade> Queries::GetUpgrade(const Principal& caller, const std::string& upgrade_id) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, kReading));
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(upgrade_id));
  absl::StatusOr<upgrade::v1::Upgrade> upgrade = store_.GetUpgrade(upgrade_id);
  if (upgrade.status().code() == absl::StatusCode::kNotFound) return NoSuchUpgrade(upgrade_id);
  UPSHIFT_RETURN_IF_ERROR(upgrade.status());
  if (!caller.ActsFor(upgrade->tenant())) return NoSuchUpgrade(upgrade_id);
  return upgrade;
}

absl::StatusOr<upgrade::v1::ListUpgradesResponse> Queries::ListUpgrades(const Principal& caller,
                                                                       const upgrade::v1::ListUpgradesRequest& request) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, kReading));
  const std::string& database = request.database();
  UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(database));
  UPSHIFT_ASSIGN_OR_RETURN(int limit, PageSize(request.page_size()));
  std::optional<UpgradeCursor> after;
  if (!request.page_token().empty()) {
    UPSHIFT_ASSIGN_OR_RETURN(std::vector<std::string> fields, ParsePageToken(request.page_token(), "upgrades", 3));
    UpgradeCursor cursor;
    if (fields[0] != database || !absl::SimpleAtoi(fields[1], &cursor.created_at_micros) ||
        !ValidateUpgradeId(fields[2]).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token is not one this service handed out for database \"", database, "\""));
    }
    cursor.upgrade_id = fields[2];
    after = std::move(cursor);
  }
  std::optional<std::string> tenant;
  if (!caller.ForEveryTenant()) tenant = caller.tenant;
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<upgrade::v1::Upgrade> upgrades,
                           store_.ListUpgrades(database, tenant, after, limit + 1));
  upgrade::v1::ListUpgradesResponse response;
  for (int i = 0; i < static_cast<int>(upgrades.size()) && i < limit; ++i) {
    *response.add_upgrades() = std::move(upgrades[i]);
  }
  if (static_cast<int>(upgrades.size()) > limit) {
    const upgrade::v1::Upgrade& last = *response.upgrades().rbegin();
    response.set_next_page_token(PageToken("upgrades", {database,
                                            absl::StrCat(absl::ToUnixMicros(FromProto(last.created_at()))),
                                            last.upgrade_id()}));
  }
  return response;
}

absl::StatusOr<upgrade::v1::GetBacklogResponse> Queries::GetBacklog(const Principal& caller) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kOperator, "reading the platform's backlog"));
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<upgrade::v1::Upgrade> unfinished, store_.UnfinishedUpgrades());
  return Backlog(unfinished);
}

absl::StatusOr<upgrade::v1::ListFailureGroupsResponse> Queries::ListFailureGroups(
    const Principal& caller, const upgrade::v1::ListFailureGroupsRequest& request) {
  // The newest failures read at most: enough for a fleet's week, and a bounded answer.
  constexpr int kMostRead = 10000;
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kOperator, "reading the fleet's failures"));
  const absl::Time now = absl::Now();
  const absl::Time since = request.has_since() ? FromProto(request.since()) : now - absl::Hours(24 * 7);
  if (since > now) return absl::InvalidArgumentError("since is in the future");
  if (!request.target_version().empty()) {
    UPSHIFT_RETURN_IF_ERROR(ValidateVersion(request.target_version()));
  }
  if (!request.rollout_id().empty()) UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(request.rollout_id()));
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<upgrade::v1::Upgrade> failed,
                           store_.FailedUpgrades(since, request.target_version(), kMostRead));
  if (!request.rollout_id().empty()) {
    std::erase_if(failed, [&](const upgrade::v1::Upgrade& u) { return u.rollout_id() != request.rollout_id(); });
  }
  return GroupFailures(failed);
}

absl::Status Queries::WatchUpgrade(const Principal& caller, const std::string& upgrade_id,
                                   const std::function<bool(const upgrade::v1::Upgrade&)>& send,
                                   const std::function<absl::Status()>& interrupted) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, kReading));
  UPSHIFT_ASSIGN_OR_RETURN(std::unique_ptr<StreamSlots::Slot> slot, watches_.Take(caller.subject));
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(upgrade_id));
  std::string last_sent;
  uint64_t generation = hub_.generation();
  const absl::Time appear_by = absl::Now() + kAppearGrace;
  for (;;) {
    absl::StatusOr<upgrade::v1::Upgrade> upgrade = GetUpgrade(caller, upgrade_id);
    if (!upgrade.ok()) {
      if (upgrade.status().code() != absl::StatusCode::kNotFound || absl::Now() > appear_by) return upgrade.status();
    } else {
      std::string bytes = upgrade->SerializeAsString();
      if (bytes != last_sent) {
        if (!send(*upgrade)) return absl::CancelledError("the watcher went away");
        last_sent = std::move(bytes);
      }
      if (IsFinal(upgrade->state())) return absl::OkStatus();
    }
    UPSHIFT_RETURN_IF_ERROR(interrupted());
    // Changes recorded by this replica wake the watch at once; others are seen within a second.
    generation = hub_.Wait(generation, absl::Seconds(1));
  }
}

}  // namespace upshift::status
