#include "libs/hosting/live_inventory.h"

#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/textproto.h"
#include "libs/metrics/metrics.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"

ABSL_FLAG(std::string, hosting_inventory, "",
          "Required unless --hosting_db: path of the hosting inventory (protos/upgrade/v1/inventory.proto, text format): the servers, their "
          "limits and where their connection strings are. Read again when it changes");
ABSL_FLAG(std::string, hosting_db, "",
          "Required unless --hosting_inventory: libpq connection string (no dbname) of the one hosting server, named \"default\", when there is no "
          "--hosting_inventory");

namespace upshift {
namespace {

Inventory::Sources ProcessSources() {
  return {[](const std::string& name) -> std::optional<std::string> {
            const char* value = std::getenv(name.c_str());
            if (value == nullptr) return std::nullopt;
            return std::string(value);
          },
          [](const std::string& path) { return ReadFile(path); }, [](const std::string& conninfo) {
            return pg::CheckConnInfo(conninfo);
          }};
}

}  // namespace

LiveInventory::LiveInventory(std::string file, Inventory inventory)
    : file_(std::move(file)), current_(std::make_shared<const Inventory>(std::move(inventory))) {}

absl::StatusOr<std::unique_ptr<LiveInventory>> LiveInventory::FromFlags() {
  const std::string file = absl::GetFlag(FLAGS_hosting_inventory), conninfo = absl::GetFlag(FLAGS_hosting_db);
  if (file.empty() == conninfo.empty()) {
    return absl::InvalidArgumentError("name the hosting servers with exactly one of --hosting_inventory and --hosting_db");
  }
  if (!file.empty()) return FromFile(file);
  if (absl::Status checked = pg::CheckConnInfo(conninfo); !checked.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--hosting_db is unusable: ", checked.message()));
  }
  return Single(kDefaultServerName, conninfo);
}

absl::StatusOr<std::unique_ptr<LiveInventory>> LiveInventory::FromFile(const std::string& file) {
  absl::StatusOr<std::string> text = ReadFile(file);
  if (!text.ok()) return text.status();
  absl::StatusOr<Inventory> inventory = Inventory::Parse(*text, file, ProcessSources());
  if (!inventory.ok()) return inventory.status();
  return std::unique_ptr<LiveInventory>(new LiveInventory(file, *std::move(inventory)));
}

std::unique_ptr<LiveInventory> LiveInventory::Single(const std::string& name, const std::string& conninfo) {
  return std::unique_ptr<LiveInventory>(new LiveInventory("", Inventory::Single(name, conninfo)));
}

std::shared_ptr<const Inventory> LiveInventory::Current() {
  absl::MutexLock lock(&mu_);
  return current_;
}

void LiveInventory::Reload() {
  if (file_.empty()) return;
  // Parsed each time: a connection string's own file (a rotated Secret) may change under an
  // unchanged inventory.
  absl::StatusOr<std::string> text = ReadFile(file_);
  absl::StatusOr<Inventory> inventory = text.ok() ? Inventory::Parse(*text, file_, ProcessSources()) : text.status();
  absl::MutexLock lock(&mu_);
  if (!inventory.ok()) {
    const std::string said = inventory.status().ToString();
    if (said == failure_) return;  // said already
    failure_ = said;
    static metrics::Family& failures = metrics::Default().Counter(
        "upshift_inventory_reload_failures_total",
        "Changed hosting inventories that could not be used: the previous one stays in use", {});
    failures.Increment({});
    LogError(absl::StrCat("the hosting inventory changed but cannot be used, the previous one stays in use: ",
                          inventory.status().message()));
    return;
  }
  failure_.clear();
  if (inventory->servers() == current_->servers()) return;
  current_ = std::make_shared<const Inventory>(*std::move(inventory));
  LogInfo(absl::StrCat("hosting inventory read again from ", file_, ": ", current_->servers().size(), " servers"));
}

absl::Status PingServer(LiveInventory& live, const std::string& name) {
  std::shared_ptr<const Inventory> now = live.Current();
  const ServerSpec* spec = now->Find(name);
  if (spec == nullptr) return ServerAbsent(name);
  absl::Status answered = pg::PingServer(pg::ConnInfoFor(spec->conninfo, "postgres"));
  // Whatever keeps it from answering (refused, reset, a timeout), the server is away for its work.
  if (!answered.ok()) return absl::UnavailableError(answered.message());
  return answered;
}

ServerPings::ServerPings(LiveInventory& live)
    : live_(live), kept_(live, [](const ServerSpec& spec) {
        return std::make_unique<pg::Pool>(absl::StrCat(pg::ConnInfoFor(spec.conninfo, "postgres"), " connect_timeout=2"),
                                          2, absl::Seconds(2), "hosting_ping");
      }) {}

ServerPings::~ServerPings() = default;

absl::Status ServerPings::Ping(const std::string& name) {
  absl::StatusOr<std::shared_ptr<pg::Pool>> kept = kept_.Get(name);
  if (kept.ok() && (*kept)->Ping().ok()) return absl::OkStatus();
  return PingServer(live_, name);
}

absl::Status AnyServerAnswers(LiveInventory& live) {
  std::string silent;
  for (const ServerSpec& spec : live.Current()->servers()) {
    absl::Status answered = pg::PingServer(pg::ConnInfoFor(spec.conninfo, "postgres"));
    if (answered.ok()) return answered;
    absl::StrAppend(&silent, silent.empty() ? "" : "; ", spec.name, ": ", answered.message());
  }
  return absl::UnavailableError(absl::StrCat("no hosting server answers (", silent, ")"));
}

}  // namespace upshift
