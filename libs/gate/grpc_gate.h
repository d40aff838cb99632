#ifndef UPSHIFT_LIBS_GATE_GRPC_GATE_H_
#define UPSHIFT_LIBS_GATE_GRPC_GATE_H_

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/time/time.h"
#include "libs/gate/gate.h"

namespace upshift {

// Gate over request's upgrade.v1.UpgradeGate service.
class GrpcGate final : public Gate {
 public:
  // `credentials`: the worker's client certificate for the gate's mTLS listener (see libs/common/tls.h).
  GrpcGate(const std::string& address, absl::Duration timeout,
           const std::shared_ptr<grpc::ChannelCredentials>& credentials);
  ~GrpcGate() override;
  absl::StatusOr<Passage> Pass(const std::string& upgrade_id, upgrade::v1::Checkpoint checkpoint) override;
  absl::StatusOr<upgrade::v1::Order> GetOrder(const std::string& upgrade_id) override;
  absl::StatusOr<OrderState> GetState(const std::string& upgrade_id) override;
  absl::StatusOr<ClaimAnswer> Claim(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                                    absl::Duration ttl, bool resumes) override;
  absl::Status Release(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                       bool done) override;

  struct Impl;

 private:
  absl::StatusOr<upgrade::v1::GetOrderResponse> Fetch(const std::string& upgrade_id);
  std::unique_ptr<Impl> impl_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_GRPC_GATE_H_
