#include "libs/hosting/hosting_fleet.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/hosting/inventory.h"

namespace upshift {

absl::Status ServerNotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("no hosting server \"", name, "\" in the inventory"));
}

absl::StatusOr<PlacedDatabase> Locate(HostingFleet& fleet, const std::string& database,
                                      const std::function<bool(const HostedDatabase&)>& visible) {
  std::vector<std::string> listed_on, silent;
  std::vector<PlacedDatabase> found;
  for (const std::string& name : fleet.ServerNames()) {
    absl::StatusOr<std::shared_ptr<HostingServer>> server = fleet.Server(name);
    if (!server.ok()) continue;  // dropped by a new inventory since ServerNames
    absl::StatusOr<std::vector<HostedDatabase>> held = (*server)->FindDatabases({database});
    if (!held.ok()) {
      if (held.status().code() != absl::StatusCode::kUnavailable) return held.status();
      silent.push_back(name);
      continue;
    }
    for (HostedDatabase& db : *held) {
      if (db.name != database) continue;
      listed_on.push_back(name);
      found.push_back({name, *server, std::move(db)});
    }
  }
  const bool any_visible = std::any_of(found.begin(), found.end(), [&](const PlacedDatabase& p) {
    return visible == nullptr || visible(p.database);
  });
  if (!found.empty() && !any_visible) return DatabaseNotFound(database);
  absl::StatusOr<std::string> placed = PlaceDatabase(database, listed_on);
  if (!placed.ok()) {
    if (placed.status().code() == absl::StatusCode::kNotFound && !silent.empty()) {
      return absl::UnavailableError(absl::StrCat("database \"", database, "\" is on none of the servers that answer; ",
                                                 absl::StrJoin(silent, ", "), " did not answer"));
    }
    return placed.status();
  }
  return std::move(found.front());
}

absl::StatusOr<std::string> OrderServerName(const std::vector<std::string>& names, const std::string& named) {
  if (!named.empty()) return named;
  if (names.size() != 1) {
    return absl::FailedPreconditionError(
        "the order names no hosting server (admitted before orders did) and the inventory holds several");
  }
  return names.front();
}

absl::Status ServerAbsent(const std::string& name) {
  // Taken out of the inventory while its upgrades run (by mistake, or for a while): they wait.
  return absl::UnavailableError(
      absl::StrCat("hosting server \"", name, "\" is not in the inventory now; its work waits until it is back"));
}

absl::StatusOr<std::shared_ptr<HostingServer>> ServerOfOrder(HostingFleet& fleet, const std::string& named) {
  absl::StatusOr<std::string> name = OrderServerName(fleet.ServerNames(), named);
  if (!name.ok()) return name.status();
  absl::StatusOr<std::shared_ptr<HostingServer>> server = fleet.Server(*name);
  if (server.status().code() == absl::StatusCode::kNotFound) return ServerAbsent(*name);
  return server;
}

absl::Status AwaitServer(const std::string& name, const std::function<absl::Status()>& ping, const StopToken* stop,
                         const std::function<void(const std::string& waiting_for)>& waiting) {
  absl::Time said = absl::InfinitePast();
  const std::string waiting_for = absl::StrCat("hosting server ", name, " does not answer");
  for (absl::Status answer = ping(); answer.code() == absl::StatusCode::kUnavailable; answer = ping()) {
    if (absl::Now() - said >= absl::Seconds(10)) {
      if (said == absl::InfinitePast()) LogWarning(absl::StrCat(waiting_for, ": its work waits (", answer.message(), ")"));
      if (waiting) waiting(waiting_for);
      said = absl::Now();
    }
    const bool stopping = stop != nullptr ? stop->WaitFor(absl::Seconds(1)) : (absl::SleepFor(absl::Seconds(1)), false);
    if (stopping) return absl::UnavailableError(absl::StrCat("this replica is stopping while ", waiting_for));
  }
  return absl::OkStatus();
}

absl::Status UnlessServerAway(absl::Status failure, const std::function<absl::Status()>& ping) {
  if (failure.ok() || IsRetryable(failure)) return failure;
  absl::Status answer = ping();
  if (answer.code() != absl::StatusCode::kUnavailable) return failure;
  return absl::UnavailableError(absl::StrCat("the hosting server does not answer (", answer.message(),
                                             "), so this is tried again once it does: ", failure.message()));
}

absl::Status FixedFleet::Ping(const std::string& name) {
  absl::StatusOr<std::shared_ptr<HostingServer>> server = Server(name);
  if (!server.ok()) return ServerAbsent(name);
  return (*server)->FindDatabases({}).status();
}

std::vector<std::string> FixedFleet::ServerNames() {
  std::vector<std::string> names;
  for (const auto& [name, server] : servers_) names.push_back(name);
  return names;
}

absl::StatusOr<std::shared_ptr<HostingServer>> FixedFleet::Server(const std::string& name) {
  for (const auto& [n, server] : servers_) {
    // Not owned: the aliasing constructor shares no control block.
    if (n == name) return std::shared_ptr<HostingServer>(std::shared_ptr<HostingServer>(), server);
  }
  return ServerNotFound(name);
}

}  // namespace upshift
