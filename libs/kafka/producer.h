#ifndef UPSHIFT_LIBS_KAFKA_PRODUCER_H_
#define UPSHIFT_LIBS_KAFKA_PRODUCER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kafka/publisher.h"
#include "libs/security/record_signature.h"

namespace upshift {

// The record headers that carry a record's signature.
inline constexpr char kSignerHeader[] = "upshift-signer";
inline constexpr char kSignatureHeader[] = "upshift-signature";

struct KafkaOptions {
  // host:port,... of any Kafka-protocol broker.
  std::string brokers;
  std::string client_id = "upshift";
  // Extra librdkafka properties, e.g. security settings for a real cluster.
  std::map<std::string, std::string> properties;
  // Signs every record a producer publishes. Null: records go out unsigned (an explicit choice of
  // the service's flags, logged at start).
  std::shared_ptr<const RecordSigner> signer;
  // A consumer checks every record against it before its handler sees it; one that fails goes to
  // the DLQ with the reason. Null: records are not checked (an explicit choice, logged at start).
  std::shared_ptr<const RecordVerifier> verifier;
};

// Parses "key=value" librdkafka properties (from a flag). INVALID_ARGUMENT naming a malformed one.
absl::StatusOr<std::map<std::string, std::string>> ParseKafkaProperties(const std::vector<std::string>& pairs);

// A Publisher over an idempotent librdkafka producer (acks=all). Thread-safe.
class KafkaProducer final : public Publisher {
 public:
  // INVALID_ARGUMENT on a bad configuration.
  static absl::StatusOr<std::unique_ptr<KafkaProducer>> Create(const KafkaOptions& options,
                                                               absl::Duration delivery_timeout = absl::Seconds(30));
  ~KafkaProducer() override;

  using Publisher::Publish;
  absl::Status Publish(const std::vector<OutgoingRecord>& records) override;

  // Whether a broker answers a metadata request within `timeout` (UNAVAILABLE otherwise).
  absl::Status CheckBroker(absl::Duration timeout);

  // Waits up to `timeout` for every record in flight to be delivered.
  void Flush(absl::Duration timeout);

  struct Impl;

 private:
  explicit KafkaProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_PRODUCER_H_
