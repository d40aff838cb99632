#include "services/request/server_board.h"

#include <set>

#include "libs/common/status_macros.h"
#include "libs/metrics/metrics.h"

namespace upshift::request {
namespace {

metrics::Family& UpFamily() {
  static metrics::Family& up = metrics::Default().Gauge(
      "upshift_hosting_server_up", "1 when the hosting server answered request's last health check, else 0", {"server"});
  return up;
}

}  // namespace

void ServerBoard::CheckAll() {
  const std::vector<ServerSpec> servers = servers_();
  std::map<std::string, Health> checked;
  for (const ServerSpec& s : servers) {
    absl::Status answer = ping_(s.name);
    checked[s.name] = {answer.ok(), clock_.Now(), answer.ok() ? "" : std::string(answer.message())};
  }
  // A server taken out of the inventory disappears from the metric instead of keeping its last value.
  UpFamily().Clear();
  for (const auto& [name, health] : checked) UpFamily().Set({name}, health.answering ? 1 : 0);
  absl::MutexLock lock(&mu_);
  health_ = std::move(checked);
}

void ServerBoard::Export() {
  static metrics::Family& work = metrics::Default().Gauge(
      "upshift_hosting_server_work", "Copies (and restore points) and plans whose claims are live on the hosting server",
      {"server", "pool"});
  static metrics::Family& limit = metrics::Default().Gauge(
      "upshift_hosting_server_limit", "The hosting server's inventory limit of copies and of plans at once (0: none)",
      {"server", "pool"});
  absl::StatusOr<std::map<std::pair<std::string, std::string>, int>> live = claims_.LiveWork();
  work.Clear();
  limit.Clear();
  for (const ServerSpec& s : servers_()) {
    limit.Set({s.name, "copies"}, s.max_copies);
    limit.Set({s.name, "plans"}, s.max_plans);
    if (!live.ok()) continue;  // left out, not shown as 0, while the platform database is away
    for (const char* pool : {"copies", "plans"}) {
      auto it = live->find({s.name, pool});
      work.Set({s.name, pool}, it == live->end() ? 0 : it->second);
    }
  }
}

absl::StatusOr<upgrade::v1::ListServersResponse> ServerBoard::List(const Principal& caller) {
  if (!caller.ForEveryTenant()) {
    return absl::PermissionDeniedError("listing the hosting servers needs the upgrades.operator scope");
  }
  UPSHIFT_ASSIGN_OR_RETURN(auto live, claims_.LiveWork());
  std::map<std::string, Health> health;
  {
    absl::MutexLock lock(&mu_);
    health = health_;
  }
  upgrade::v1::ListServersResponse response;
  for (const ServerSpec& s : servers_()) {
    upgrade::v1::HostingServerStatus* out = response.add_servers();
    out->set_name(s.name);
    out->mutable_labels()->insert(s.labels.begin(), s.labels.end());
    out->set_max_copies(s.max_copies);
    out->set_max_plans(s.max_plans);
    if (auto h = health.find(s.name); h != health.end()) {
      out->set_answering(h->second.answering);
      ToProto(h->second.checked_at, out->mutable_checked_at());
      out->set_error(h->second.error);
    } else {
      out->set_error("not checked yet");
    }
    if (auto c = live.find({s.name, "copies"}); c != live.end()) out->set_copies(c->second);
    if (auto p = live.find({s.name, "plans"}); p != live.end()) out->set_plans(p->second);
  }
  return response;
}

}  // namespace upshift::request
