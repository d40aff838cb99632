#ifndef UPSHIFT_LIBS_KAFKA_RECORD_FLOW_H_
#define UPSHIFT_LIBS_KAFKA_RECORD_FLOW_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/common/stop_token.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/keyed_queue.h"
#include "libs/kafka/offset_tracker.h"
#include "libs/kafka/publisher.h"
#include "libs/runtime/bounded_executor.h"

namespace upshift {

class RecordVerifier;

// A consumer's at-least-once rules, apart from any broker: the records it received are handled, each
// on a task of a BoundedExecutor, one at a time per key and in the order they came; a retryable
// failure is retried with backoff, any other goes to the dead letters; and a partition's offset is
// handed to `store_offset` only up to its lowest unfinished record. A partition revoked mid-work has
// its waiting records dropped and its running ones no more retried. Used from one thread (the
// consumer's polling thread); the handlers run on the executor's.
class RecordFlow {
 public:
  struct Options {
    std::string group_id;
    int max_in_flight = 1;
    // Records received and waiting for a handler before the consumer should hold its fetching.
    size_t max_waiting = 100;
    ProgressReport progress;
    // Records the handler would do nothing with (a worker's view of heartbeats): once their
    // signature is verified they are done on arrival, never waiting behind their key. Without it,
    // the heartbeats of a database whose record waits (its server away) pile up behind that record
    // until fetching holds, and every other database's work stops with it. Null: none.
    std::function<bool(const ConsumedRecord&)> pass_over;
  };
  using StoreOffset = std::function<void(const TopicPartition& partition, int64_t next)>;

  // `verifier` may be null (no signatures checked). `dead_letters` must outlive the flow; null only
  // where the handler never fails for good (a record it refuses is then retried until revoked).
  RecordFlow(Options options, std::shared_ptr<const RecordVerifier> verifier, Publisher* dead_letters,
             RecordHandler handler, StoreOffset store_offset);
  // Waits for the handlers at work (see Turn for how they end).
  ~RecordFlow();

  void Receive(ConsumedRecord record);

  // Partitions taken away: what waits for them is dropped, what runs on them stops retrying, and
  // nothing of theirs is stored any more (their next owner starts from the last stored offset).
  void Revoke(const std::vector<TopicPartition>& partitions);

  // One turn of the loop: stores the offsets that finished records let advance, starts handlers for
  // waiting records (none once `stop` is set) and reports progress. `stop` must outlive the flow's
  // handlers: once it is set, a failing record is abandoned without storing its offset.
  void Turn(const StopToken& stop);

  // Whether fetching should hold: enough records wait, or (while holding already) more than half.
  bool ShouldHold(bool holding) const;

  size_t running() const { return running_.size(); }
  size_t waiting() const { return queue_.waiting(); }

 private:
  // A record at its handler, on a task of the executor.
  struct Running {
    QueuedRecord queued;
    std::atomic<bool> done{false};       // the task ended
    std::atomic<bool> finished{false};   // handled or dead-lettered: its offset may be stored
    std::atomic<bool> handling{false};   // the handler is at work (not waiting to retry)
    std::atomic<bool> abandoned{false};  // its partition was revoked: no more retries
    absl::Time reported;                 // its last progress report
  };

  absl::Status Handle(const ConsumedRecord& r);
  absl::Status SendToDeadLetters(const ConsumedRecord& r, const absl::Status& reason);
  void Process(Running& run, const StopToken& stop);
  void Reap();
  void Dispatch(const StopToken& stop);
  void Report();

  const Options options_;
  const std::shared_ptr<const RecordVerifier> verifier_;
  Publisher* const dead_letters_;
  const RecordHandler handler_;
  const StoreOffset store_offset_;
  OffsetTracker offsets_;
  KeyedQueue queue_;
  std::list<std::unique_ptr<Running>> running_;
  // Declared last: destroyed first, so its tasks end before the records they work on go.
  BoundedExecutor executor_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_RECORD_FLOW_H_
