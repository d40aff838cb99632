// request: the gRPC front door. Admits orders, records them with their outbox entries in
// PostgreSQL, and relays the outbox to upgrade.orders.

#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/catalog/catalog.h"
#include "libs/common/logging.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "libs/runtime/service.h"
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
#include "services/request/pg_rate_limiter.h"
#include "services/request/retention.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address (port 0: any free port)");
ABSL_FLAG(std::string, gate_listen, "0.0.0.0:50053",
          "Listen address of UpgradeGate, for the workers only: mTLS, clients need a certificate of --tls_ca");
ABSL_FLAG(std::string, port_file, "", "If set, the bound gRPC port is written there");
ABSL_FLAG(std::string, platform_db, "", "Required: libpq connection string of the platform database");
ABSL_FLAG(std::string, hosting_db, "", "Required: libpq connection string of the hosting server (no dbname)");
ABSL_FLAG(std::vector<std::string>, reserved_databases, {"upshift"},
          "Databases of the platform on the hosting server, never upgraded");
ABSL_FLAG(std::string, catalog, "", "Required: path of the migration catalog folder");
ABSL_FLAG(int, pool_size, 8, "PostgreSQL connections to the platform database");
ABSL_FLAG(absl::Duration, max_test_age, absl::Hours(24 * 30),
          "A Production upgrade needs a successful Test to the same version at most this old");
ABSL_FLAG(int, orders_per_tenant_per_hour, 60,
          "Orders and checks one tenant may make per hour on this replica (operators are not limited; 0: no limit)");
ABSL_FLAG(int, order_burst_per_tenant, 10, "Orders and checks one tenant may make at once before the hourly rate applies");
ABSL_FLAG(int, reads_per_tenant_per_minute, 120,
          "GetUpgradeOptions calls (each reads the customer's database) one tenant may make per minute on this "
          "replica (operators are not limited; 0: no limit)");
ABSL_FLAG(int, read_burst_per_tenant, 20, "GetUpgradeOptions calls one tenant may make at once before the rate applies");
ABSL_FLAG(int, max_database_reads, 8,
          "Reads inside customer databases (the version query) this replica runs at once; more wait up to 2 s, "
          "then get RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, database_read_timeout, absl::Seconds(5),
          "How long one read inside a customer database may take, lock waits included (then DEADLINE_EXCEEDED)");
ABSL_FLAG(std::vector<std::string>, gate_cloner_names, (std::vector<std::string>{"cloner", "upshift-cloner"}),
          "Names (a certificate's CN or DNS SAN) of the cloner's client certificate: the gate serves it the cloner's work only");
ABSL_FLAG(std::vector<std::string>, gate_migrator_names, (std::vector<std::string>{"migrator", "upshift-migrator"}),
          "Names (a certificate's CN or DNS SAN) of the migrator's client certificate: the gate serves it the migrator's work only");
ABSL_FLAG(absl::Duration, test_copy_extension, absl::Hours(24 * 30),
          "How far one ExtendTestCopy pushes a test copy's expiry (past the later of now and its current expiry)");
ABSL_FLAG(absl::Duration, audit_retention, absl::Hours(24 * 365),
          "How long the audit trail keeps a record (pruned hourly, in batches)");
ABSL_FLAG(absl::Duration, order_retention, absl::Hours(24 * 90),
          "How long an ended order and its claims are kept (a Test's, from when its copy is gone); after "
          "that its request_id may be used again");
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
  int reads_per_tenant_per_minute;
  int read_burst_per_tenant;
  int max_database_reads;
  absl::Duration database_read_timeout;
  RetentionOptions retention;
  bool plaintext;
};

Config ReadConfig() {
  return {absl::GetFlag(FLAGS_listen),      absl::GetFlag(FLAGS_port_file),
          absl::GetFlag(FLAGS_platform_db), absl::GetFlag(FLAGS_hosting_db), absl::GetFlag(FLAGS_catalog),
          absl::GetFlag(FLAGS_reserved_databases), absl::GetFlag(FLAGS_pool_size),
          absl::GetFlag(FLAGS_outbox_poll_interval), absl::GetFlag(FLAGS_max_test_age),
          absl::GetFlag(FLAGS_test_copy_extension), absl::GetFlag(FLAGS_orders_per_tenant_per_hour),
          absl::GetFlag(FLAGS_order_burst_per_tenant), absl::GetFlag(FLAGS_reads_per_tenant_per_minute),
          absl::GetFlag(FLAGS_read_burst_per_tenant), absl::GetFlag(FLAGS_max_database_reads),
          absl::GetFlag(FLAGS_database_read_timeout),
          {absl::GetFlag(FLAGS_audit_retention), absl::GetFlag(FLAGS_order_retention)},
          TlsOptionsFromFlags().plaintext};
}

}  // namespace

int Main(int argc, char** argv) {
  runtime::Service service(argc, argv, {"request", 9461});
  const Config config = ReadConfig();
  if (config.max_database_reads < 1 || config.database_read_timeout <= absl::ZeroDuration()) {
    service.Check(absl::InvalidArgumentError("--max_database_reads must be 1 or more and --database_read_timeout "
                                             "longer than 0"),
                  "read the flags");
  }
  Catalog catalog = service.Need(Catalog::Load(config.catalog), "load the catalog");
  KafkaOptions kafka = service.Need(KafkaOptionsFromFlags("request"), "read the Kafka flags");
  std::unique_ptr<Authenticator> auth = service.Need(AuthenticatorFromFlags(), "read the authentication flags");
  auto api_credentials = service.Need(ServerCredentialsFromFlags(), "read the TLS flags");
  // Only the workers, with client certificates of the platform's CA, reach the gate.
  auto gate_credentials = service.Need(ServerCredentialsFromFlags(/*require_client_certs=*/true), "read the TLS flags");
  std::unique_ptr<PgOrderStore> store = service.AwaitOpen(
      [&] { return PgOrderStore::Open(config.platform_db, config.pool_size); }, "platform database");
  PgHostingServer hosting({config.hosting_db, config.reserved, "", absl::Hours(6), 4, config.max_database_reads,
                           absl::Seconds(2), config.database_read_timeout});
  std::unique_ptr<KafkaProducer> producer = service.Need(KafkaProducer::Create(kafka), "make the Kafka producer");
  OutboxRelay relay([&store](int limit, const auto& publish, int* count) { return store->DrainOutbox(limit, publish, count); },
                    *producer, config.outbox_poll_interval);
  auto wake_relay = [&relay] { relay.Wake(); };
  // Every replica takes from the same buckets, in the platform database (one small pool for them all).
  pg::Pool limits_pool(config.platform_db, 2);
  PgRateLimiter order_limit(limits_pool, "orders", config.orders_per_tenant_per_hour, absl::Hours(1),
                            config.order_burst_per_tenant);
  PgRateLimiter read_limit(limits_pool, "reads", config.reads_per_tenant_per_minute, absl::Minutes(1),
                           config.read_burst_per_tenant);
  Admission admission({config.reserved, config.max_test_age, config.orders_per_tenant_per_hour,
                       config.order_burst_per_tenant, config.reads_per_tenant_per_minute, config.read_burst_per_tenant},
                      catalog, hosting, hosting, *store, SystemClock(), wake_relay, &order_limit, &read_limit);
  Cancellation cancellation(*store, SystemClock(), wake_relay);
  TestCopies copies(*store, SystemClock(), config.test_copy_extension, wake_relay);
  // Refused calls a tenant may have stored: a burst of 100, then 600 an hour, shared by the replicas.
  PgRateLimiter refusal_limit(limits_pool, "audited_refusals", 600, absl::Hours(1), 100);
  Auditor auditor(*store, SystemClock(), wake_relay, &refusal_limit);
  UpgradeServiceImpl upgrades(*auth, admission, cancellation, copies, auditor);
  AuditServiceImpl audit(*auth, auditor);
  WorkClaims claims(*store, *store);
  // Without TLS there is no certificate to tell the workers apart: every caller may do either's work.
  std::optional<GatePolicy> gate_policy;
  if (!config.plaintext) {
    gate_policy.emplace(GateIdentities{absl::GetFlag(FLAGS_gate_cloner_names), absl::GetFlag(FLAGS_gate_migrator_names)});
  }
  UpgradeGateImpl gate(cancellation, claims, std::move(gate_policy));
  EventsTracker tracker(*store);
  std::unique_ptr<KafkaConsumer> consumer = service.Need(
      KafkaConsumer::Create(kafka, "upshift-request", {topics::kEvents}, producer.get(),
                            [&tracker](const ConsumedRecord& r) { return tracker.Handle(r); }, {},
                            MaxInFlightFromFlags()),
      "make the Kafka consumer");
  // Orders need the platform database and the hosting server; the broker may be down (the outbox
  // keeps orders until it is back), but then request is degraded and says so.
  HealthProbe platform_probe{"platform database", [&] { return pg::PingServer(config.platform_db); }};
  int port = service.Serve(
      "UpgradeService", config.listen, {&upgrades, &audit}, api_credentials,
      {platform_probe,
       {"hosting server", [&] { return pg::PingServer(pg::ConnInfoFor(config.hosting_db, "postgres")); }},
       BrokerProbe(*producer, /*rpcs_survive=*/true)},
      {upgrade::v1::UpgradeService::service_full_name(), upgrade::v1::AuditService::service_full_name()});
  service.Serve("UpgradeGate", absl::GetFlag(FLAGS_gate_listen), {&gate}, gate_credentials, {platform_probe},
                {upgrade::v1::UpgradeGate::service_full_name()});
  if (!config.port_file.empty()) std::ofstream(config.port_file) << port << "\n";
  service.OnScrape([&] {
    if (absl::StatusOr<OutboxDepth> depth = store->Outbox(); depth.ok()) ExportOutboxDepth("request", *depth);
  });
  service.Task("outbox relay", [&](const StopToken& stop) { relay.Run(stop); }, wake_relay);
  service.Task("events consumer", [&](const StopToken& stop) { consumer->Run(stop); });
  service.Every("retention", absl::Hours(1), [&]() -> absl::Status {
    for (PgRateLimiter* limit : {&order_limit, &read_limit, &refusal_limit}) {
      if (absl::StatusOr<int> idle = limit->ForgetIdle(absl::Hours(24 * 7)); !idle.ok()) return idle.status();
    }
    return PruneExpired(*store, *store, SystemClock(), config.retention).status();
  });
  service.OnStopped([&] { producer->Flush(absl::Seconds(5)); });
  return service.Run();
}

}  // namespace upshift::request

int main(int argc, char** argv) { return upshift::request::Main(argc, argv); }
