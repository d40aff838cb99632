#ifndef UPSHIFT_SERVICES_REQUEST_AUDITOR_H_
#define UPSHIFT_SERVICES_REQUEST_AUDITOR_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/auth/principal.h"
#include "libs/common/rate_limiter.h"
#include "libs/common/time.h"
#include "services/request/audit_log.h"
#include "upgrade/v1/audit.pb.h"

namespace upshift::request {

// One mutating call as the edge saw it and the logic answered it.
struct AuditedCall {
  std::string method;  // "upgrade.v1.UpgradeService/RequestUpgrade"
  std::string peer;
  const Principal* caller = nullptr;  // null: not authenticated
  std::string tenant;                 // the order's, when the answer names one
  std::string database;
  std::string upgrade_id;
  std::string request_id;
  absl::Status result;
  std::vector<std::string> superuser_steps;  // of the admitted order's plan
  std::string rollout_id;                    // a RolloutService call, or an order a rollout placed
};

// Keeps the audit trail: records every mutating call of an authenticated caller, and shows the
// trail to operators. Thread-safe.
class Auditor {
 public:
  // `recorded` is called after each appended record (to wake the outbox relay). `refusals`, when
  // given, bounds the refused calls each tenant may have stored (see Record).
  Auditor(AuditLog& log, Clock& clock, std::function<void()> recorded, Limiter* refusals = nullptr)
      : log_(log), clock_(clock), recorded_(std::move(recorded)), refusals_(refusals) {}

  // Appends `call` to the trail. A call that was not authenticated is only logged: anyone can make
  // those, and they must not be able to fill the platform database. Nor may a tenant with refused
  // calls (a malformed name costs nothing to send): past its `refusals` budget, a refused call is
  // logged and counted (upshift_audit_refusals_not_stored_total), not stored. A decision is always
  // recorded, in its own transaction (AuditOf). A failure to append is logged (the call was
  // answered already) and returned.
  absl::Status Record(const AuditedCall& call);

  // The record and outbox entry of `call`, for a decision's own transaction (see AuditOf); nullopt
  // for a call that was not authenticated (only logged: see Record).
  std::optional<AuditEntry> Entry(const AuditedCall& call);

  // A page of the trail, newest first. PERMISSION_DENIED without upgrades.operator;
  // INVALID_ARGUMENT for a bad filter, page size or token.
  absl::StatusOr<upgrade::v1::ListAuditRecordsResponse> List(const Principal& caller,
                                                            const upgrade::v1::ListAuditRecordsRequest& request);

 private:
  AuditLog& log_;
  Clock& clock_;
  std::function<void()> recorded_;
  Limiter* refusals_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_AUDITOR_H_
