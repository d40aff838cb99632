#ifndef UPSHIFT_SERVICES_STATUS_GRPC_SERVICE_H_
#define UPSHIFT_SERVICES_STATUS_GRPC_SERVICE_H_

#include <atomic>

#include "libs/auth/grpc_auth.h"
#include "libs/common/stop_token.h"
#include "services/status/queries.h"
#include "upgrade/v1/upgrade.grpc.pb.h"

namespace upshift::status {

// upgrade.v1.StatusService: authenticates each call and translates between gRPC and the queries.
class StatusServiceImpl final : public upgrade::v1::StatusService::Service {
 public:
  // `stopping` ends live watches early when the server shuts down.
  StatusServiceImpl(const Authenticator& auth, Queries& queries, const StopToken& stopping)
      : auth_(auth), queries_(queries), stopping_(stopping) {}

  grpc::Status ListDatabases(grpc::ServerContext* context, const upgrade::v1::ListDatabasesRequest* request,
                             upgrade::v1::ListDatabasesResponse* response) override;
  grpc::Status GetDatabase(grpc::ServerContext* context, const upgrade::v1::GetDatabaseRequest* request,
                           upgrade::v1::Database* response) override;
  grpc::Status GetUpgrade(grpc::ServerContext* context, const upgrade::v1::GetUpgradeRequest* request,
                          upgrade::v1::Upgrade* response) override;
  grpc::Status WatchUpgrade(grpc::ServerContext* context, const upgrade::v1::WatchUpgradeRequest* request,
                            grpc::ServerWriter<upgrade::v1::Upgrade>* writer) override;
  grpc::Status ListUpgrades(grpc::ServerContext* context, const upgrade::v1::ListUpgradesRequest* request,
                            upgrade::v1::ListUpgradesResponse* response) override;
  grpc::Status GetBacklog(grpc::ServerContext* context, const upgrade::v1::GetBacklogRequest* request,
                          upgrade::v1::GetBacklogResponse* response) override;
  grpc::Status ListFailureGroups(grpc::ServerContext* context, const upgrade::v1::ListFailureGroupsRequest* request,
                                 upgrade::v1::ListFailureGroupsResponse* response) override;

 private:
  const Authenticator& auth_;
  Queries& queries_;
  const StopToken& stopping_;
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_GRPC_SERVICE_H_
