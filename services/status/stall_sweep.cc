#include "services/status/stall_sweep.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"

namespace upshift::status {

void SweepStalls(StatusLedger& store, KafkaProducer& producer, absl::Duration timeout, ChangeHub& hub,
                 OutboxRelay& relay, const StopToken& stop) {
  const absl::Duration every = std::clamp(timeout / 4, absl::Milliseconds(100), absl::Seconds(15));
  absl::Time reachable_since = absl::InfiniteFuture();
  while (!stop.stopped()) {
    absl::Time now = absl::Now();
    if (!producer.CheckBroker(std::min(every, absl::Seconds(2))).ok()) {
      reachable_since = absl::InfiniteFuture();
    } else if (reachable_since == absl::InfiniteFuture()) {
      reachable_since = now;
    }
    if (now - reachable_since >= timeout) {
      absl::StatusOr<int> marked = store.MarkStalled(now - timeout);
      if (!marked.ok()) {
        LogWarning(absl::StrCat("stall sweep: ", marked.status().ToString()));
      } else if (*marked > 0) {
        LogWarning(absl::StrCat(*marked, " upgrade(s) stalled: no worker reported on them for ",
                                absl::FormatDuration(timeout)));
        hub.Notify();
        relay.Wake();
      }
    }
    stop.WaitFor(now + every - absl::Now());
  }
}

}  // namespace upshift::status
