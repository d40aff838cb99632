#ifndef UPSHIFT_SERVICES_REQUEST_GRPC_SERVICE_H_
#define UPSHIFT_SERVICES_REQUEST_GRPC_SERVICE_H_

#include "services/request/admission.h"
#include "upgrade/v1/upgrade.grpc.pb.h"

namespace upshift::request {

// upgrade.v1.UpgradeService: translates between gRPC and Admission, nothing more.
class UpgradeServiceImpl final : public upgrade::v1::UpgradeService::Service {
 public:
  explicit UpgradeServiceImpl(Admission& admission) : admission_(admission) {}

  grpc::Status RequestUpgrade(grpc::ServerContext* context, const upgrade::v1::RequestUpgradeRequest* request,
                              upgrade::v1::RequestUpgradeResponse* response) override;
  grpc::Status GetUpgradeOptions(grpc::ServerContext* context, const upgrade::v1::GetUpgradeOptionsRequest* request,
                                 upgrade::v1::GetUpgradeOptionsResponse* response) override;

 private:
  Admission& admission_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_GRPC_SERVICE_H_
