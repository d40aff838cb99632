#include "libs/kafka/kafka_flags.h"

#include <vector>

#include "absl/flags/flag.h"
#include "libs/kafka/worker.h"

ABSL_FLAG(std::string, kafka_brokers, "127.0.0.1:9092", "Kafka bootstrap servers");
ABSL_FLAG(std::vector<std::string>, kafka_properties, {},
          "Extra librdkafka properties as key=value,... (security, timeouts, debug)");
ABSL_FLAG(std::string, record_signing_key, "",
          "Required unless --insecure_unsigned_records: PEM file of this service's Ed25519 private key: every record it writes is signed with it");
ABSL_FLAG(std::string, record_trusted_keys, "",
          "Required unless --insecure_unsigned_records: directory of the services' Ed25519 public keys (<service>.pem): a record not signed by a service "
          "allowed on its topic goes to the DLQ unread");
ABSL_FLAG(bool, insecure_unsigned_records, false,
          "Write records unsigned and consume them unchecked (development only; logged as a warning)");

ABSL_FLAG(int, max_in_flight, 8,
          "Records a replica handles at once, of different databases (each database's stay in order)");

namespace upshift {

int MaxInFlightFromFlags() { return absl::GetFlag(FLAGS_max_in_flight); }

absl::StatusOr<KafkaOptions> KafkaOptionsFromFlags(std::string client_id) {
  if (MaxInFlightFromFlags() < 1 || MaxInFlightFromFlags() > 1000) {
    return absl::InvalidArgumentError("--max_in_flight must be between 1 and 1000");
  }
  return MakeKafkaOptions(absl::GetFlag(FLAGS_kafka_brokers), absl::GetFlag(FLAGS_kafka_properties),
                          std::move(client_id),
                          {absl::GetFlag(FLAGS_record_signing_key), absl::GetFlag(FLAGS_record_trusted_keys),
                           absl::GetFlag(FLAGS_insecure_unsigned_records)});
}

}  // namespace upshift
