#ifndef UPSHIFT_LIBS_KAFKA_OUTBOX_RELAY_H_
#define UPSHIFT_LIBS_KAFKA_OUTBOX_RELAY_H_

#include <atomic>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/common/stop_token.h"
#include "libs/kafka/publisher.h"

namespace upshift {

// Hands up to `limit` outbox records, oldest first, to `publish`, and removes them when it returns
// OK, all in one transaction that only one replica holds at a time. *count is how many were handed.
using OutboxDrain = std::function<absl::Status(
    int limit, const std::function<absl::Status(const std::vector<OutgoingRecord>&)>& publish, int* count)>;

// Moves committed outbox records to Kafka (the transactional outbox): what a service recorded in
// PostgreSQL reaches its topic even when the broker was down then, or the process died right after.
// Records leave the outbox only once the broker acknowledged them (at least once; consumers dedup
// by event id).
class OutboxRelay {
 public:
  OutboxRelay(OutboxDrain drain, Publisher& publisher, absl::Duration poll_interval);

  // Wakes the relay now (after something was recorded). Thread-safe.
  void Wake();

  // Relays until `stop` is set; call Wake() after setting it to return at once.
  void Run(const StopToken& stop);

  // Relays what is in the outbox now. Returns how many records were relayed.
  absl::StatusOr<int> RelayOnce();

 private:
  OutboxDrain drain_;
  Publisher& publisher_;
  const absl::Duration poll_interval_;
  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

// How many records wait in an outbox, and how long the oldest has waited.
struct OutboxDepth {
  int64_t rows = 0;
  absl::Duration oldest_age;
};

// Sets upshift_outbox_rows{outbox} and upshift_outbox_oldest_age_seconds{outbox} for `outbox`
// ("request", "status"). For a scrape hook.
void ExportOutboxDepth(const std::string& outbox, const OutboxDepth& depth);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_OUTBOX_RELAY_H_
