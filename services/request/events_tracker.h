#ifndef UPSHIFT_SERVICES_REQUEST_EVENTS_TRACKER_H_
#define UPSHIFT_SERVICES_REQUEST_EVENTS_TRACKER_H_

#include "absl/status/status.h"
#include "libs/kafka/consumer.h"
#include "services/request/order_store.h"

namespace upshift::request {

// Learns from upgrade.events that an order ended, so admission knows what is active and which
// Test upgrades succeeded. Idempotent.
class EventsTracker {
 public:
  explicit EventsTracker(OrderStore& store) : store_(store) {}

  // INVALID_ARGUMENT for a record that is not an Event (it goes to the DLQ).
  absl::Status Handle(const ConsumedRecord& record);

 private:
  OrderStore& store_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_EVENTS_TRACKER_H_
