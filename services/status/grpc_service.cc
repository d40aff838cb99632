#include "services/status/grpc_service.h"

#include "absl/time/clock.h"
#include "libs/common/grpc_util.h"
#include "libs/common/validation.h"
#include "services/status/status_logic.h"

namespace upshift::status {

absl::StatusOr<Principal> StatusServiceImpl::MayRead(const grpc::ServerContext& context) const {
  absl::StatusOr<Principal> caller = auth_.Authenticate(context);
  if (!caller.ok()) return caller.status();
  if (absl::Status s = RequireScope(*caller, scopes::kRead, "reading databases and upgrades"); !s.ok()) return s;
  return caller;
}
namespace {

constexpr absl::Duration kAppearGrace = absl::Seconds(10);

}  // namespace

grpc::Status StatusServiceImpl::ListDatabases(grpc::ServerContext* context, const upgrade::v1::ListDatabasesRequest*,
                                              upgrade::v1::ListDatabasesResponse* response) {
  if (absl::Status s = MayRead(*context).status(); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<std::vector<upgrade::v1::Database>> all = view_.ListDatabases();
  if (!all.ok()) return ToGrpcStatus(all.status());
  for (upgrade::v1::Database& db : *all) *response->add_databases() = std::move(db);
  return grpc::Status::OK;
}

grpc::Status StatusServiceImpl::GetDatabase(grpc::ServerContext* context, const upgrade::v1::GetDatabaseRequest* request,
                                            upgrade::v1::Database* response) {
  if (absl::Status s = MayRead(*context).status(); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<upgrade::v1::Database> db = view_.GetDatabase(request->name());
  if (!db.ok()) return ToGrpcStatus(db.status());
  *response = *std::move(db);
  return grpc::Status::OK;
}

grpc::Status StatusServiceImpl::GetUpgrade(grpc::ServerContext* context, const upgrade::v1::GetUpgradeRequest* request,
                                           upgrade::v1::Upgrade* response) {
  if (absl::Status s = MayRead(*context).status(); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = ValidateUpgradeId(request->upgrade_id()); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<upgrade::v1::Upgrade> upgrade = store_.GetUpgrade(request->upgrade_id());
  if (!upgrade.ok()) return ToGrpcStatus(upgrade.status());
  *response = *std::move(upgrade);
  return grpc::Status::OK;
}

grpc::Status StatusServiceImpl::WatchUpgrade(grpc::ServerContext* context,
                                             const upgrade::v1::WatchUpgradeRequest* request,
                                             grpc::ServerWriter<upgrade::v1::Upgrade>* writer) {
  absl::StatusOr<Principal> caller = MayRead(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<std::unique_ptr<StreamSlots::Slot>> slot = watches_.Take(caller->subject);
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  if (absl::Status s = ValidateUpgradeId(request->upgrade_id()); !s.ok()) return ToGrpcStatus(s);
  std::string last_sent;
  uint64_t generation = hub_.generation();
  // An upgrade admitted a moment ago may not be recorded yet: NOT_FOUND only if it stays unknown.
  const absl::Time appear_by = absl::Now() + kAppearGrace;
  for (;;) {
    absl::StatusOr<upgrade::v1::Upgrade> upgrade = store_.GetUpgrade(request->upgrade_id());
    if (!upgrade.ok()) {
      if (upgrade.status().code() != absl::StatusCode::kNotFound || absl::Now() > appear_by) {
        return ToGrpcStatus(upgrade.status());
      }
    } else {
      std::string bytes = upgrade->SerializeAsString();
      if (bytes != last_sent) {
        if (!writer->Write(*upgrade)) return grpc::Status::CANCELLED;
        last_sent = std::move(bytes);
      }
      if (IsFinal(upgrade->state())) return grpc::Status::OK;
    }
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    if (stopping_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "status service is stopping; watch again");
    // Changes recorded by this replica wake the watch at once; others are seen within a second.
    generation = hub_.Wait(generation, absl::Seconds(1));
  }
}

grpc::Status StatusServiceImpl::ListUpgrades(grpc::ServerContext* context, const upgrade::v1::ListUpgradesRequest* request,
                                             upgrade::v1::ListUpgradesResponse* response) {
  if (absl::Status s = MayRead(*context).status(); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = ValidateDatabaseName(request->database()); !s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<std::vector<upgrade::v1::Upgrade>> upgrades = store_.ListUpgrades(request->database());
  if (!upgrades.ok()) return ToGrpcStatus(upgrades.status());
  for (upgrade::v1::Upgrade& u : *upgrades) *response->add_upgrades() = std::move(u);
  return grpc::Status::OK;
}

}  // namespace upshift::status
