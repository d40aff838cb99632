#include "libs/kafka/record_flow.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/time.h"
#include "libs/kafka/topics.h"
#include "libs/metrics/metrics.h"
#include "libs/security/record_signature.h"
#include "upgrade/v1/events.pb.h"

namespace upshift {

namespace {

metrics::Family& Consumed() {
  static metrics::Family& family = metrics::Default().Counter(
      "upshift_records_consumed_total",
      "Records handled by a consumer group, by topic and outcome (done, retried: one failed attempt, "
      "dead_lettered)",
      {"group", "topic", "outcome"});
  return family;
}

std::string Where(const ConsumedRecord& r) { return absl::StrCat(r.topic, "/", r.partition, "@", r.offset); }

}  // namespace

RecordFlow::RecordFlow(Options options, std::shared_ptr<const RecordVerifier> verifier, Publisher* dead_letters,
                       RecordHandler handler, StoreOffset store_offset)
    : options_(std::move(options)),
      verifier_(std::move(verifier)),
      dead_letters_(dead_letters),
      handler_(std::move(handler)),
      store_offset_(std::move(store_offset)),
      executor_(absl::StrCat("consumer:", options_.group_id), options_.max_in_flight) {}

RecordFlow::~RecordFlow() = default;

void RecordFlow::Receive(ConsumedRecord record) {
  OffsetTracker::Ticket ticket = offsets_.Received({record.topic, record.partition}, record.offset);
  if (options_.pass_over && options_.pass_over(record) &&
      (verifier_ == nullptr || verifier_->Verify(record.topic, record.key, record.payload, record.signer,
                                                 record.signature, topics::SignersOf(record.topic))
                                   .ok())) {
    if (std::optional<int64_t> next = offsets_.Finished(ticket); next.has_value()) {
      store_offset_(ticket.partition, *next);
    }
    return;
  }
  queue_.Add({std::move(record), std::move(ticket)});
}

void RecordFlow::Revoke(const std::vector<TopicPartition>& partitions) {
  for (const TopicPartition& p : partitions) {
    offsets_.Forget(p);
    queue_.Drop(p);
    for (const std::unique_ptr<Running>& run : running_) {
      if (run->queued.ticket.partition == p) run->abandoned = true;
    }
  }
}

void RecordFlow::Turn(const StopToken& stop) {
  Reap();
  Dispatch(stop);
  Report();
}

bool RecordFlow::ShouldHold(bool holding) const {
  return queue_.waiting() >= options_.max_waiting || (holding && queue_.waiting() > options_.max_waiting / 2);
}

// A record no trusted service signed for its topic is never handed to the handler.
absl::Status RecordFlow::Handle(const ConsumedRecord& r) {
  if (verifier_ != nullptr) {
    absl::Status verified =
        verifier_->Verify(r.topic, r.key, r.payload, r.signer, r.signature, topics::SignersOf(r.topic));
    if (!verified.ok()) return verified;
  }
  return handler_(r);
}

absl::Status RecordFlow::SendToDeadLetters(const ConsumedRecord& r, const absl::Status& reason) {
  if (dead_letters_ == nullptr) return absl::FailedPreconditionError("this consumer has no dead-letter topic");
  upgrade::v1::DeadLetter letter;
  letter.set_origin_topic(r.topic);
  letter.set_partition(r.partition);
  letter.set_offset(r.offset);
  letter.set_key(r.key);
  letter.set_payload(r.payload);
  // No secret leaves in a reason (a libpq error may quote a connection string), and a reason is bounded.
  letter.set_reason(RedactSecrets(reason.ToString()).substr(0, 2000));
  letter.set_consumer_group(options_.group_id);
  ToProto(absl::Now(), letter.mutable_occurred_at());
  return dead_letters_->Publish(topics::kDeadLetters, r.key, letter.SerializeAsString());
}

// On the record's own task: handles it until it is handled or dead-lettered (then `finished`),
// retrying with backoff, or until the consumer stops or the partition is revoked.
void RecordFlow::Process(Running& run, const StopToken& stop) {
  const ConsumedRecord& r = run.queued.record;
  const std::string& group = options_.group_id;
  for (int attempt = 0; !stop.stopped() && !run.abandoned; ++attempt) {
    run.handling = true;
    absl::Status status = Handle(r);
    run.handling = false;
    if (status.ok()) {
      Consumed().Increment({group, r.topic, "done"});
      run.finished = true;
      return;
    }
    if (!IsRetryable(status)) {
      LogError(absl::StrCat("record ", Where(r), " cannot be processed, sending it to the DLQ: ", status.ToString()));
      absl::Status sent = SendToDeadLetters(r, status);
      if (sent.ok()) {
        Consumed().Increment({group, r.topic, "dead_lettered"});
        run.finished = true;
        return;
      }
      status = sent;
    }
    Consumed().Increment({group, r.topic, "retried"});
    absl::Duration wait = Backoff(attempt);
    LogWarning(absl::StrCat("record ", Where(r), " will be retried in ", absl::FormatDuration(wait), ": ",
                            status.ToString()));
    absl::Time until = absl::Now() + wait;
    while (!run.abandoned && absl::Now() < until && !stop.WaitFor(absl::Milliseconds(50))) {
    }
  }
}

// Forgets the records whose tasks ended, storing the offsets they let advance.
void RecordFlow::Reap() {
  for (auto it = running_.begin(); it != running_.end();) {
    Running& run = **it;
    if (!run.done) {
      ++it;
      continue;
    }
    if (run.finished) {
      if (std::optional<int64_t> next = offsets_.Finished(run.queued.ticket); next.has_value()) {
        store_offset_(run.queued.ticket.partition, *next);
      }
    }
    queue_.Done(run.queued.record.key);
    it = running_.erase(it);
  }
}

// Starts handlers for waiting records while the executor has room, one per key. A record's entry
// stays in running_ until Reap saw its task end, so the executor never holds more than running_.
void RecordFlow::Dispatch(const StopToken& stop) {
  while (!stop.stopped() && running_.size() < static_cast<size_t>(executor_.capacity()) && executor_.HasRoom()) {
    std::optional<QueuedRecord> next = queue_.Next();
    if (!next.has_value()) return;
    auto run = std::make_unique<Running>();
    run->queued = *std::move(next);
    run->reported = absl::Now();
    Running* raw = run.get();
    running_.push_back(std::move(run));
    // Cannot be refused: only this thread submits, and it saw room.
    executor_.TrySubmit([this, raw, &stop] {
      Process(*raw, stop);
      raw->done = true;
    });
  }
}

void RecordFlow::Report() {
  if (!options_.progress.report) return;
  absl::Time now = absl::Now();
  for (const std::unique_ptr<Running>& run : running_) {
    if (now - run->reported < options_.progress.every) continue;
    run->reported = now;
    if (run->handling) options_.progress.report(run->queued.record);
  }
}

}  // namespace upshift
