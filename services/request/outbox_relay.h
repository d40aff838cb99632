#ifndef UPSHIFT_SERVICES_REQUEST_OUTBOX_RELAY_H_
#define UPSHIFT_SERVICES_REQUEST_OUTBOX_RELAY_H_

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"
#include "libs/kafka/publisher.h"
#include "services/request/order_store.h"

namespace upshift::request {

// Moves committed outbox records to Kafka: an admitted order reaches upgrade.orders even when the
// broker was down when it was admitted. Records leave the outbox only once the broker acknowledged
// them (at least once; consumers dedup by event id).
class OutboxRelay {
 public:
  OutboxRelay(OrderStore& store, Publisher& publisher, absl::Duration poll_interval);

  // Wakes the relay now (after an order was admitted). Thread-safe.
  void Wake();

  // Relays until `stop` is set; call Wake() after setting it to return at once.
  void Run(const std::atomic<bool>& stop);

  // Relays what is in the outbox now. Returns how many records were relayed.
  absl::StatusOr<int> RelayOnce();

 private:
  OrderStore& store_;
  Publisher& publisher_;
  const absl::Duration poll_interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_OUTBOX_RELAY_H_
