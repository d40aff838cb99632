#ifndef UPSHIFT_LIBS_KAFKA_WORKER_H_
#define UPSHIFT_LIBS_KAFKA_WORKER_H_

// What every service's main does with Kafka: options from its flags, and a consumer loop.

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

// The options of a service's producer and consumers. `client_id` is also the name the service signs
// its records as. INVALID_ARGUMENT when a property is not key=value, or when the keys are not given
// (and `keys.insecure` is not set); NOT_FOUND / INVALID_ARGUMENT when a key file cannot be read.
absl::StatusOr<KafkaOptions> MakeKafkaOptions(std::string brokers, const std::vector<std::string>& properties,
                                              std::string client_id, const RecordKeyFiles& keys);

// A worker's health server: grpc.health.v1 on `listen`, SERVING while the broker and every probe
// answer (for Kubernetes' gRPC probes).
struct WorkerHealth {
  std::string listen;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::vector<HealthProbe> probes;
  absl::Duration interval = absl::Seconds(2);
};

// Heartbeat events (see PublishHeartbeat) from `source` every `every` while a record is handled.
ProgressReport Heartbeats(KafkaProducer& producer, std::string source, absl::Duration every);

// Serves `health`, and consumes `topics` in consumer group `group` with `handler` (reporting
// `progress` while it works, up to `max_in_flight` records at once) until `stop` is set (records that can never be processed go to upgrade.dlq through `producer`); then reports
// NOT_SERVING, leaves the group and flushes `producer`. Returns the process exit code: 0, 1 when
// the health port cannot be bound, 2 when the consumer cannot be configured.
int RunConsumer(const KafkaOptions& options, const std::string& group, const std::vector<std::string>& topics,
                KafkaProducer& producer, RecordHandler handler, ProgressReport progress, int max_in_flight,
                WorkerHealth health, const std::atomic<bool>& stop);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_WORKER_H_
