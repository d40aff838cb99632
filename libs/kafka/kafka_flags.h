#ifndef UPSHIFT_LIBS_KAFKA_KAFKA_FLAGS_H_
#define UPSHIFT_LIBS_KAFKA_KAFKA_FLAGS_H_

// The flags every service has for Kafka, defined once: --kafka_brokers, --kafka_properties, and the
// record keys (--record_signing_key, --record_trusted_keys, --insecure_unsigned_records). The first
// piece of the shared service runtime.

#include <string>

#include "absl/status/statusor.h"
#include "libs/kafka/producer.h"

namespace upshift {

// The service's Kafka options from its flags; `client_id` is the service's name, which it signs its
// records as. Errors as MakeKafkaOptions.
absl::StatusOr<KafkaOptions> KafkaOptionsFromFlags(std::string client_id);

// --max_in_flight: how many records a consumer handles at once (see KafkaConsumer).
int MaxInFlightFromFlags();

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_KAFKA_FLAGS_H_
