#ifndef UPSHIFT_SERVICES_STATUS_LATE_ACCEPTANCES_H_
#define UPSHIFT_SERVICES_STATUS_LATE_ACCEPTANCES_H_

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/gate/gate.h"
#include "services/status/status_store.h"

namespace upshift::status {

// A worker's record about an upgrade whose acceptance status has not seen is held until it comes
// (StatusLedger::Apply). The acceptance leaves request before any worker is woken, so one still
// missing `wait` after a record came was lost on its way to status, or is stuck there: without it
// the upgrade would stay invisible (GetUpgrade NOT_FOUND, no tag) while it runs and after. This asks
// request's gate for the stored order of each such upgrade and applies the very acceptance request
// published (AcceptanceOf: the same event id, so the record, if it still comes, changes nothing);
// the held records follow, each checked against that order. An upgrade request never admitted
// (NOT_FOUND: a forgery, or a worker's leaked key) is left held, for the day's retention to forget.
class LateAcceptances {
 public:
  LateAcceptances(StatusLedger& store, Gate& gate, absl::Duration wait) : store_(store), gate_(gate), wait_(wait) {}

  // One pass at `now`: returns how many acceptances it applied (one applied meanwhile, by its record
  // or by another replica, is not counted). The first failure other than
  // NOT_FOUND (request or the platform database away) ends the pass; the next one asks again.
  absl::StatusOr<int> Resolve(absl::Time now);

 private:
  StatusLedger& store_;
  Gate& gate_;
  const absl::Duration wait_;
  absl::Mutex mu_;
  // Upgrades request said it never admitted: not asked about again.
  std::set<std::string> never_admitted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_LATE_ACCEPTANCES_H_
