#include "services/request/grpc_service.h"

#include "libs/common/grpc_util.h"

namespace upshift::request {

grpc::Status UpgradeServiceImpl::RequestUpgrade(grpc::ServerContext* context,
                                                const upgrade::v1::RequestUpgradeRequest* request,
                                                upgrade::v1::RequestUpgradeResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::Upgrade> upgrade = admission_.RequestUpgrade(*request, *caller);
  if (!upgrade.ok()) return ToGrpcStatus(upgrade.status());
  *response->mutable_upgrade() = *std::move(upgrade);
  return grpc::Status::OK;
}

grpc::Status UpgradeServiceImpl::GetUpgradeOptions(grpc::ServerContext* context,
                                                   const upgrade::v1::GetUpgradeOptionsRequest* request,
                                                   upgrade::v1::GetUpgradeOptionsResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::GetUpgradeOptionsResponse> options = admission_.GetUpgradeOptions(*request, *caller);
  if (!options.ok()) return ToGrpcStatus(options.status());
  *response = *std::move(options);
  return grpc::Status::OK;
}

grpc::Status UpgradeServiceImpl::CancelUpgrade(grpc::ServerContext* context,
                                               const upgrade::v1::CancelUpgradeRequest* request,
                                               upgrade::v1::CancelUpgradeResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::Upgrade> upgrade = cancellation_.Cancel(*request, *caller);
  if (!upgrade.ok()) return ToGrpcStatus(upgrade.status());
  *response->mutable_upgrade() = *std::move(upgrade);
  return grpc::Status::OK;
}

grpc::Status UpgradeServiceImpl::ExtendTestCopy(grpc::ServerContext* context,
                                                const upgrade::v1::ExtendTestCopyRequest* request,
                                                upgrade::v1::ExtendTestCopyResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::ExtendTestCopyResponse> extended = copies_.Extend(*request, *caller);
  if (!extended.ok()) return ToGrpcStatus(extended.status());
  *response = *std::move(extended);
  return grpc::Status::OK;
}

grpc::Status UpgradeServiceImpl::CheckUpgrade(grpc::ServerContext* context,
                                              const upgrade::v1::CheckUpgradeRequest* request,
                                              upgrade::v1::CheckUpgradeResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::Upgrade> check = admission_.CheckUpgrade(*request, *caller);
  if (!check.ok()) return ToGrpcStatus(check.status());
  *response->mutable_upgrade() = *std::move(check);
  return grpc::Status::OK;
}

grpc::Status UpgradeGateImpl::PassCheckpoint(grpc::ServerContext*, const upgrade::v1::PassCheckpointRequest* request,
                                             upgrade::v1::PassCheckpointResponse* response) {
  absl::StatusOr<upgrade::v1::PassCheckpointResponse> result = cancellation_.PassCheckpoint(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status UpgradeGateImpl::GetOrder(grpc::ServerContext*, const upgrade::v1::GetOrderRequest* request,
                                       upgrade::v1::GetOrderResponse* response) {
  absl::StatusOr<upgrade::v1::GetOrderResponse> result = cancellation_.GetOrder(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace upshift::request
