#include "services/request/auditor.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"
#include "libs/common/paging.h"
#include "libs/common/status_macros.h"
#include "libs/common/validation.h"
#include "libs/kafka/topics.h"
#include "libs/metrics/metrics.h"

namespace upshift::request {

absl::Status Auditor::Record(const AuditedCall& call) {
  std::optional<AuditEntry> entry = Entry(call);
  if (!entry.has_value()) {
    LogWarning(absl::StrCat("unauthenticated ", call.method, " from ", call.peer, ": ", call.result.message()));
    return absl::OkStatus();
  }
  if (!call.result.ok() && refusals_ != nullptr && !call.caller->ForEveryTenant()) {
    const std::string& tenant = call.caller->tenant;
    if (absl::Status budget = refusals_->Take(tenant, "stored refusals"); !budget.ok()) {
      static metrics::Family& dropped = metrics::Default().Counter(
          "upshift_audit_refusals_not_stored_total",
          "Refused calls of a tenant past its budget of stored refusals: logged, not stored", {});
      dropped.Increment({});
      if (budget.code() != absl::StatusCode::kResourceExhausted) return budget;
      LogWarning(absl::StrCat("not storing the audit of a refused ", call.method, " by ", call.caller->subject,
                              " of tenant ", tenant, ": ", budget.message(), "; ", call.result.ToString()));
      return absl::OkStatus();
    }
  }
  absl::Status appended = log_.Append(entry->record, entry->published);
  if (!appended.ok()) {
    LogError(absl::StrCat("cannot record the audit of ", call.method, " by ", call.caller->subject, ": ",
                          appended.ToString()));
    return appended;
  }
  if (recorded_) recorded_();
  return absl::OkStatus();
}

std::optional<AuditEntry> Auditor::Entry(const AuditedCall& call) {
  if (call.caller == nullptr) return std::nullopt;
  upgrade::v1::AuditRecord record;
  record.set_audit_id(NewUpgradeId());
  ToProto(clock_.Now(), record.mutable_at());
  record.set_subject(call.caller->subject);
  record.set_caller_tenant(call.caller->tenant);
  record.set_by_operator(call.caller->ForEveryTenant());
  record.set_tenant(call.tenant.empty() ? call.caller->tenant : call.tenant);
  record.set_peer(call.peer);
  record.set_method(call.method);
  // What the caller sent is kept only once it is known to be harmless: a name that fails
  // validation is recorded as empty (the answer's message says what was wrong with it).
  if (ValidateDatabaseName(call.database).ok()) record.set_database(call.database);
  if (ValidateUpgradeId(call.upgrade_id).ok()) record.set_upgrade_id(call.upgrade_id);
  if (ValidateRequestId(call.request_id).ok()) record.set_request_id(call.request_id);
  if (ValidateUpgradeId(call.rollout_id).ok()) record.set_rollout_id(call.rollout_id);
  record.set_code(static_cast<int>(call.result.code()));
  record.set_message(std::string(call.result.message().substr(0, 2000)));
  for (const std::string& step : call.superuser_steps) record.add_superuser_steps(step);
  OutgoingRecord published{topics::kAudit, record.tenant(), record.SerializeAsString()};
  return AuditEntry{std::move(record), std::move(published)};
}

absl::StatusOr<upgrade::v1::ListAuditRecordsResponse> Auditor::List(
    const Principal& caller, const upgrade::v1::ListAuditRecordsRequest& request) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kOperator, "reading the audit trail"));
  if (!request.database().empty()) UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(request.database()));
  if (request.tenant().size() > 63) return absl::InvalidArgumentError("tenant is a role name: at most 63 bytes");
  UPSHIFT_ASSIGN_OR_RETURN(int limit, PageSize(request.page_size()));
  int64_t before = 0;
  if (!request.page_token().empty()) {
    UPSHIFT_ASSIGN_OR_RETURN(std::vector<std::string> fields, ParsePageToken(request.page_token(), "audit", 1));
    if (!absl::SimpleAtoi(fields[0], &before) || before <= 0) {
      return absl::InvalidArgumentError("page_token is not one this service handed out");
    }
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<NumberedAuditRecord> records,
                           log_.ListAudit(request.tenant(), request.database(), before, limit + 1));
  upgrade::v1::ListAuditRecordsResponse response;
  for (int i = 0; i < static_cast<int>(records.size()) && i < limit; ++i) *response.add_records() = records[i].record;
  if (static_cast<int>(records.size()) > limit) {
    response.set_next_page_token(PageToken("audit", {absl::StrCat(records[limit - 1].seq)}));
  }
  return response;
}

}  // namespace upshift::request
