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
#include "libs/auth/auth_flags.h"
#include "libs/common/tls_flags.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "services/request/admission.h"
#include "services/request/events_tracker.h"
#include "services/request/grpc_service.h"
#include "libs/kafka/outbox_relay.h"
#include "services/request/pg_order_store.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address (port 0: any free port)");
ABSL_FLAG(std::string, gate_listen, "0.0.0.0:50053",
          "Listen address of UpgradeGate, for the workers only: mTLS, clients need a certificate of --tls_ca");
ABSL_FLAG(absl::Duration, health_interval, absl::Seconds(2), "How often health probes the databases and the broker");
ABSL_FLAG(std::string, port_file, "", "If set, the bound gRPC port is written there");
ABSL_FLAG(std::string, platform_db, "", "libpq connection string of the platform database");
ABSL_FLAG(std::string, hosting_db, "", "libpq connection string of the hosting server (no dbname)");
ABSL_FLAG(std::vector<std::string>, reserved_databases, {"upshift"},
          "Databases of the platform on the hosting server, never upgraded");
ABSL_FLAG(std::string, catalog, "", "Path of the migration catalog folder");
ABSL_FLAG(int, pool_size, 8, "PostgreSQL connections to the platform database");
ABSL_FLAG(absl::Duration, max_test_age, absl::Hours(24 * 30),
          "A Production upgrade needs a successful Test to the same version at most this old");
ABSL_FLAG(int, orders_per_tenant_per_hour, 60,
          "Orders and checks one tenant may make per hour on this replica (operators are not limited; 0: no limit)");
ABSL_FLAG(int, order_burst_per_tenant, 10, "Orders and checks one tenant may make at once before the hourly rate applies");
ABSL_FLAG(absl::Duration, test_copy_extension, absl::Hours(24 * 30),
          "How far one ExtendTestCopy pushes a test copy's expiry (past the later of now and its current expiry)");
ABSL_FLAG(absl::Duration, outbox_poll_interval, absl::Seconds(1),
          "How often the outbox is checked besides after each admission (orders of other replicas)");

namespace upshift::request {
namespace {

struct Config {
  std::string listen, port_file, platform_db, hosting_db, catalog;
  std::vector<std::string> reserved;
  int pool_size;
  absl::Duration outbox_poll_interval;
  absl::Duration max_test_age;
  absl::Duration test_copy_extension;
  int orders_per_tenant_per_hour;
  int order_burst_per_tenant;
};

Config ReadConfig() {
  return {absl::GetFlag(FLAGS_listen),      absl::GetFlag(FLAGS_port_file),
          absl::GetFlag(FLAGS_platform_db), absl::GetFlag(FLAGS_hosting_db), absl::GetFlag(FLAGS_catalog),
          absl::GetFlag(FLAGS_reserved_databases), absl::GetFlag(FLAGS_pool_size),
          absl::GetFlag(FLAGS_outbox_poll_interval), absl::GetFlag(FLAGS_max_test_age),
          absl::GetFlag(FLAGS_test_copy_extension), absl::GetFlag(FLAGS_orders_per_tenant_per_hour),
          absl::GetFlag(FLAGS_order_burst_per_tenant)};
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
  absl::StatusOr<KafkaOptions> kafka_options = KafkaOptionsFromFlags("request");
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
  Admission admission({config.reserved, config.max_test_age, config.orders_per_tenant_per_hour,
                       config.order_burst_per_tenant},
                      *catalog, hosting, *store, SystemClock(), [&relay] { relay.Wake(); });
  Cancellation cancellation(*store, SystemClock(), [&relay] { relay.Wake(); });
  TestCopies copies(*store, SystemClock(), config.test_copy_extension, [&relay] { relay.Wake(); });
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = AuthenticatorFromFlags();
  if (!auth.ok()) {
    LogError(auth.status().ToString());
    return 2;
  }
  Auditor auditor(*store, SystemClock(), [&relay] { relay.Wake(); });
  UpgradeServiceImpl service(**auth, admission, cancellation, copies, auditor);
  AuditServiceImpl audit(**auth, auditor);
  WorkClaims claims(*store, *store);
  UpgradeGateImpl gate(cancellation, claims);
  EventsTracker tracker(*store);
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer = KafkaConsumer::Create(
      kafka, "upshift-request", {topics::kEvents}, producer->get(),
      [&tracker](const ConsumedRecord& r) { return tracker.Handle(r); }, {}, MaxInFlightFromFlags());
  if (!consumer.ok()) {
    LogError(consumer.status().ToString());
    return 2;
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> api_credentials = ServerCredentialsFromFlags();
  // Only the workers, with client certificates of the platform's CA, reach the gate.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> gate_credentials =
      ServerCredentialsFromFlags(/*require_client_certs=*/true);
  for (const absl::Status& s : {api_credentials.status(), gate_credentials.status()}) {
    if (!s.ok()) {
      LogError(s.ToString());
      return 2;
    }
  }
  int port = 0, gate_port = 0;
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartGrpcServer(config.listen, {&service, &audit}, *api_credentials, &port);
  if (!server.ok()) {
    LogError(server.status().ToString());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<grpc::Server>> gate_server =
      StartGrpcServer(absl::GetFlag(FLAGS_gate_listen), {&gate}, *gate_credentials, &gate_port);
  if (!gate_server.ok()) {
    LogError(gate_server.status().ToString());
    return 1;
  }
  if (!config.port_file.empty()) std::ofstream(config.port_file) << port << "\n";
  LogInfo(absl::StrCat("serving UpgradeService on port ", port, ", UpgradeGate on port ", gate_port));

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
                  {upgrade::v1::UpgradeService::service_full_name(), upgrade::v1::AuditService::service_full_name()},
                  absl::GetFlag(FLAGS_health_interval), stop);
  });
  std::thread gate_health([&] {
    MonitorHealth(**gate_server, {{"platform database", [&] { return pg::PingServer(config.platform_db); }}},
                  {upgrade::v1::UpgradeGate::service_full_name()}, absl::GetFlag(FLAGS_health_interval), stop);
  });
  WaitForStopSignal();

  LogInfo("stopping");
  health.join();  // NOT_SERVING first
  gate_health.join();
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
  (*server)->Shutdown(deadline);
  (*gate_server)->Shutdown(deadline);
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
