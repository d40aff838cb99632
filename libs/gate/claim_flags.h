#ifndef UPSHIFT_LIBS_GATE_CLAIM_FLAGS_H_
#define UPSHIFT_LIBS_GATE_CLAIM_FLAGS_H_

// --claim_ttl, for the workers that claim their work at the gate (cloner, migrator).

#include <string>

#include "absl/status/statusor.h"
#include "libs/gate/work_claim.h"

namespace upshift {

// This replica's claim options: a fresh ReplicaId(service) and --claim_ttl. INVALID_ARGUMENT when
// the ttl is outside [3 s, 10 min].
absl::StatusOr<ClaimOptions> ClaimOptionsFromFlags(const std::string& service);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_CLAIM_FLAGS_H_
