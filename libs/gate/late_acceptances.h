#ifndef UPSHIFT_LIBS_GATE_LATE_ACCEPTANCES_H_
#define UPSHIFT_LIBS_GATE_LATE_ACCEPTANCES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/gate/gate.h"
#include "upgrade/v1/events.pb.h"

namespace upshift {

namespace metrics {
class Family;
}  // namespace metrics

// A consumer that holds the records coming ahead of their upgrade's acceptance (status, the
// notifier): the port LateAcceptances repairs it through.
class AwaitedAcceptances {
 public:
  virtual ~AwaitedAcceptances() = default;
  // The upgrades with a record held since before `held_before`, longest held first, at most `limit`.
  virtual absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time held_before, int limit) = 0;
  // Takes `acceptance` (an upgrade's acceptance or scheduling) as if its record had come, and the
  // held records after it. False when it changed nothing (its record came meanwhile, or another
  // replica took it).
  virtual absl::StatusOr<bool> Accept(const upgrade::v1::Event& acceptance) = 0;
  // Forgets the records held for `upgrade_id`: request never admitted it.
  virtual absl::Status ForgetHeld(const std::string& upgrade_id) = 0;
};

// request publishes an upgrade's announcement (its acceptance, or its scheduling) before anything
// else about it. So a record still held `wait` after it came means the announcement was lost on
// its way to this consumer, or is stuck: without it the upgrade would stay invisible (status:
// GetUpgrade NOT_FOUND, no tag) or silent (the notifier: no email). This asks request's gate for
// the stored order of each such upgrade and takes the very announcement request published
// (AnnouncementOf: the same event id, so the record, if it still comes, changes nothing). The
// records of an upgrade request never admitted (NOT_FOUND: a forgery, or a worker's leaked key)
// are forgotten at once, so that however many pile up they never stand before a real repair.
// Each outcome is logged and counted in upshift_<service>_late_acceptances_total{outcome}.
// Used by one thread (one schedule).
class LateAcceptances {
 public:
  LateAcceptances(const std::string& service, AwaitedAcceptances& consumer, Gate& gate, absl::Duration wait);

  // One pass at `now`: returns how many acceptances it took. The first failure other than
  // NOT_FOUND (request or the platform database away) ends the pass; the next one asks again.
  absl::StatusOr<int> Resolve(absl::Time now);

 private:
  const std::string service_;
  AwaitedAcceptances& consumer_;
  Gate& gate_;
  const absl::Duration wait_;
  metrics::Family& outcomes_;
};

// The announcement request published of `order`, as it stands at `now`: its scheduling, the very
// record (same event id and time), while its scheduled start is ahead; else its acceptance, at that
// start or when it was ordered.
upgrade::v1::Event AnnouncementOf(const upgrade::v1::Order& order, absl::Time now);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_LATE_ACCEPTANCES_H_
