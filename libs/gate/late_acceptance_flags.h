#ifndef UPSHIFT_LIBS_GATE_LATE_ACCEPTANCE_FLAGS_H_
#define UPSHIFT_LIBS_GATE_LATE_ACCEPTANCE_FLAGS_H_

// --gate_addr and --late_acceptance, for the consumers that repair a lost announcement from
// request's stored order (status, the notifier: see LateAcceptances).

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift {

struct LateAcceptanceConfig {
  // request's gate, called with this service's certificate (the TLS flags).
  std::string gate_addr;
  std::shared_ptr<grpc::ChannelCredentials> calling;
  // How long a record waits for its announcement before request is asked.
  absl::Duration wait;
  // How often the records waiting are looked at: a quarter of the wait, from 1 s to 1 min.
  absl::Duration every() const;
};

// INVALID_ARGUMENT when --late_acceptance is not positive, or the TLS flags are wrong.
absl::StatusOr<LateAcceptanceConfig> LateAcceptanceConfigFromFlags();

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_LATE_ACCEPTANCE_FLAGS_H_
