// request: the gRPC front door. Admits orders, records them with their outbox entries in
// PostgreSQL, and relays the outbox to upgrade.orders.

#include <fstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/catalog/catalog.h"
#include "libs/common/env_flags.h"
#include "libs/common/grpc_util.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/health.h"
#include "libs/common/signals.h"
#include "libs/pg/pg.h"
#include "libs/hosting/pg_hosting_server.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "services/request/admission.h"
#include "services/request/events_tracker.h"
#include "services/request/grpc_service.h"
#include "libs/kafka/outbox_relay.h"
#include "services/request/pg_order_store.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address (port 0: any free port)");
ABSL_FLAG(absl::Duration, health_interval, absl::Seconds(2), "How often health probes the databases and the broker");
ABSL_FLAG(std::string, port_file, "", "If set, the bound gRPC port is written there");
ABSL_FLAG(std::string, kafka_brokers, "127.0.0.1:9092", "Kafka bootstrap servers");
ABSL_FLAG(std::vector<std::string>, kafka_properties, {},
          "Extra librdkafka properties as key=value,... (security, timeouts, debug)");
ABSL_FLAG(std::string, record_signing_key, "",
          "PEM file of this service's Ed25519 private key: every record it writes is signed with it");
ABSL_FLAG(std::string, record_trusted_keys, "",
          "Directory of the services' Ed25519 public keys (<service>.pem): a record not signed by a service "
          "allowed on its topic goes to the DLQ unread");
ABSL_FLAG(bool, insecure_unsigned_records, false,
          "Write records unsigned and consume them unchecked (development only; logged as a warning)");
ABSL_FLAG(std::string, platform_db, "", "libpq connection string of the platform database");
ABSL_FLAG(std::string, hosting_db, "", "libpq connection string of the hosting server (no dbname)");
ABSL_FLAG(std::vector<std::string>, reserved_databases, {"upshift"},
          "Databases of the platform on the hosting server, never upgraded");
ABSL_FLAG(std::string, catalog, "", "Path of the migration catalog folder");
ABSL_FLAG(int, pool_size, 8, "PostgreSQL connections to the platform database");
ABSL_FLAG(absl::Duration, max_test_age, absl::Hours(24 * 30),
          "A Production upgrade needs a successful Test to the same version at most this old");
ABSL_FLAG(absl::Duration, test_copy_extension, absl::Hours(24 * 30),
          "How far one ExtendTestCopy pushes a test copy's expiry (past the later of now and its current expiry)");
ABSL_FLAG(absl::Duration, outbox_poll_interval, absl::Seconds(1),
          "How often the outbox is checked besides after each admission (orders of other replicas)");

namespace upshift::request {
namespace {

struct Config {
  std::string listen, port_file, kafka_brokers, platform_db, hosting_db, catalog;
  std::vector<std::string> reserved;
  int pool_size;
  absl::Duration outbox_poll_interval;
  absl::Duration max_test_age;
  absl::Duration test_copy_extension;
};

Config ReadConfig() {
  return {absl::GetFlag(FLAGS_listen),      absl::GetFlag(FLAGS_port_file),  absl::GetFlag(FLAGS_kafka_brokers),
          absl::GetFlag(FLAGS_platform_db), absl::GetFlag(FLAGS_hosting_db), absl::GetFlag(FLAGS_catalog),
          absl::GetFlag(FLAGS_reserved_databases), absl::GetFlag(FLAGS_pool_size),
          absl::GetFlag(FLAGS_outbox_poll_interval), absl::GetFlag(FLAGS_max_test_age),
          absl::GetFlag(FLAGS_test_copy_extension)};
}

int Run(const Config& config, const std::atomic<bool>& stop) {
  absl::StatusOr<Catalog> catalog = Catalog::Load(config.catalog);
  if (!catalog.ok()) {
    LogError(absl::StrCat("cannot load the catalog: ", catalog.status().ToString()));
    return 2;
  }
  std::unique_ptr<PgOrderStore> store;
  if (!RetryUntilReady([&] {
        absl::StatusOr<std::unique_ptr<PgOrderStore>> opened = PgOrderStore::Open(config.platform_db, config.pool_size);
        if (opened.ok()) store = *std::move(opened);
        return opened.status();
      }, stop, "platform database")) {
    return 0;
  }
  PgHostingServer hosting({config.hosting_db, config.reserved, "", absl::Hours(6)});
  absl::StatusOr<KafkaOptions> kafka_options =
      MakeKafkaOptions(config.kafka_brokers, absl::GetFlag(FLAGS_kafka_properties), "request",
                       {absl::GetFlag(FLAGS_record_signing_key), absl::GetFlag(FLAGS_record_trusted_keys),
                        absl::GetFlag(FLAGS_insecure_unsigned_records)});
  if (!kafka_options.ok()) {
    LogError(kafka_options.status().ToString());
    return 2;
  }
  const KafkaOptions& kafka = *kafka_options;
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(kafka);
  if (!producer.ok()) {
    LogError(producer.status().ToString());
    return 2;
  }
  OutboxRelay relay([&store](int limit, const auto& publish, int* count) { return store->DrainOutbox(limit, publish, count); },
                    **producer, config.outbox_poll_interval);
  Admission admission({config.reserved, config.max_test_age}, *catalog, hosting, *store, SystemClock(), [&relay] { relay.Wake(); });
  Cancellation cancellation(*store, SystemClock(), [&relay] { relay.Wake(); });
  TestCopies copies(*store, SystemClock(), config.test_copy_extension, [&relay] { relay.Wake(); });
  UpgradeServiceImpl service(admission, cancellation, copies);
  UpgradeGateImpl gate(cancellation);
  EventsTracker tracker(*store);
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer = KafkaConsumer::Create(
      kafka, "upshift-request", {topics::kEvents}, producer->get(),
      [&tracker](const ConsumedRecord& r) { return tracker.Handle(r); });
  if (!consumer.ok()) {
    LogError(consumer.status().ToString());
    return 2;
  }
  int port = 0;
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartGrpcServer(config.listen, {&service, &gate}, &port);
  if (!server.ok()) {
    LogError(server.status().ToString());
    return 1;
  }
  if (!config.port_file.empty()) std::ofstream(config.port_file) << port << "\n";
  LogInfo(absl::StrCat("serving UpgradeService on port ", port));

  std::atomic<bool> workers_stop{false};
  std::thread relay_thread([&] { relay.Run(workers_stop); });
  std::thread consumer_thread([&] { (*consumer)->Run(workers_stop); });
  // Orders need the platform database and the hosting server; the broker may be down (the outbox
  // keeps orders until it is back), but then request is degraded and says so.
  std::thread health([&] {
    MonitorHealth(**server,
                  {{"platform database", [&] { return pg::PingServer(config.platform_db); }},
                   {"hosting server", [&] { return pg::PingServer(pg::ConnInfoFor(config.hosting_db, "postgres")); }},
                   {"kafka broker", [&] { return (*producer)->CheckBroker(absl::Seconds(2)); }, true}},
                  {upgrade::v1::UpgradeService::service_full_name(), upgrade::v1::UpgradeGate::service_full_name()},
                  absl::GetFlag(FLAGS_health_interval), stop);
  });
  WaitForStopSignal();

  LogInfo("stopping");
  health.join();  // NOT_SERVING first
  (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  workers_stop = true;
  relay.Wake();
  relay_thread.join();
  consumer_thread.join();
  (*producer)->Flush(absl::Seconds(5));
  LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace upshift::request

int main(int argc, char** argv) {
  upshift::ParseFlagsWithEnv(argc, argv);
  upshift::SetLogName("request");
  const std::atomic<bool>& stop = upshift::InstallStopSignals();
  return upshift::request::Run(upshift::request::ReadConfig(), stop);
}
