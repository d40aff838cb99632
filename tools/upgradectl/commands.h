#ifndef UPSHIFT_TOOLS_UPGRADECTL_COMMANDS_H_
#define UPSHIFT_TOOLS_UPGRADECTL_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"

namespace upshift::ctl {

// Exit codes: 0 done (watch: the upgrade succeeded), 1 the server refused the call, 2 usage, 3 the
// server could not be reached or did not answer in time, 4 (watch) the upgrade failed (check: the
// check found problems).
inline constexpr int kRefused = 1, kUsage = 2, kUnreachable = 3, kUpgradeFailed = 4;

// What the flags say (main reads them).
struct Settings {
  std::string request_addr = "127.0.0.1:50051";
  std::string status_addr = "127.0.0.1:50052";
  std::string tls_server_name;  // the name the servers' certificates must carry, when not the host's
  absl::Duration timeout = absl::Seconds(10);
  std::string email, purpose = "test", tenant, request_id, server;
  std::string not_before;  // request: RFC 3339 start time (empty: at once)
  bool yes = false;        // revert: confirm without asking
  absl::Duration max_offline = absl::ZeroDuration();  // request --purpose=production: the downtime bound (0: the default)
  // rollout start: the versions taken (comma-separated; --tenant and --server too), the waves
  // ("10,50%"), the bake between waves and the failures a wave may have.
  std::string from_versions, waves;
  std::string rollout_id;  // failures: only this rollout's
  absl::Duration bake = absl::ZeroDuration();
  int max_failed_percent = 10;
};

// How a command reaches the servers.
class Clients {
 public:
  Clients(const Settings& settings, std::shared_ptr<grpc::ChannelCredentials> credentials)
      : settings_(settings), credentials_(std::move(credentials)) {}
  std::shared_ptr<grpc::Channel> Dial(const std::string& address) const;
  std::shared_ptr<grpc::Channel> Request() const { return Dial(settings_.request_addr); }
  std::shared_ptr<grpc::Channel> Status() const { return Dial(settings_.status_addr); }

 private:
  const Settings& settings_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
};

// One command of upgradectl: its operands, what it does, and how.
struct Command {
  std::string name;
  std::string operands;  // as the usage shows them, e.g. "DATABASE TARGET_VERSION"
  std::string summary;
  size_t min_operands = 0, max_operands = 0;
  int (*run)(const std::vector<std::string>& operands, const Settings& settings, const Clients& clients) = nullptr;
};

// Every command, in the order the usage lists them.
const std::vector<Command>& Commands();

// The usage text, made from the table.
std::string UsageText();

// Runs `args` (args[0] the program, args[1] the command): the command's exit code. A command not in
// the table, or with the wrong number of operands, is kUsage before any call is made.
// `credentials`: nullptr when they could not be made (the reason in `credentials_error`).
int Run(const std::vector<std::string>& args, const Settings& settings,
        std::shared_ptr<grpc::ChannelCredentials> credentials, const std::string& credentials_error = "");

}  // namespace upshift::ctl

#endif  // UPSHIFT_TOOLS_UPGRADECTL_COMMANDS_H_
