#ifndef UPSHIFT_SERVICES_STATUS_GRPC_SERVICE_H_
#define UPSHIFT_SERVICES_STATUS_GRPC_SERVICE_H_

#include <atomic>

#include "libs/auth/grpc_auth.h"
#include "libs/common/stream_slots.h"
#include "services/status/change_hub.h"
#include "services/status/database_view.h"
#include "services/status/status_store.h"
#include "upgrade/v1/upgrade.grpc.pb.h"

namespace upshift::status {

// upgrade.v1.StatusService: translates between gRPC and the store and view.
class StatusServiceImpl final : public upgrade::v1::StatusService::Service {
 public:
  // `stopping` ends live watches early when the server shuts down.
  // Every call is authenticated by `auth` and needs upgrades.read; WatchUpgrade streams take a slot
  // of `watches` for as long as they run.
  StatusServiceImpl(const Authenticator& auth, StreamSlots& watches, StatusStore& store, DatabaseView& view,
                    ChangeHub& hub, const std::atomic<bool>& stopping)
      : auth_(auth), watches_(watches), store_(store), view_(view), hub_(hub), stopping_(stopping) {}

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

 private:
  // The caller, when the call's token is valid and holds upgrades.read: UNAUTHENTICATED,
  // PERMISSION_DENIED.
  absl::StatusOr<Principal> MayRead(const grpc::ServerContext& context) const;

  const Authenticator& auth_;
  StreamSlots& watches_;
  StatusStore& store_;
  DatabaseView& view_;
  ChangeHub& hub_;
  const std::atomic<bool>& stopping_;
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_GRPC_SERVICE_H_
