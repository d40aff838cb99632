#include "libs/gate/late_acceptance_flags.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "libs/common/tls_flags.h"

ABSL_FLAG(std::string, gate_addr, "127.0.0.1:50053",
          "Address of request's UpgradeGate listener (mTLS): read there is the order of an upgrade whose "
          "announcement never reached this service");
ABSL_FLAG(absl::Duration, late_acceptance, absl::Seconds(10),
          "A record about an upgrade whose announcement (acceptance, or scheduling) has not come after this long "
          "makes this service ask request for the order and take its announcement from it");

namespace upshift {

absl::Duration LateAcceptanceConfig::every() const {
  return std::clamp(wait / 4, absl::Seconds(1), absl::Minutes(1));
}

absl::StatusOr<LateAcceptanceConfig> LateAcceptanceConfigFromFlags() {
  LateAcceptanceConfig c;
  c.gate_addr = absl::GetFlag(FLAGS_gate_addr);
  c.wait = absl::GetFlag(FLAGS_late_acceptance);
  if (c.wait <= absl::ZeroDuration()) return absl::InvalidArgumentError("--late_acceptance must be longer than 0");
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> calling = ChannelCredentialsFromFlags();
  if (!calling.ok()) return calling.status();
  c.calling = *std::move(calling);
  return c;
}

}  // namespace upshift
