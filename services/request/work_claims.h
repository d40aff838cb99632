#ifndef UPSHIFT_SERVICES_REQUEST_WORK_CLAIMS_H_
#define UPSHIFT_SERVICES_REQUEST_WORK_CLAIMS_H_

#include "absl/status/statusor.h"
#include "services/request/claim_store.h"
#include "services/request/order_store.h"
#include "upgrade/v1/gate.pb.h"

namespace upshift::request {

// The gate's claims: a worker replica claims a piece of an upgrade's work before it starts it, so
// that no two replicas do it at once (see upgrade.v1.ClaimWorkRequest). Thread-safe.
class WorkClaims {
 public:
  WorkClaims(OrderBook& orders, ClaimStore& claims) : orders_(orders), claims_(claims) {}

  // INVALID_ARGUMENT: a malformed id, an unknown kind of work, a holder that is empty, longer than
  // 200 bytes or not printable ASCII, or a ttl outside [1 s, 10 min]. NOT_FOUND: no such upgrade.
  absl::StatusOr<upgrade::v1::ClaimWorkResponse> Claim(const upgrade::v1::ClaimWorkRequest& request);
  // INVALID_ARGUMENT as Claim.
  absl::Status Release(const upgrade::v1::ReleaseWorkRequest& request);

 private:
  OrderBook& orders_;
  ClaimStore& claims_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_WORK_CLAIMS_H_
