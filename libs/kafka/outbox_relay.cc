#include "libs/kafka/outbox_relay.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/metrics/metrics.h"

namespace upshift {

OutboxRelay::OutboxRelay(OutboxDrain drain, Publisher& publisher, absl::Duration poll_interval)
    : drain_(std::move(drain)), publisher_(publisher), poll_interval_(poll_interval) {}

void OutboxRelay::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

absl::StatusOr<int> OutboxRelay::RelayOnce() {
  int total = 0;
  for (;;) {
    int count = 0;
    absl::Status status = drain_(
        100, [&](const std::vector<OutgoingRecord>& records) { return publisher_.Publish(records); }, &count);
    if (!status.ok()) return status;
    total += count;
    if (count < 100) return total;
  }
}

void OutboxRelay::Run(const StopToken& stop) {
  int failures = 0;
  while (!stop.stopped()) {
    absl::StatusOr<int> relayed = RelayOnce();
    absl::Duration wait = poll_interval_;
    if (!relayed.ok()) {
      wait = Backoff(failures++, absl::Milliseconds(200), absl::Seconds(10));
      LogWarning(absl::StrCat("outbox relay will retry in ", absl::FormatDuration(wait), ": ",
                              relayed.status().ToString()));
    } else {
      failures = 0;
    }
    // Woken by Wake(), which the runtime also calls at the stop.
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&woken_), wait);
    woken_ = false;
  }
}

void ExportOutboxDepth(const std::string& outbox, const OutboxDepth& d) {
  static metrics::Family& depth = metrics::Default().Gauge(
      "upshift_outbox_rows", "Records recorded in PostgreSQL and not yet on their topic, by outbox", {"outbox"});
  static metrics::Family& age = metrics::Default().Gauge(
      "upshift_outbox_oldest_age_seconds", "How long the oldest record of the outbox has waited (0: empty)",
      {"outbox"});
  depth.Set({outbox}, static_cast<double>(d.rows));
  age.Set({outbox}, absl::ToDoubleSeconds(d.oldest_age));
}

}  // namespace upshift
