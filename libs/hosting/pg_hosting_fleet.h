#ifndef UPSHIFT_LIBS_HOSTING_PG_HOSTING_FLEET_H_
#define UPSHIFT_LIBS_HOSTING_PG_HOSTING_FLEET_H_

#include <memory>
#include <string>
#include <vector>

#include "libs/hosting/hosting_fleet.h"
#include "libs/hosting/live_inventory.h"
#include "libs/hosting/pg_hosting_server.h"

namespace upshift {

// The servers of a live inventory, each a PgHostingServer with `base`'s options and its own
// connection string (`base.conninfo` is not used). A server whose connection string changes gets new
// sessions; callers still holding the old one finish with it.
class PgHostingFleet final : public HostingFleet {
 public:
  PgHostingFleet(LiveInventory& live, PgHostingOptions base)
      : pings_(live),
        servers_(live, [base = std::move(base)](const ServerSpec& spec) {
          PgHostingOptions options = base;
          options.conninfo = spec.conninfo;
          return std::make_unique<PgHostingServer>(std::move(options));
        }) {}

  std::vector<std::string> ServerNames() override { return servers_.Names(); }
  absl::Status Ping(const std::string& name) override { return pings_.Ping(name); }
  absl::StatusOr<std::shared_ptr<HostingServer>> Server(const std::string& name) override {
    absl::StatusOr<std::shared_ptr<PgHostingServer>> server = servers_.Get(name);
    if (!server.ok()) return server.status();
    return std::shared_ptr<HostingServer>(*std::move(server));
  }

 private:
  ServerPings pings_;
  PerServer<PgHostingServer> servers_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_HOSTING_PG_HOSTING_FLEET_H_
