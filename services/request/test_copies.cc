#include "services/request/test_copies.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"
#include "libs/common/validation.h"
#include "libs/kafka/events.h"
#include "libs/kafka/topics.h"

namespace upshift::request {

absl::StatusOr<upgrade::v1::ExtendTestCopyResponse> TestCopies::Extend(
    const upgrade::v1::ExtendTestCopyRequest& request, const Principal& caller, ActedOn* acted_on,
    const AuditOf& audit_of) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kTest, "extending a test copy"));
  const std::string& copy = request.database();
  UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(copy));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> found, store_.FindByTestDatabase(copy));
  // Another tenant's copy is answered as a database that is no test copy.
  if (!found.has_value() || !caller.ActsFor(found->order.tenant())) {
    return absl::NotFoundError(absl::StrCat("\"", copy, "\" is not a test copy"));
  }
  if (acted_on != nullptr) *acted_on = {found->order.tenant(), found->order.upgrade_id()};
  if (found->order.purpose() == upgrade::v1::PURPOSE_CHECK) {
    return absl::FailedPreconditionError(
        absl::StrCat("\"", copy, "\" is the throwaway copy of a check: it is dropped when the check ends"));
  }
  absl::Time now = clock_.Now();
  UPSHIFT_ASSIGN_OR_RETURN(
      absl::Time expires_at,
      store_.ExtendCopy(
          found->order.upgrade_id(),
          [&](const StoredOrder& s) -> absl::StatusOr<absl::Time> {
            if (s.copy_removed) {
              return absl::FailedPreconditionError(absl::StrCat("test copy \"", copy, "\" was removed"));
            }
            if (s.outcome != Outcome::kSucceeded || s.copy_expires_at == absl::InfinitePast()) {
              return absl::FailedPreconditionError(
                  absl::StrCat("test copy \"", copy, "\" is not handed over yet: extend it once its upgrade succeeded"));
            }
            return std::max(s.copy_expires_at, now) + step_;
          },
          [&](const StoredOrder& s, absl::Time at) {
            upgrade::v1::Event event =
                MakeEvent(s.order, absl::StrCat("test_copy_extended/", absl::ToUnixMicros(at)), "request", now);
            ToProto(at, event.mutable_test_copy_extended()->mutable_expires_at());
            return OutgoingRecord{topics::kEvents, s.order.database(), event.SerializeAsString()};
          },
          audit_of));
  if (recorded_) recorded_();
  upgrade::v1::ExtendTestCopyResponse response;
  response.set_database(copy);
  ToProto(expires_at, response.mutable_expires_at());
  return response;
}

}  // namespace upshift::request
