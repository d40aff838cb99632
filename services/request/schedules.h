#ifndef UPSHIFT_SERVICES_REQUEST_SCHEDULES_H_
#define UPSHIFT_SERVICES_REQUEST_SCHEDULES_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "libs/common/time.h"
#include "services/request/order_store.h"

namespace upshift::request {

struct ScheduleOptions {
  // A Production upgrade starts only if its successful Test ended at most this long before its start.
  absl::Duration max_test_age = absl::Hours(24 * 30);
  // The customer is reminded this long before a scheduled start (not when the order was placed
  // within it: the email that it is scheduled says the same).
  absl::Duration reminder_before = absl::Hours(24);
  // Orders started or reminded per sweep; the rest wait for the next.
  int batch = 100;
};

// Serves scheduled orders (RequestUpgradeRequest.not_before): at its start each one is started
// (its acceptance published: the workers begin) or, when a rule now fails, refused (it ends
// CANCELLED, the customer told why); before it, its customer is reminded once. Every replica may
// sweep: the store lets one of them act on each order. A start that passed while no replica ran
// is served at the next sweep. Thread-compatible: one sweeper per replica.
class Schedules {
 public:
  // `recorded` is called after anything was recorded (to wake the outbox relay).
  Schedules(ScheduleOptions options, OrderBook& book, OrderSchedule& schedule, Clock& clock,
            std::function<void()> recorded);

  struct Swept {
    int started = 0;
    int refused = 0;
    int reminded = 0;
  };
  absl::StatusOr<Swept> Sweep();

  // Why `order` may not start at `now` (empty: it may). A Production upgrade needs its Test still
  // on record and fresh, and, scheduled into a maintenance window, `now` no later than its
  // latest_start (a start missed while request was down is skipped, not served outside the window).
  absl::StatusOr<std::string> RefusalAt(const upgrade::v1::Order& order, absl::Time now);

 private:
  const ScheduleOptions options_;
  OrderBook& book_;
  OrderSchedule& schedule_;
  Clock& clock_;
  std::function<void()> recorded_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_SCHEDULES_H_
