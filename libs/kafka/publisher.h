#ifndef UPSHIFT_LIBS_KAFKA_PUBLISHER_H_
#define UPSHIFT_LIBS_KAFKA_PUBLISHER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace upshift {

struct OutgoingRecord {
  std::string topic;
  std::string key;
  std::string payload;
};

// Publishes records to topics. Implementations are thread-safe.
class Publisher {
 public:
  virtual ~Publisher() = default;

  // Returns once every record is acknowledged by the broker (acks=all), in order per key:
  // OK, or UNAVAILABLE / DEADLINE_EXCEEDED when some record could not be delivered (retry the
  // whole batch; records are keyed and consumers dedup, so a partial success is harmless).
  virtual absl::Status Publish(const std::vector<OutgoingRecord>& records) = 0;

  absl::Status Publish(std::string topic, std::string key, std::string payload) {
    return Publish(std::vector<OutgoingRecord>{{std::move(topic), std::move(key), std::move(payload)}});
  }
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_PUBLISHER_H_
