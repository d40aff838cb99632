#include "services/request/grpc_service.h"

#include "absl/strings/str_cat.h"
#include "libs/common/deadline.h"
#include "libs/common/grpc_util.h"

namespace upshift::request {
namespace {

// The audit of a mutating call of UpgradeService's: what it named, so far.
AuditedCall Call(const grpc::ServerContext& context, const std::string& rpc, const absl::StatusOr<Principal>& caller,
                 const std::string& database, const std::string& upgrade_id, const std::string& request_id) {
  AuditedCall call;
  call.method = absl::StrCat("upgrade.v1.UpgradeService/", rpc);
  call.peer = context.peer();
  call.caller = caller.ok() ? &*caller : nullptr;
  call.database = database;
  call.upgrade_id = upgrade_id;
  call.request_id = request_id;
  call.result = caller.status();
  return call;
}

}  // namespace

void UpgradeServiceImpl::Audit(const AuditedCall& call, bool written_in_decision) {
  if (written_in_decision && call.result.ok()) return;
  auditor_.Record(call).IgnoreError();  // logged; the call's answer stands
}

grpc::Status UpgradeServiceImpl::RequestUpgrade(grpc::ServerContext* context,
                                                const upgrade::v1::RequestUpgradeRequest* request,
                                                upgrade::v1::RequestUpgradeResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  DeadlineScope within(DeadlineOf(*context));
  AuditedCall call = Call(*context, "RequestUpgrade", caller, request->database(), "", request->request_id());
  bool audited = false;
  if (caller.ok()) {
    absl::StatusOr<upgrade::v1::Upgrade> upgrade =
        admission_.RequestUpgrade(*request, *caller, AuditInDecision(auditor_, call, &audited, &admission_));
    call.result = upgrade.status();
    if (upgrade.ok()) {
      call.tenant = upgrade->tenant();
      call.upgrade_id = upgrade->upgrade_id();
      *response->mutable_upgrade() = *std::move(upgrade);
    }
  }
  Audit(call, audited);
  return ToGrpcStatus(call.result);
}

grpc::Status UpgradeServiceImpl::GetUpgradeOptions(grpc::ServerContext* context,
                                                   const upgrade::v1::GetUpgradeOptionsRequest* request,
                                                   upgrade::v1::GetUpgradeOptionsResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  DeadlineScope within(DeadlineOf(*context));
  absl::StatusOr<upgrade::v1::GetUpgradeOptionsResponse> options = admission_.GetUpgradeOptions(*request, *caller);
  if (!options.ok()) return ToGrpcStatus(options.status());
  *response = *std::move(options);
  return grpc::Status::OK;
}

grpc::Status UpgradeServiceImpl::ListServers(grpc::ServerContext* context, const upgrade::v1::ListServersRequest*,
                                             upgrade::v1::ListServersResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::ListServersResponse> servers = servers_.List(*caller);
  if (!servers.ok()) return ToGrpcStatus(servers.status());
  *response = *std::move(servers);
  return grpc::Status::OK;
}

grpc::Status UpgradeServiceImpl::CancelUpgrade(grpc::ServerContext* context,
                                               const upgrade::v1::CancelUpgradeRequest* request,
                                               upgrade::v1::CancelUpgradeResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  AuditedCall call = Call(*context, "CancelUpgrade", caller, "", request->upgrade_id(), "");
  bool audited = false;
  if (caller.ok()) {
    absl::StatusOr<upgrade::v1::Upgrade> upgrade =
        cancellation_.Cancel(*request, *caller, AuditInDecision(auditor_, call, &audited, nullptr));
    call.result = upgrade.status();
    if (upgrade.ok()) {
      call.tenant = upgrade->tenant();
      call.database = upgrade->database();
      *response->mutable_upgrade() = *std::move(upgrade);
    }
  }
  Audit(call, audited);
  return ToGrpcStatus(call.result);
}

grpc::Status UpgradeServiceImpl::ExtendTestCopy(grpc::ServerContext* context,
                                                const upgrade::v1::ExtendTestCopyRequest* request,
                                                upgrade::v1::ExtendTestCopyResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  AuditedCall call = Call(*context, "ExtendTestCopy", caller, request->database(), "", "");
  bool audited = false;
  if (caller.ok()) {
    TestCopies::ActedOn acted_on;
    absl::StatusOr<upgrade::v1::ExtendTestCopyResponse> extended =
        copies_.Extend(*request, *caller, &acted_on, AuditInDecision(auditor_, call, &audited, nullptr));
    call.result = extended.status();
    call.tenant = acted_on.tenant;
    call.upgrade_id = acted_on.upgrade_id;
    if (extended.ok()) *response = *std::move(extended);
  }
  Audit(call, audited);
  return ToGrpcStatus(call.result);
}

grpc::Status UpgradeServiceImpl::CheckUpgrade(grpc::ServerContext* context,
                                              const upgrade::v1::CheckUpgradeRequest* request,
                                              upgrade::v1::CheckUpgradeResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  DeadlineScope within(DeadlineOf(*context));
  AuditedCall call = Call(*context, "CheckUpgrade", caller, request->database(), "", request->request_id());
  bool audited = false;
  if (caller.ok()) {
    absl::StatusOr<upgrade::v1::Upgrade> check =
        admission_.CheckUpgrade(*request, *caller, AuditInDecision(auditor_, call, &audited, &admission_));
    call.result = check.status();
    if (check.ok()) {
      call.tenant = check->tenant();
      call.upgrade_id = check->upgrade_id();
      *response->mutable_upgrade() = *std::move(check);
    }
  }
  Audit(call, audited);
  return ToGrpcStatus(call.result);
}

grpc::Status UpgradeServiceImpl::RevertUpgrade(grpc::ServerContext* context,
                                               const upgrade::v1::RevertUpgradeRequest* request,
                                               upgrade::v1::RevertUpgradeResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  DeadlineScope within(DeadlineOf(*context));
  AuditedCall call = Call(*context, "RevertUpgrade", caller, "", request->upgrade_id(), request->request_id());
  bool audited = false;
  if (caller.ok()) {
    absl::StatusOr<upgrade::v1::RevertUpgradeResponse> revert =
        admission_.RevertUpgrade(*request, *caller, AuditInDecision(auditor_, call, &audited, nullptr));
    call.result = revert.status();
    if (revert.ok()) {
      call.tenant = revert->upgrade().tenant();
      call.database = revert->upgrade().database();
      call.upgrade_id = revert->upgrade().upgrade_id();
      *response = *std::move(revert);
    }
  }
  Audit(call, audited);
  return ToGrpcStatus(call.result);
}

grpc::Status UpgradeServiceImpl::SetMaintenanceWindow(grpc::ServerContext* context,
                                                      const upgrade::v1::SetMaintenanceWindowRequest* request,
                                                      upgrade::v1::SetMaintenanceWindowResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  DeadlineScope within(DeadlineOf(*context));
  AuditedCall call = Call(*context, "SetMaintenanceWindow", caller, request->database(), "", "");
  call.tenant = request->database().empty() ? request->tenant() : "";
  bool audited = false;
  if (caller.ok()) {
    absl::StatusOr<upgrade::v1::SetMaintenanceWindowResponse> set =
        windows_.Set(*request, *caller, AuditInDecision(auditor_, call, &audited, nullptr));
    call.result = set.status();
    if (set.ok()) *response = *std::move(set);
  }
  Audit(call, audited);
  return ToGrpcStatus(call.result);
}

grpc::Status UpgradeServiceImpl::GetMaintenanceWindow(grpc::ServerContext* context,
                                                      const upgrade::v1::GetMaintenanceWindowRequest* request,
                                                      upgrade::v1::GetMaintenanceWindowResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  DeadlineScope within(DeadlineOf(*context));
  absl::StatusOr<upgrade::v1::GetMaintenanceWindowResponse> window = windows_.Get(*request, *caller);
  if (!window.ok()) return ToGrpcStatus(window.status());
  *response = *std::move(window);
  return grpc::Status::OK;
}

absl::StatusOr<std::optional<GateWorker>> UpgradeGateImpl::Caller(const grpc::ServerContext& context) const {
  if (!policy_.has_value()) return std::nullopt;
  std::vector<std::string> names;
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
      for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
        names.emplace_back(value.data(), value.size());
      }
    }
  }
  absl::StatusOr<GateWorker> worker = policy_->Identify(names);
  if (!worker.ok()) return worker.status();
  return std::optional<GateWorker>(*worker);
}

grpc::Status UpgradeGateImpl::PassCheckpoint(grpc::ServerContext* context, const upgrade::v1::PassCheckpointRequest* request,
                                             upgrade::v1::PassCheckpointResponse* response) {
  absl::StatusOr<std::optional<GateWorker>> caller = Caller(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (caller->has_value()) {
    if (absl::Status allowed = GatePolicy::MayPass(**caller, request->checkpoint()); !allowed.ok()) {
      return ToGrpcStatus(allowed);
    }
  }
  absl::StatusOr<upgrade::v1::PassCheckpointResponse> result = cancellation_.PassCheckpoint(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status UpgradeGateImpl::GetOrder(grpc::ServerContext* context, const upgrade::v1::GetOrderRequest* request,
                                       upgrade::v1::GetOrderResponse* response) {
  if (absl::Status identified = Caller(*context).status(); !identified.ok()) return ToGrpcStatus(identified);
  absl::StatusOr<upgrade::v1::GetOrderResponse> result = cancellation_.GetOrder(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status UpgradeGateImpl::ClaimWork(grpc::ServerContext* context, const upgrade::v1::ClaimWorkRequest* request,
                                        upgrade::v1::ClaimWorkResponse* response) {
  absl::StatusOr<std::optional<GateWorker>> caller = Caller(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (caller->has_value()) {
    if (absl::Status allowed = GatePolicy::MayClaim(**caller, request->work()); !allowed.ok()) {
      return ToGrpcStatus(allowed);
    }
  }
  absl::StatusOr<upgrade::v1::ClaimWorkResponse> result = claims_.Claim(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status UpgradeGateImpl::ReleaseWork(grpc::ServerContext* context, const upgrade::v1::ReleaseWorkRequest* request,
                                          upgrade::v1::ReleaseWorkResponse*) {
  absl::StatusOr<std::optional<GateWorker>> caller = Caller(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (caller->has_value()) {
    if (absl::Status allowed = GatePolicy::MayClaim(**caller, request->work()); !allowed.ok()) {
      return ToGrpcStatus(allowed);
    }
  }
  return ToGrpcStatus(claims_.Release(*request));
}

grpc::Status AuditServiceImpl::ListAuditRecords(grpc::ServerContext* context,
                                                const upgrade::v1::ListAuditRecordsRequest* request,
                                                upgrade::v1::ListAuditRecordsResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::ListAuditRecordsResponse> page = auditor_.List(*caller, *request);
  if (!page.ok()) return ToGrpcStatus(page.status());
  *response = *std::move(page);
  return grpc::Status::OK;
}

grpc::Status RolloutServiceImpl::Act(grpc::ServerContext& context, const std::string& rpc,
                                     const std::string& rollout_id, const std::string& request_id,
                                     const std::function<absl::StatusOr<upgrade::v1::Rollout>(const Principal&)>& act,
                                     upgrade::v1::Rollout* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(context);
  DeadlineScope within(DeadlineOf(context));
  AuditedCall call;
  call.method = absl::StrCat("upgrade.v1.RolloutService/", rpc);
  call.peer = context.peer();
  call.caller = caller.ok() ? &*caller : nullptr;
  call.rollout_id = rollout_id;
  call.request_id = request_id;
  call.result = caller.status();
  if (caller.ok()) {
    absl::StatusOr<upgrade::v1::Rollout> rollout = act(*caller);
    call.result = rollout.status();
    if (rollout.ok()) {
      call.rollout_id = rollout->rollout_id();
      *response = *std::move(rollout);
    }
  }
  auditor_.Record(call).IgnoreError();  // logged; the call's answer stands
  return ToGrpcStatus(call.result);
}

grpc::Status RolloutServiceImpl::StartRollout(grpc::ServerContext* context,
                                              const upgrade::v1::StartRolloutRequest* request,
                                              upgrade::v1::Rollout* response) {
  return Act(*context, "StartRollout", "", request->request_id(),
             [&](const Principal& caller) { return rollouts_.Start(*request, caller); }, response);
}

grpc::Status RolloutServiceImpl::PauseRollout(grpc::ServerContext* context,
                                              const upgrade::v1::RolloutActionRequest* request,
                                              upgrade::v1::Rollout* response) {
  return Act(*context, "PauseRollout", request->rollout_id(), "",
             [&](const Principal& caller) { return rollouts_.Pause(request->rollout_id(), caller); }, response);
}

grpc::Status RolloutServiceImpl::ResumeRollout(grpc::ServerContext* context,
                                               const upgrade::v1::RolloutActionRequest* request,
                                               upgrade::v1::Rollout* response) {
  return Act(*context, "ResumeRollout", request->rollout_id(), "",
             [&](const Principal& caller) { return rollouts_.Resume(request->rollout_id(), caller); }, response);
}

grpc::Status RolloutServiceImpl::CancelRollout(grpc::ServerContext* context,
                                               const upgrade::v1::RolloutActionRequest* request,
                                               upgrade::v1::Rollout* response) {
  return Act(*context, "CancelRollout", request->rollout_id(), "",
             [&](const Principal& caller) { return rollouts_.Cancel(request->rollout_id(), caller); }, response);
}

grpc::Status RolloutServiceImpl::GetRollout(grpc::ServerContext* context, const upgrade::v1::GetRolloutRequest* request,
                                            upgrade::v1::Rollout* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::Rollout> rollout = rollouts_.Get(request->rollout_id(), *caller);
  if (!rollout.ok()) return ToGrpcStatus(rollout.status());
  *response = *std::move(rollout);
  return grpc::Status::OK;
}

grpc::Status RolloutServiceImpl::ListRollouts(grpc::ServerContext* context,
                                              const upgrade::v1::ListRolloutsRequest* request,
                                              upgrade::v1::ListRolloutsResponse* response) {
  absl::StatusOr<Principal> caller = auth_.Authenticate(*context);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<upgrade::v1::ListRolloutsResponse> list = rollouts_.List(*request, *caller);
  if (!list.ok()) return ToGrpcStatus(list.status());
  *response = *std::move(list);
  return grpc::Status::OK;
}

}  // namespace upshift::request
