#ifndef UPSHIFT_SERVICES_REQUEST_CANCELLATION_H_
#define UPSHIFT_SERVICES_REQUEST_CANCELLATION_H_

#include <functional>

#include "absl/status/statusor.h"
#include "libs/auth/principal.h"
#include "libs/common/time.h"
#include "services/request/order_store.h"
#include "upgrade/v1/gate.pb.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::request {

// Decides cancellations, and whether a worker may pass a checkpoint: the two meet in one
// transaction on the order, so a cancellation and a Production upgrade's in-place migration can
// never both go ahead. Thread-safe.
class Cancellation {
 public:
  Cancellation(OrderStore& store, Clock& clock, std::function<void()> recorded)
      : store_(store), clock_(clock), recorded_(std::move(recorded)) {}

  // INVALID_ARGUMENT: malformed id. NOT_FOUND: unknown, or another tenant's. FAILED_PRECONDITION: ended, or a Production
  // upgrade whose in-place migration started.
  // PERMISSION_DENIED unless `caller` holds the scope that orders the upgrade's purpose.
  // `audit_of`, when given, makes the audit record written with the cancellation.
  absl::StatusOr<upgrade::v1::Upgrade> Cancel(const upgrade::v1::CancelUpgradeRequest& request, const Principal& caller,
                                              const AuditOf& audit_of = nullptr);

  // proceed = false once the upgrade was cancelled, and with ended = true once it ended (a worker saw
  // a record again after the end: nothing is left to do). Passing CHECKPOINT_BEGIN_MIGRATION of a
  // Production upgrade, or CHECKPOINT_FINISH of a Test, makes it no longer cancellable.
  absl::StatusOr<upgrade::v1::PassCheckpointResponse> PassCheckpoint(
      const upgrade::v1::PassCheckpointRequest& request);

  // The stored order of an upgrade, for a worker to act on instead of the record that woke it.
  // INVALID_ARGUMENT: malformed id. NOT_FOUND: no such upgrade.
  absl::StatusOr<upgrade::v1::GetOrderResponse> GetOrder(const upgrade::v1::GetOrderRequest& request);

 private:
  OrderStore& store_;
  Clock& clock_;
  std::function<void()> recorded_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_CANCELLATION_H_
