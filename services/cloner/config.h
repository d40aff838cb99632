#ifndef UPSHIFT_SERVICES_CLONER_CONFIG_H_
#define UPSHIFT_SERVICES_CLONER_CONFIG_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/hosting/pg_hosting_server.h"
#include "libs/kafka/producer.h"
#include "services/cloner/options.h"

namespace upshift::cloner {

// The cloner's flags, read and checked, with the shared ones it needs (Kafka, TLS, claims).
struct Config {
  KafkaOptions kafka;
  std::string platform_db;
  PgHostingOptions hosting;
  ClonerOptions options;
  absl::Duration sweep_interval;
  std::string gate_addr;
  std::string health_listen;
  absl::Duration heartbeat_interval;
  std::shared_ptr<grpc::ServerCredentials> serving;  // the health server's
  std::shared_ptr<grpc::ChannelCredentials> calling;  // the gate client's (mTLS)
};

// INVALID_ARGUMENT naming the flag that is out of range.
absl::StatusOr<Config> ConfigFromFlags();

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_CONFIG_H_
