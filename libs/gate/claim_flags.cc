#include "libs/gate/claim_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(absl::Duration, claim_ttl, absl::Seconds(30),
          "How long this replica's claim on an upgrade's copy or plan lasts unless renewed (every third of it): "
          "how long the work of a replica that died waits before another takes it over");

namespace upshift {

absl::StatusOr<ClaimOptions> ClaimOptionsFromFlags(const std::string& service) {
  absl::Duration ttl = absl::GetFlag(FLAGS_claim_ttl);
  if (ttl < absl::Seconds(3) || ttl > absl::Minutes(10)) {
    return absl::InvalidArgumentError("--claim_ttl must be from 3s to 10m");
  }
  return ClaimOptions{ReplicaId(service), ttl};
}

}  // namespace upshift
