// upgradectl: the command-line client of Upshift's gRPC API. Its commands are a table
// (commands.cc), from which `upgradectl` without arguments prints the usage.

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "libs/common/env_flags.h"
#include "libs/common/tls_flags.h"
#include "tools/upgradectl/commands.h"

ABSL_FLAG(std::string, request_addr, "127.0.0.1:50051", "Address of the request service (UpgradeService)");
ABSL_FLAG(std::string, status_addr, "127.0.0.1:50052", "Address of the status service (StatusService)");
ABSL_FLAG(std::string, token, "", "Bearer token of every call (better: the UPSHIFT_TOKEN environment variable)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each call (watch: of the whole watch x 100)");
ABSL_FLAG(std::string, email, "", "request: where to send notifications");
ABSL_FLAG(std::string, purpose, "test", "request: test or production; rollout start: check, test or production");
ABSL_FLAG(std::string, tenant, "",
          "audit: only the records of this tenant; rollout start: only these tenants' databases (comma-separated)");
ABSL_FLAG(std::string, server, "",
          "list: only the databases of this hosting server; rollout start: only these servers' (comma-separated)");
ABSL_FLAG(std::string, from, "", "rollout start: only databases at these versions (comma-separated; empty: any)");
ABSL_FLAG(std::string, waves, "", "rollout start: wave sizes, databases or shares, e.g. 10,25%,100% (empty: one wave)");
ABSL_FLAG(absl::Duration, bake, absl::ZeroDuration(), "rollout start: the wait after a wave before the next");
ABSL_FLAG(std::string, rollout, "", "failures: only the upgrades this rollout ordered");
ABSL_FLAG(int, max_failed_percent, 10, "rollout start: pause when more than this share of a wave failed (0: any)");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the servers' certificates must carry (default: the address's host); for a probe dialing 127.0.0.1");
ABSL_FLAG(absl::Duration, max_offline, absl::ZeroDuration(),
          "request --purpose=production: the longest the database may stay offline, past which the upgrade is "
          "rolled back (0: the platform's default, a few times the estimate)");
ABSL_FLAG(bool, yes, false, "revert: confirm the loss of the writes since the upgrade without asking");
ABSL_FLAG(std::string, not_before, "",
          "request: schedule the upgrade to start at this time (RFC 3339, e.g. 2026-12-24T02:00:00Z; empty: at once)");
ABSL_FLAG(std::string, request_id, "", "request, check: idempotency key (a repeated key returns the first order)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(upshift::ctl::UsageText());
  const std::vector<std::string> args = upshift::ParseFlagsWithEnv(argc, argv);
  upshift::ctl::Settings settings;
  settings.request_addr = absl::GetFlag(FLAGS_request_addr);
  settings.status_addr = absl::GetFlag(FLAGS_status_addr);
  settings.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  settings.timeout = absl::GetFlag(FLAGS_timeout);
  settings.email = absl::GetFlag(FLAGS_email);
  settings.purpose = absl::GetFlag(FLAGS_purpose);
  settings.tenant = absl::GetFlag(FLAGS_tenant);
  settings.server = absl::GetFlag(FLAGS_server);
  settings.request_id = absl::GetFlag(FLAGS_request_id);
  settings.max_offline = absl::GetFlag(FLAGS_max_offline);
  settings.not_before = absl::GetFlag(FLAGS_not_before);
  settings.yes = absl::GetFlag(FLAGS_yes);
  settings.from_versions = absl::GetFlag(FLAGS_from);
  settings.waves = absl::GetFlag(FLAGS_waves);
  settings.rollout_id = absl::GetFlag(FLAGS_rollout);
  settings.bake = absl::GetFlag(FLAGS_bake);
  settings.max_failed_percent = absl::GetFlag(FLAGS_max_failed_percent);
  // The servers' certificates are checked against --tls_ca (--insecure_plaintext: no TLS); every
  // call carries --token (UPSHIFT_TOKEN) as its bearer token.
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = upshift::ChannelCredentialsFromFlags();
  if (!credentials.ok()) return upshift::ctl::Run(args, settings, nullptr, std::string(credentials.status().message()));
  if (!absl::GetFlag(FLAGS_token).empty()) {
    *credentials = grpc::CompositeChannelCredentials(*credentials, grpc::AccessTokenCredentials(absl::GetFlag(FLAGS_token)));
  }
  return upshift::ctl::Run(args, settings, *credentials);
}
