#ifndef UPSHIFT_LIBS_GATE_GRPC_GATE_H_
#define UPSHIFT_LIBS_GATE_GRPC_GATE_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "libs/gate/gate.h"

namespace upshift {

// Gate over request's upgrade.v1.UpgradeGate service.
class GrpcGate final : public Gate {
 public:
  GrpcGate(const std::string& address, absl::Duration timeout);
  ~GrpcGate() override;
  absl::StatusOr<Passage> Pass(const std::string& upgrade_id, upgrade::v1::Checkpoint checkpoint) override;
  absl::StatusOr<upgrade::v1::Order> GetOrder(const std::string& upgrade_id) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_GRPC_GATE_H_
