#ifndef UPSHIFT_SERVICES_REQUEST_WORK_CLAIMS_H_
#define UPSHIFT_SERVICES_REQUEST_WORK_CLAIMS_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "services/request/claim_store.h"
#include "services/request/order_store.h"
#include "upgrade/v1/gate.pb.h"

namespace upshift::request {

// The gate's claims: a worker replica claims a piece of an upgrade's work before it starts it, so
// that no two replicas do it at once (see upgrade.v1.ClaimWorkRequest). Thread-safe.
class WorkClaims {
 public:
  // A server's limit for a pool of work ("copies": copies and restore points; "plans"), from the
  // inventory as it is now: 0 for none (or a server the inventory does not hold).
  using LimitOf = std::function<int(const std::string& server, const std::string& pool)>;

  WorkClaims(OrderBook& orders, ClaimStore& claims, LimitOf limit_of = nullptr)
      : orders_(orders), claims_(claims), limit_of_(std::move(limit_of)) {}

  // INVALID_ARGUMENT: a malformed id, an unknown kind of work, a holder that is empty, longer than
  // 200 bytes or not printable ASCII, or a ttl outside [1 s, 10 min]. NOT_FOUND: no such upgrade.
  // A new claim waits (not granted, `waiting_for` says why) while the order's server runs its
  // limit of such work. A Production plan never waits for max_plans: its database is offline, and
  // waiting would only lengthen the downtime (it still counts toward the server's plans); nor does
  // work that `resumes` (a restore point whose database may be offline already).
  absl::StatusOr<upgrade::v1::ClaimWorkResponse> Claim(const upgrade::v1::ClaimWorkRequest& request);
  // INVALID_ARGUMENT as Claim.
  absl::Status Release(const upgrade::v1::ReleaseWorkRequest& request);

 private:
  OrderBook& orders_;
  ClaimStore& claims_;
  const LimitOf limit_of_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_WORK_CLAIMS_H_
