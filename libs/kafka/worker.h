#ifndef UPSHIFT_LIBS_KAFKA_WORKER_H_
#define UPSHIFT_LIBS_KAFKA_WORKER_H_

// What every service's main does with Kafka: options from its flags, heartbeats, the broker probe.

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/common/health.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/producer.h"

namespace upshift {

// Where a service's record keys are (its flags --record_signing_key, --record_trusted_keys,
// --insecure_unsigned_records).
struct RecordKeyFiles {
  std::string signing_key;   // PEM file of the service's own Ed25519 private key
  std::string trusted_keys;  // directory of every service's public keys, <service>.pem
  bool insecure = false;     // neither sign nor check: an explicit choice, logged at start
};

// OK when `brokers` is a list of host:port, each with an optional PLAINTEXT://, SSL://,
// SASL_SSL:// or SASL_PLAINTEXT:// prefix; INVALID_ARGUMENT otherwise (librdkafka would accept it,
// then fail to connect forever).
absl::Status CheckBrokerList(absl::string_view brokers);

// The options of a service's producer and consumers. `client_id` is also the name the service signs
// its records as. INVALID_ARGUMENT when a property is not key=value, or when the keys are not given
// (and `keys.insecure` is not set), or when `brokers` is not a broker list (CheckBrokerList); NOT_FOUND / INVALID_ARGUMENT when a key file cannot be read.
absl::StatusOr<KafkaOptions> MakeKafkaOptions(std::string brokers, const std::vector<std::string>& properties,
                                              std::string client_id, const RecordKeyFiles& keys);

// Heartbeat events (see PublishHeartbeat) from `source` every `every` while a record is handled.
ProgressReport Heartbeats(KafkaProducer& producer, std::string source, absl::Duration every);

// The health probe of the broker, through `producer`. `rpcs_survive`: see HealthProbe.
HealthProbe BrokerProbe(KafkaProducer& producer, bool rpcs_survive = false);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_WORKER_H_
