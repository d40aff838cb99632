// request: the gRPC front door. Admits orders, records them with their outbox entries in
// PostgreSQL, and relays the outbox to upgrade.orders.

#include <fstream>

#include "absl/strings/str_cat.h"
#include "libs/catalog/catalog.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "libs/runtime/service.h"
#include "libs/hosting/pg_hosting_fleet.h"
#include "libs/kafka/consumer.h"
#include "libs/auth/auth_flags.h"
#include "libs/common/tls_flags.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "services/request/admission.h"
#include "services/request/config.h"
#include "services/request/events_tracker.h"
#include "services/request/grpc_service.h"
#include "libs/kafka/outbox_relay.h"
#include "services/request/pg_order_store.h"
#include "services/request/pg_rate_limiter.h"
#include "services/request/retention.h"
#include "services/request/rollouts.h"
#include "services/request/schedules.h"

namespace upshift::request {

int Main(int argc, char** argv) {
  runtime::Service service(argc, argv, {"request", 9461});
  const Config config = service.Need(ConfigFromFlags(), "read the flags");
  Catalog catalog = service.Need(Catalog::Load(config.catalog), "load the catalog");
  KafkaOptions kafka = service.Need(KafkaOptionsFromFlags("request"), "read the Kafka flags");
  std::unique_ptr<Authenticator> auth = service.Need(AuthenticatorFromFlags(), "read the authentication flags");
  auto api_credentials = service.Need(ServerCredentialsFromFlags(), "read the TLS flags");
  // Only the workers, with client certificates of the platform's CA, reach the gate.
  auto gate_credentials = service.Need(ServerCredentialsFromFlags(/*require_client_certs=*/true), "read the TLS flags");
  std::unique_ptr<PgOrderStore> store = service.AwaitOpen(
      [&] { return PgOrderStore::Open(config.platform_db, config.pool_size); }, "platform database");
  std::unique_ptr<LiveInventory> inventory = service.Need(LiveInventory::FromFlags(), "read the hosting inventory");
  PgHostingFleet hosting(*inventory, {"", config.reserved, "", absl::Hours(6), 4, config.max_database_reads,
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
                       config.order_burst_per_tenant, config.reads_per_tenant_per_minute, config.read_burst_per_tenant,
                       config.max_offline_factor, config.max_offline_floor, config.restore_point_retention},
                      catalog, hosting, *store, SystemClock(), wake_relay, &order_limit, &read_limit, store.get());
  MaintenanceWindows windows(hosting, config.reserved, *store, SystemClock());
  Cancellation cancellation(*store, SystemClock(), wake_relay);
  Schedules schedules({config.max_test_age, config.reminder_before}, *store, *store, SystemClock(), wake_relay);
  TestCopies copies(*store, SystemClock(), config.test_copy_extension, wake_relay);
  // Refused calls a tenant may have stored: a burst of 100, then 600 an hour, shared by the replicas.
  PgRateLimiter refusal_limit(limits_pool, "audited_refusals", 600, absl::Hours(1), 100);
  Auditor auditor(*store, SystemClock(), wake_relay, &refusal_limit);
  ServerBoard servers([&inventory] { return inventory->Current()->servers(); },
                      [&inventory](const std::string& name) { return PingServer(*inventory, name); }, *store,
                      SystemClock());
  UpgradeServiceImpl upgrades(*auth, admission, cancellation, copies, auditor, servers, windows);
  AuditServiceImpl audit(*auth, auditor);
  // A rollout orders no more at once on a server than the copies the inventory lets it make.
  Rollouts rollouts({config.reserved}, catalog, hosting, admission, *store, *store, auditor, SystemClock(),
                    [&inventory](const std::string& server) {
                      const ServerSpec* spec = inventory->Current()->Find(server);
                      return spec == nullptr ? 0 : spec->max_copies;
                    },
                    absl::StrCat("request/", NewUpgradeId()));
  RolloutServiceImpl rollout_api(*auth, rollouts, auditor);
  // Each server's limits as the inventory says now (a limit lowered holds from the next claim on).
  WorkClaims claims(*store, *store, [&inventory](const std::string& server, const std::string& pool) {
    const std::shared_ptr<const Inventory> now = inventory->Current();
    const ServerSpec* spec = now->Find(server);
    if (spec == nullptr) return 0;
    return pool == "plans" ? spec->max_plans : spec->max_copies;
  });
  // Without TLS there is no certificate to tell the workers apart: every caller may do either's work.
  std::optional<GatePolicy> gate_policy;
  if (!config.plaintext) {
    gate_policy.emplace(config.gate_identities);
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
      "UpgradeService", config.listen, {&upgrades, &audit, &rollout_api}, api_credentials,
      {platform_probe,
       {"hosting servers", [&] { return AnyServerAnswers(*inventory); }},
       BrokerProbe(*producer, /*rpcs_survive=*/true)},
      {upgrade::v1::UpgradeService::service_full_name(), upgrade::v1::AuditService::service_full_name(),
       upgrade::v1::RolloutService::service_full_name()});
  service.Serve("UpgradeGate", config.gate_listen, {&gate}, gate_credentials, {platform_probe},
                {upgrade::v1::UpgradeGate::service_full_name()});
  if (!config.port_file.empty()) std::ofstream(config.port_file) << port << "\n";
  service.OnScrape([&] {
    if (absl::StatusOr<OutboxDepth> depth = store->Outbox(); depth.ok()) ExportOutboxDepth("request", *depth);
    servers.Export();
    rollouts.Export();
  });
  service.Every("server health", absl::Seconds(10), [&] {
    servers.CheckAll();
    return absl::OkStatus();
  });
  service.Every("inventory", kInventoryReload, [&] {
    inventory->Reload();
    return absl::OkStatus();
  });
  service.Every("schedules", config.schedule_interval, [&] { return schedules.Sweep().status(); });
  service.Every("rollouts", config.rollout_interval, [&] { return rollouts.Sweep(); });
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
