#include "services/status/queries.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/status_macros.h"
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

absl::StatusOr<std::vector<upgrade::v1::Database>> Queries::ListDatabases(const Principal& caller) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, kReading));
  return view_.ListDatabases([&](const std::string& tenant) { return caller.ActsFor(tenant); });
}

absl::StatusOr<upgrade::v1::Database> Queries::GetDatabase(const Principal& caller, const std::string& name) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, kReading));
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Database db, view_.GetDatabase(name));
  if (!caller.ActsFor(db.tenant())) return DatabaseNotFound(name);
  return db;
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

absl::StatusOr<std::vector<upgrade::v1::Upgrade>> Queries::ListUpgrades(const Principal& caller,
                                                                        const std::string& database) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kRead, kReading));
  UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(database));
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<upgrade::v1::Upgrade> all, store_.ListUpgrades(database));
  std::vector<upgrade::v1::Upgrade> out;
  for (upgrade::v1::Upgrade& u : all) {
    if (caller.ActsFor(u.tenant())) out.push_back(std::move(u));
  }
  return out;
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
