#include "services/status/grpc_service.h"

#include "libs/common/deadline.h"
#include "libs/common/grpc_util.h"

namespace upshift::status {

grpc::Status StatusServiceImpl::ListDatabases(grpc::ServerContext* context, const upgrade::v1::ListDatabasesRequest* request,
                                              upgrade::v1::ListDatabasesResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  DeadlineScope within(DeadlineOf(*context));  // the databases' versions are read no longer than the caller waits
  absl::StatusOr<upgrade::v1::ListDatabasesResponse> page = queries_.ListDatabases(*caller, *request);
  if (!page.ok()) return ToGrpcStatus(page.status());
  *response = *std::move(page);
  return grpc::Status::OK;
}

grpc::Status StatusServiceImpl::GetDatabase(grpc::ServerContext* context, const upgrade::v1::GetDatabaseRequest* request,
                                            upgrade::v1::Database* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  DeadlineScope within(DeadlineOf(*context));
  absl::StatusOr<upgrade::v1::Database> db = queries_.GetDatabase(*caller, request->name());
  if (!db.ok()) return ToGrpcStatus(db.status());
  *response = *std::move(db);
  return grpc::Status::OK;
}

grpc::Status StatusServiceImpl::GetUpgrade(grpc::ServerContext* context, const upgrade::v1::GetUpgradeRequest* request,
                                           upgrade::v1::Upgrade* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::Upgrade> upgrade = queries_.GetUpgrade(*caller, request->upgrade_id());
  if (!upgrade.ok()) return ToGrpcStatus(upgrade.status());
  *response = *std::move(upgrade);
  return grpc::Status::OK;
}

grpc::Status StatusServiceImpl::WatchUpgrade(grpc::ServerContext* context,
                                             const upgrade::v1::WatchUpgradeRequest* request,
                                             grpc::ServerWriter<upgrade::v1::Upgrade>* writer) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ToGrpcStatus(queries_.WatchUpgrade(
      *caller, request->upgrade_id(), [&](const upgrade::v1::Upgrade& u) { return writer->Write(u); },
      [&] {
        if (context->IsCancelled()) return absl::CancelledError("the watcher cancelled");
        if (stopping_.stopped()) return absl::UnavailableError("status service is stopping; watch again");
        return absl::OkStatus();
      }));
}

grpc::Status StatusServiceImpl::ListUpgrades(grpc::ServerContext* context, const upgrade::v1::ListUpgradesRequest* request,
                                             upgrade::v1::ListUpgradesResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::ListUpgradesResponse> page = queries_.ListUpgrades(*caller, *request);
  if (!page.ok()) return ToGrpcStatus(page.status());
  *response = *std::move(page);
  return grpc::Status::OK;
}

grpc::Status StatusServiceImpl::GetBacklog(grpc::ServerContext* context, const upgrade::v1::GetBacklogRequest*,
                                           upgrade::v1::GetBacklogResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::GetBacklogResponse> backlog = queries_.GetBacklog(*caller);
  if (!backlog.ok()) return ToGrpcStatus(backlog.status());
  *response = *std::move(backlog);
  return grpc::Status::OK;
}

grpc::Status StatusServiceImpl::ListFailureGroups(grpc::ServerContext* context,
                                                  const upgrade::v1::ListFailureGroupsRequest* request,
                                                  upgrade::v1::ListFailureGroupsResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::ListFailureGroupsResponse> groups = queries_.ListFailureGroups(*caller, *request);
  if (!groups.ok()) return ToGrpcStatus(groups.status());
  *response = *std::move(groups);
  return grpc::Status::OK;
}

}  // namespace upshift::status
