#ifndef UPSHIFT_LIBS_HOSTING_LIVE_INVENTORY_H_
#define UPSHIFT_LIBS_HOSTING_LIVE_INVENTORY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/hosting/hosting_fleet.h"
#include "libs/hosting/inventory.h"

namespace upshift {

namespace pg {
class Pool;
}

// The name of the one server --hosting_db describes.
inline constexpr char kDefaultServerName[] = "default";

// The hosting inventory as it is now. Read at start from --hosting_inventory (a file, e.g. a
// Kubernetes ConfigMap, read again by Reload) or made from --hosting_db (one server, named
// "default", never reloaded): exactly one of the two. Thread-safe.
class LiveInventory {
 public:
  // INVALID_ARGUMENT: neither flag or both, or a file Inventory::Parse refuses.
  static absl::StatusOr<std::unique_ptr<LiveInventory>> FromFlags();
  // An inventory read from `file` (Reload reads it again).
  static absl::StatusOr<std::unique_ptr<LiveInventory>> FromFile(const std::string& file);
  // One server, never reloaded.
  static std::unique_ptr<LiveInventory> Single(const std::string& name, const std::string& conninfo);

  std::shared_ptr<const Inventory> Current();

  // Reads the file (and the connection strings' files) again. One that parses into other servers
  // replaces the inventory (logged); one that does not is logged once per error, counted
  // (upshift_inventory_reload_failures_total), and the previous inventory stays in use. Nothing to
  // do without a file.
  void Reload();
  bool reloadable() const { return !file_.empty(); }
  const std::string& file() const { return file_; }

 private:
  LiveInventory(std::string file, Inventory inventory);

  const std::string file_;
  absl::Mutex mu_;
  std::string failure_ ABSL_GUARDED_BY(mu_);  // the last error said, until the file is usable again
  std::shared_ptr<const Inventory> current_ ABSL_GUARDED_BY(mu_);
};

// How often the services read the inventory file again.
inline constexpr absl::Duration kInventoryReload = absl::Seconds(10);

// OK while server `name` of the inventory answers; UNAVAILABLE when it does not, or when the
// inventory does not hold it (ServerAbsent).
absl::Status PingServer(LiveInventory& live, const std::string& name);

// A readiness check: OK while at least one server of the inventory answers. A server that does not
// pauses only its own databases' work, so it alone does not take a service out of rotation.
absl::Status AnyServerAnswers(LiveInventory& live);

// One object per server of a live inventory (a hosting server, a migration target), made at first
// use and made again when its server's connection string changes. Thread-safe.
template <typename T>
class PerServer {
 public:
  PerServer(LiveInventory& live, std::function<std::unique_ptr<T>(const ServerSpec&)> make)
      : live_(live), make_(std::move(make)) {}

  std::vector<std::string> Names() {
    std::vector<std::string> names;
    for (const ServerSpec& s : live_.Current()->servers()) names.push_back(s.name);
    return names;
  }

  // NOT_FOUND (ServerNotFound) for a name the inventory does not hold now. The objects of servers
  // the inventory dropped are let go at the first call after it changed (callers holding one finish
  // with it).
  absl::StatusOr<std::shared_ptr<T>> Get(const std::string& name) {
    std::shared_ptr<const Inventory> inventory = live_.Current();
    absl::MutexLock lock(&mu_);
    if (inventory != seen_) {
      for (auto it = made_.begin(); it != made_.end();) it = inventory->Find(it->first) ? std::next(it) : made_.erase(it);
      seen_ = inventory;
    }
    const ServerSpec* spec = inventory->Find(name);
    if (spec == nullptr) return ServerNotFound(name);
    Made& made = made_[name];
    if (made.object == nullptr || made.conninfo != spec->conninfo) made = {spec->conninfo, make_(*spec)};
    return made.object;
  }

 private:
  struct Made {
    std::string conninfo;
    std::shared_ptr<T> object;
  };
  LiveInventory& live_;
  const std::function<std::unique_ptr<T>(const ServerSpec&)> make_;
  absl::Mutex mu_;
  std::map<std::string, Made> made_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Inventory> seen_ ABSL_GUARDED_BY(mu_);  // the inventory made_ was last pruned by
};

// PingServer on a session kept per server: the workers ask before each record, and a new
// connection each time cost more than the hop it guards (about 10 ms of the orchestration's p50). A
// kept session that fails is not taken for the server's answer: a new connection is tried at once.
class ServerPings {
 public:
  explicit ServerPings(LiveInventory& live);
  ~ServerPings();
  absl::Status Ping(const std::string& name);

 private:
  LiveInventory& live_;
  PerServer<pg::Pool> kept_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_HOSTING_LIVE_INVENTORY_H_
