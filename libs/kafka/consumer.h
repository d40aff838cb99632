#ifndef UPSHIFT_LIBS_KAFKA_CONSUMER_H_
#define UPSHIFT_LIBS_KAFKA_CONSUMER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/common/stop_token.h"
#include "libs/kafka/producer.h"

namespace upshift {

struct ConsumedRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string payload;
  // Its signature's headers (see KafkaOptions::verifier): the signing service, and the signature.
  std::string signer;
  std::string signature;
};

// Handles one record. OK: done, the offset is stored. A retryable status (see IsRetryable): the
// same record is handled again after a backoff, its offset not stored. Any other status: the
// record can never be processed; it goes to upgrade.dlq with the status as the reason. Called from
// several threads at once (for records of different keys).
using RecordHandler = std::function<absl::Status(const ConsumedRecord&)>;

// Called on the consumer's thread every `every` while a handler is at work on `record` (not while
// its handling waits to be retried): how a worker tells that a long piece of work is alive.
struct ProgressReport {
  absl::Duration every = absl::InfiniteDuration();
  std::function<void(const ConsumedRecord& record)> report;
};

// An at-least-once consumer loop in a consumer group, handling up to `max_in_flight` records at once,
// each on a thread of its own. Records of one key (a database) are handled one at a time, in the
// order they came; records of different keys side by side, from any partition. A partition's offset
// is stored only up to its lowest unfinished record (see OffsetTracker), and committed in the
// background and on close. Partitions are assigned cooperatively (cooperative-sticky): a replica
// joining or leaving moves only what must move. A partition revoked mid-work has its waiting records
// dropped and its running ones no more retried; their next owner receives them again.
class KafkaConsumer {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaConsumer>> Create(const KafkaOptions& options,
                                                               const std::string& group_id,
                                                               const std::vector<std::string>& topics,
                                                               Publisher* dead_letters, RecordHandler handler,
                                                               ProgressReport progress = {}, int max_in_flight = 1,
                                                               std::function<bool(const ConsumedRecord&)> pass_over = nullptr);
  ~KafkaConsumer();

  // Consumes until `stop` is set, then waits for the handlers at work and leaves the group. Call
  // once. A record whose handler is still failing when `stop` is set is abandoned without storing
  // its offset.
  void Run(const StopToken& stop);

  struct Impl;

 private:
  explicit KafkaConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_CONSUMER_H_
