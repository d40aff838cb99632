#include "services/request/cancellation.h"

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"
#include "libs/common/validation.h"
#include "libs/kafka/events.h"
#include "libs/kafka/topics.h"
#include "services/request/admission.h"

namespace upshift::request {

absl::StatusOr<upgrade::v1::Upgrade> Cancellation::Cancel(const upgrade::v1::CancelUpgradeRequest& request,
                                                          const Principal& caller, const AuditOf& audit_of) {
  // Some ordering scope first, before anything is looked up; the upgrade's own purpose decides below.
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, caller.Has(scopes::kProduction) ? scopes::kProduction : scopes::kTest,
                                       "cancelling an upgrade"));
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(request.upgrade_id()));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> found, store_.FindByUpgradeId(request.upgrade_id()));
  // Another tenant's upgrade is answered as an unknown one.
  if (!found.has_value() || !caller.ActsFor(found->order.tenant())) {
    return absl::NotFoundError(absl::StrCat("no upgrade ", request.upgrade_id()));
  }
  const bool production = found->order.purpose() == upgrade::v1::PURPOSE_PRODUCTION;
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, production ? scopes::kProduction : scopes::kTest,
                                       production ? "cancelling a Production upgrade" : "cancelling a Test or a check"));
  absl::Time now = clock_.Now();
  UPSHIFT_ASSIGN_OR_RETURN(StoredOrder stored,
                           store_.Cancel(request.upgrade_id(), now, [&](const StoredOrder& s) {
                             // A scheduled upgrade never started: it ends here, and request says so.
                             if (s.outcome == Outcome::kCancelled) {
                               upgrade::v1::Event event = MakeEvent(s.order, "cancelled", "request", now);
                               event.mutable_cancelled()->set_reason("cancelled on request before its scheduled start");
                               return OutgoingRecord{topics::kEvents, s.order.database(), event.SerializeAsString()};
                             }
                             upgrade::v1::Event event = MakeEvent(s.order, "cancel_requested", "request", now);
                             event.mutable_cancel_requested();
                             return OutgoingRecord{topics::kEvents, s.order.database(), event.SerializeAsString()};
                           },
                           audit_of));
  if (recorded_) recorded_();
  upgrade::v1::Upgrade upgrade = UpgradeOf(stored);
  upgrade.set_cancellable(false);
  return upgrade;
}

absl::StatusOr<upgrade::v1::PassCheckpointResponse> Cancellation::PassCheckpoint(
    const upgrade::v1::PassCheckpointRequest& request) {
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(request.upgrade_id()));
  if (request.checkpoint() == upgrade::v1::CHECKPOINT_UNSPECIFIED) {
    return absl::InvalidArgumentError("checkpoint is required");
  }
  // Which checkpoint ends cancellability depends on the purpose: look the order up first.
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> found, store_.FindByUpgradeId(request.upgrade_id()));
  if (!found.has_value()) return absl::NotFoundError(absl::StrCat("no upgrade ", request.upgrade_id()));
  if (found->outcome != Outcome::kActive) {  // a worker saw a record again after the upgrade's end
    upgrade::v1::PassCheckpointResponse response;
    response.set_proceed(false);
    response.set_ended(true);
    response.set_reason(absl::StrCat("upgrade ", request.upgrade_id(), " has already ended"));
    return response;
  }
  bool production = found->order.purpose() == upgrade::v1::PURPOSE_PRODUCTION;
  // A revert cannot be stopped once its database goes offline: the swap follows at once.
  const bool revert = found->order.purpose() == upgrade::v1::PURPOSE_REVERT;
  bool point_of_no_return = production ? request.checkpoint() == upgrade::v1::CHECKPOINT_BEGIN_MIGRATION
                            : revert   ? request.checkpoint() == upgrade::v1::CHECKPOINT_TAKE_OFFLINE
                                       : request.checkpoint() == upgrade::v1::CHECKPOINT_FINISH;
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<absl::Time> cancelled,
                           store_.PassCheckpoint(request.upgrade_id(), point_of_no_return, clock_.Now()));
  upgrade::v1::PassCheckpointResponse response;
  response.set_proceed(!cancelled.has_value());
  if (cancelled.has_value()) {
    response.set_reason(absl::StrCat("cancelled on request at ",
                                     absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", *cancelled, absl::UTCTimeZone())));
  }
  return response;
}

absl::StatusOr<upgrade::v1::GetOrderResponse> Cancellation::GetOrder(const upgrade::v1::GetOrderRequest& request) {
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(request.upgrade_id()));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> found, store_.FindByUpgradeId(request.upgrade_id()));
  if (!found.has_value()) return absl::NotFoundError(absl::StrCat("request admitted no upgrade ", request.upgrade_id()));
  upgrade::v1::GetOrderResponse response;
  *response.mutable_order() = std::move(found->order);
  response.set_cancel_requested(found->cancel_requested_at != absl::InfinitePast());
  response.set_past_point_of_no_return(found->no_return_at != absl::InfinitePast());
  response.set_ended(found->outcome != Outcome::kActive);
  return response;
}

}  // namespace upshift::request
