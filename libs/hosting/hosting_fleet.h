#ifndef UPSHIFT_LIBS_HOSTING_HOSTING_FLEET_H_
#define UPSHIFT_LIBS_HOSTING_HOSTING_FLEET_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/common/stop_token.h"
#include "libs/hosting/hosting_server.h"

namespace upshift {

// The hosting servers Upshift serves, by the names the inventory gives them (libs/hosting/inventory.h).
// Implementations are thread-safe; a server handed out stays usable for as long as its caller holds
// it, even when a new inventory drops it meanwhile.
class HostingFleet {
 public:
  virtual ~HostingFleet() = default;

  // The servers' names, in the inventory's order.
  virtual std::vector<std::string> ServerNames() = 0;

  // The server named `name`. NOT_FOUND when the inventory holds no such server (any more).
  virtual absl::StatusOr<std::shared_ptr<HostingServer>> Server(const std::string& name) = 0;

  // OK while the server answers; UNAVAILABLE when it does not (or the inventory does not hold it).
  virtual absl::Status Ping(const std::string& name) = 0;
};

// A database and the one server that holds it.
struct PlacedDatabase {
  std::string server;
  std::shared_ptr<HostingServer> hosting;
  HostedDatabase database;
};

// Finds the server that holds `database` by asking every server of `fleet`: found, not guessed.
// NOT_FOUND (DatabaseNotFound) when no server holds it, or none of those that do holds one `visible`
// accepts (another tenant's: the caller hears what it would of a database that does not exist).
// FAILED_PRECONDITION naming the servers when two or more hold it: either could be the customer's,
// so neither is acted on. A server that does not answer is passed over when another holds the
// database (a second one of that name there is found when it answers again); when none of those
// that answer holds it, UNAVAILABLE naming the silent ones.
absl::StatusOr<PlacedDatabase> Locate(HostingFleet& fleet, const std::string& database,
                                      const std::function<bool(const HostedDatabase&)>& visible = nullptr);

// The server an order names (Order.server). An order admitted before orders named their server
// names none: it is the fleet's only server, or FAILED_PRECONDITION when the fleet has several.
// UNAVAILABLE (the work waits) while the inventory does not hold the server it names.
absl::StatusOr<std::shared_ptr<HostingServer>> ServerOfOrder(HostingFleet& fleet, const std::string& named);

// The parts of ServerOfOrder, for a worker that keeps its own object per server (the migrator's
// targets): the name of the server an order names, given the inventory's `names`; and the error
// for one the inventory does not hold now (UNAVAILABLE: the work waits).
absl::StatusOr<std::string> OrderServerName(const std::vector<std::string>& names, const std::string& named);
absl::Status ServerAbsent(const std::string& name);

// A worker about to act on server `name` waits here while `ping` says it does not answer
// (UNAVAILABLE), asking again every second; `waiting` is called with "hosting server <name> does not
// answer" at first and every 10 s (for a heartbeat saying so: the upgrade is waiting, not stalled).
// OK once it answers, or at once for any other answer (the work then meets it itself); UNAVAILABLE
// when `stop` is set first.
absl::Status AwaitServer(const std::string& name, const std::function<absl::Status()>& ping, const StopToken* stop,
                         const std::function<void(const std::string& waiting_for)>& waiting);

// A work's failure met while its server does not answer (`ping` says UNAVAILABLE) is the server's,
// not the work's: a tool that lost its connection says so in its own words. UNAVAILABLE then, so
// that the work is tried again once the server answers; `failure` as it is otherwise (OK and
// retryable ones are returned without asking).
absl::Status UnlessServerAway(absl::Status failure, const std::function<absl::Status()>& ping);

// A fleet of servers made and owned elsewhere (fakes in unit tests), never reloaded.
class FixedFleet final : public HostingFleet {
 public:
  explicit FixedFleet(std::vector<std::pair<std::string, HostingServer*>> servers) : servers_(std::move(servers)) {}

  std::vector<std::string> ServerNames() override;
  absl::StatusOr<std::shared_ptr<HostingServer>> Server(const std::string& name) override;
  // What the server says of an empty FindDatabases.
  absl::Status Ping(const std::string& name) override;

 private:
  const std::vector<std::pair<std::string, HostingServer*>> servers_;
};

// NOT_FOUND for a server name the inventory does not hold, in the words every service uses.
absl::Status ServerNotFound(const std::string& name);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_HOSTING_HOSTING_FLEET_H_
