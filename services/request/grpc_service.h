#ifndef UPSHIFT_SERVICES_REQUEST_GRPC_SERVICE_H_
#define UPSHIFT_SERVICES_REQUEST_GRPC_SERVICE_H_

#include <optional>

#include "libs/auth/grpc_auth.h"
#include "services/request/server_board.h"
#include "services/request/admission.h"
#include "services/request/auditor.h"
#include "services/request/cancellation.h"
#include "services/request/gate_policy.h"
#include "services/request/maintenance_window.h"
#include "services/request/rollouts.h"
#include "services/request/work_claims.h"
#include "services/request/test_copies.h"
#include "upgrade/v1/audit.grpc.pb.h"
#include "upgrade/v1/gate.grpc.pb.h"
#include "upgrade/v1/upgrade.grpc.pb.h"

namespace upshift::request {

// upgrade.v1.UpgradeService: translates between gRPC and the logic, nothing more.
class UpgradeServiceImpl final : public upgrade::v1::UpgradeService::Service {
 public:
  // Every call is authenticated by `auth` first; the logic decides what its principal may do.
  // Every mutating call, answered, goes to `auditor`.
  UpgradeServiceImpl(const Authenticator& auth, Admission& admission, Cancellation& cancellation, TestCopies& copies,
                     Auditor& auditor, ServerBoard& servers, MaintenanceWindows& windows)
      : auth_(auth),
        admission_(admission),
        cancellation_(cancellation),
        copies_(copies),
        auditor_(auditor),
        servers_(servers),
        windows_(windows) {}

  grpc::Status RequestUpgrade(grpc::ServerContext* context, const upgrade::v1::RequestUpgradeRequest* request,
                              upgrade::v1::RequestUpgradeResponse* response) override;
  grpc::Status GetUpgradeOptions(grpc::ServerContext* context, const upgrade::v1::GetUpgradeOptionsRequest* request,
                                 upgrade::v1::GetUpgradeOptionsResponse* response) override;
  grpc::Status CancelUpgrade(grpc::ServerContext* context, const upgrade::v1::CancelUpgradeRequest* request,
                             upgrade::v1::CancelUpgradeResponse* response) override;
  grpc::Status ExtendTestCopy(grpc::ServerContext* context, const upgrade::v1::ExtendTestCopyRequest* request,
                              upgrade::v1::ExtendTestCopyResponse* response) override;
  grpc::Status CheckUpgrade(grpc::ServerContext* context, const upgrade::v1::CheckUpgradeRequest* request,
                            upgrade::v1::CheckUpgradeResponse* response) override;
  grpc::Status ListServers(grpc::ServerContext* context, const upgrade::v1::ListServersRequest* request,
                           upgrade::v1::ListServersResponse* response) override;
  grpc::Status RevertUpgrade(grpc::ServerContext* context, const upgrade::v1::RevertUpgradeRequest* request,
                             upgrade::v1::RevertUpgradeResponse* response) override;
  grpc::Status SetMaintenanceWindow(grpc::ServerContext* context,
                                    const upgrade::v1::SetMaintenanceWindowRequest* request,
                                    upgrade::v1::SetMaintenanceWindowResponse* response) override;
  grpc::Status GetMaintenanceWindow(grpc::ServerContext* context,
                                    const upgrade::v1::GetMaintenanceWindowRequest* request,
                                    upgrade::v1::GetMaintenanceWindowResponse* response) override;

 private:
  // Records `call` in the audit trail, unless its decision's transaction did (`written_in_decision`
  // and the call succeeded).
  void Audit(const AuditedCall& call, bool written_in_decision);
  const Authenticator& auth_;
  Admission& admission_;
  Cancellation& cancellation_;
  TestCopies& copies_;
  Auditor& auditor_;
  ServerBoard& servers_;
  MaintenanceWindows& windows_;
};

// upgrade.v1.AuditService: the audit trail, for operators.
class AuditServiceImpl final : public upgrade::v1::AuditService::Service {
 public:
  AuditServiceImpl(const Authenticator& auth, Auditor& auditor) : auth_(auth), auditor_(auditor) {}
  grpc::Status ListAuditRecords(grpc::ServerContext* context, const upgrade::v1::ListAuditRecordsRequest* request,
                                upgrade::v1::ListAuditRecordsResponse* response) override;

 private:
  const Authenticator& auth_;
  Auditor& auditor_;
};

// upgrade.v1.RolloutService: fleet upgrades in waves, for operators. Every action is audited.
class RolloutServiceImpl final : public upgrade::v1::RolloutService::Service {
 public:
  RolloutServiceImpl(const Authenticator& auth, Rollouts& rollouts, Auditor& auditor)
      : auth_(auth), rollouts_(rollouts), auditor_(auditor) {}
  grpc::Status StartRollout(grpc::ServerContext* context, const upgrade::v1::StartRolloutRequest* request,
                            upgrade::v1::Rollout* response) override;
  grpc::Status GetRollout(grpc::ServerContext* context, const upgrade::v1::GetRolloutRequest* request,
                          upgrade::v1::Rollout* response) override;
  grpc::Status ListRollouts(grpc::ServerContext* context, const upgrade::v1::ListRolloutsRequest* request,
                            upgrade::v1::ListRolloutsResponse* response) override;
  grpc::Status PauseRollout(grpc::ServerContext* context, const upgrade::v1::RolloutActionRequest* request,
                            upgrade::v1::Rollout* response) override;
  grpc::Status ResumeRollout(grpc::ServerContext* context, const upgrade::v1::RolloutActionRequest* request,
                             upgrade::v1::Rollout* response) override;
  grpc::Status CancelRollout(grpc::ServerContext* context, const upgrade::v1::RolloutActionRequest* request,
                             upgrade::v1::Rollout* response) override;

 private:
  // Authenticates, runs `act` and audits the call as `rpc` (its rollout, once known).
  grpc::Status Act(grpc::ServerContext& context, const std::string& rpc, const std::string& rollout_id,
                   const std::string& request_id,
                   const std::function<absl::StatusOr<upgrade::v1::Rollout>(const Principal&)>& act,
                   upgrade::v1::Rollout* response);

  const Authenticator& auth_;
  Rollouts& rollouts_;
  Auditor& auditor_;
};

// upgrade.v1.UpgradeGate (internal, for the workers): identifies the caller's certificate by the
// GatePolicy, then translates to Cancellation and WorkClaims. With `identities` unset (plaintext:
// no certificate to read) every caller is taken as any worker, as --insecure_plaintext says.
class UpgradeGateImpl final : public upgrade::v1::UpgradeGate::Service {
 public:
  UpgradeGateImpl(Cancellation& cancellation, WorkClaims& claims, std::optional<GatePolicy> policy)
      : cancellation_(cancellation), claims_(claims), policy_(std::move(policy)) {}
  grpc::Status PassCheckpoint(grpc::ServerContext* context, const upgrade::v1::PassCheckpointRequest* request,
                              upgrade::v1::PassCheckpointResponse* response) override;
  grpc::Status GetOrder(grpc::ServerContext* context, const upgrade::v1::GetOrderRequest* request,
                        upgrade::v1::GetOrderResponse* response) override;
  grpc::Status ClaimWork(grpc::ServerContext* context, const upgrade::v1::ClaimWorkRequest* request,
                         upgrade::v1::ClaimWorkResponse* response) override;
  grpc::Status ReleaseWork(grpc::ServerContext* context, const upgrade::v1::ReleaseWorkRequest* request,
                           upgrade::v1::ReleaseWorkResponse* response) override;

 private:
  // The worker the peer's certificate identifies (nullopt: any, without TLS); PERMISSION_DENIED.
  absl::StatusOr<std::optional<GateWorker>> Caller(const grpc::ServerContext& context) const;

  Cancellation& cancellation_;
  WorkClaims& claims_;
  const std::optional<GatePolicy> policy_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_GRPC_SERVICE_H_
