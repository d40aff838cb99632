#ifndef UPSHIFT_SERVICES_REQUEST_CLAIM_STORE_H_
#define UPSHIFT_SERVICES_REQUEST_CLAIM_STORE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift::request {

// A claim as stored: who holds it, until when.
struct StoredClaim {
  bool granted = false;  // the caller holds it (now, or renewed)
  std::string holder;
  absl::Time expires_at;
  bool done = false;  // the work is done
  // Not granted: the server's capacity is taken (Capacity), and how much of it.
  int running = 0;
};

// A hosting server's capacity for one pool of work: at most `limit` live claims on `works` of orders
// of `server` at once, across every replica (0: no limit). A claim's own expiry ends its share, so a
// replica that died frees it.
struct Capacity {
  std::string server;
  int limit = 0;
  std::vector<std::string> works;  // what shares the pool: {"copy", "snapshot"} or {"plan"}
};

// The workers' claims on pieces of upgrades' work, timed by the store's own clock (one for every
// replica of request). Thread-safe; every method may return UNAVAILABLE.
class ClaimStore {
 public:
  virtual ~ClaimStore() = default;

  // In one statement: gives `work` of `upgrade_id` to `holder` until now + `ttl`, unless another
  // holder's claim has not expired yet or the work is done; renews the holder's own. A new claim
  // (not a renewal) is also refused while `capacity`'s server runs its limit of its works (then
  // `running` says how many); the claim records its server either way.
  virtual absl::StatusOr<StoredClaim> ClaimWork(const std::string& upgrade_id, const std::string& work,
                                                const std::string& holder, absl::Duration ttl,
                                                const Capacity& capacity = {}) = 0;

  // Live claims (not done, not expired) per (server, pool): "copies" (copy and snapshot) or "plans".
  virtual absl::StatusOr<std::map<std::pair<std::string, std::string>, int>> LiveWork() = 0;

  // Ends `holder`'s claim, if it has it; with `done`, keeps it, marked done, for good.
  virtual absl::Status ReleaseWork(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                                   bool done) = 0;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_CLAIM_STORE_H_
