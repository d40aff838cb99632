// status: records upgrade states and database tags from upgrade.orders and upgrade.events,
// serves them over gRPC (StatusService), and publishes every change on upgrade.status.

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/catalog/catalog.h"
#include "libs/common/logging.h"
#include "libs/gate/grpc_gate.h"
#include "libs/gate/late_acceptance_flags.h"
#include "libs/gate/late_acceptances.h"
#include "libs/pg/connections.h"
#include "libs/runtime/service.h"
#include "libs/hosting/pg_hosting_fleet.h"
#include "libs/kafka/consumer.h"
#include "libs/auth/auth_flags.h"
#include "libs/common/tls_flags.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "services/status/change_hub.h"
#include "services/status/config.h"
#include "services/status/database_view.h"
#include "services/status/grpc_service.h"
#include "services/status/pg_status_store.h"
#include "services/status/intake.h"
#include "services/status/stall_sweep.h"
#include "services/status/upgrade_metrics.h"
#include "libs/kafka/outbox_relay.h"

namespace upshift::status {

int Main(int argc, char** argv) {
  runtime::Service service(argc, argv, {"status", 9462});
  const Config config = service.Need(ConfigFromFlags(), "read the flags");
  Catalog catalog = service.Need(Catalog::Load(config.catalog), "load the catalog");
  KafkaOptions kafka = service.Need(KafkaOptionsFromFlags("status"), "read the Kafka flags");
  std::unique_ptr<Authenticator> auth = service.Need(AuthenticatorFromFlags(), "read the authentication flags");
  auto credentials = service.Need(ServerCredentialsFromFlags(), "read the TLS flags");
  std::unique_ptr<PgStatusStore> store = service.AwaitOpen(
      [&] { return PgStatusStore::Open(config.platform_db, config.pool_size); }, "platform database");
  std::unique_ptr<LiveInventory> inventory = service.Need(LiveInventory::FromFlags(), "read the hosting inventory");
  PgHostingFleet hosting(*inventory, {"", config.reserved, "", absl::Hours(6)});
  std::unique_ptr<KafkaProducer> producer = service.Need(KafkaProducer::Create(kafka), "make the Kafka producer");
  ChangeHub hub;
  DatabaseView view(hosting, *store, catalog, config.reserved);
  // Changes reach upgrade.status through an outbox: recorded in the same transaction as the state.
  OutboxRelay relay(
      [&](int limit, const auto& publish, int* count) {
        return store->DrainChanges(
            limit, [&](const std::vector<PendingChange>& changes) { return publish(StatusRecords(changes, view)); },
            count);
      },
      *producer, absl::Seconds(1));
  auto wake_relay = [&relay] { relay.Wake(); };
  EventIntake intake(*store, hub, wake_relay);
  std::unique_ptr<KafkaConsumer> consumer = service.Need(
      KafkaConsumer::Create(kafka, "upshift-status", {topics::kOrders, topics::kEvents}, producer.get(),
                            [&intake](const ConsumedRecord& r) { return intake.Handle(r); }, {},
                            MaxInFlightFromFlags()),
      "make the Kafka consumer");
  // Set once the server is out of rotation: WatchUpgrade streams end, so that the server can stop.
  StopToken draining;
  StreamSlots watches(config.max_watch_streams, config.max_watch_streams_per_caller);
  Queries queries(*store, view, watches, hub);
  StatusServiceImpl statuses(*auth, queries, draining);
  int port = service.Serve(
      "StatusService", config.listen, {&statuses}, credentials,
      {{"platform database", [&] { return pg::PingServer(config.platform_db); }},
       {"hosting servers", [&] { return AnyServerAnswers(*inventory); }},
       BrokerProbe(*producer, /*rpcs_survive=*/true)},
      {upgrade::v1::StatusService::service_full_name()});
  if (!config.port_file.empty()) std::ofstream(config.port_file) << port << "\n";
  service.OnDrain([&] {
    draining.Stop();
    hub.Notify();
  });
  service.OnScrape([&] {
    if (absl::StatusOr<OutboxDepth> depth = store->Outbox(); depth.ok()) ExportOutboxDepth("status", *depth);
    absl::StatusOr<std::vector<upgrade::v1::Upgrade>> unfinished = store->UnfinishedUpgrades();
    if (unfinished.ok()) ExportUnfinished(*unfinished, absl::Now());
  });
  // Declared first, stopped last: what the others recorded still reaches upgrade.status.
  service.Task("outbox relay", [&](const StopToken& stop) { relay.Run(stop); }, wake_relay);
  service.Task("stall sweeper", [&](const StopToken& stop) {
    SweepStalls(*store, *producer, config.stall_timeout, hub, relay, stop);
  });
  service.Task("consumer", [&](const StopToken& stop) { consumer->Run(stop); });
  // Records kept for an acceptance that never came a day later name an upgrade request never
  // announced (a forgery, or a worker's leaked key): they are forgotten.
  // An acceptance that never reached status is read from request's stored order.
  const LateAcceptanceConfig late_config = service.Need(LateAcceptanceConfigFromFlags(), "read the gate flags");
  GrpcGate gate(late_config.gate_addr, absl::Seconds(10), late_config.calling);
  LateAcceptances late("status", intake, gate, late_config.wait);
  service.Every("late acceptances", late_config.every(), [&] { return late.Resolve(absl::Now()).status(); });
  service.Every("retention", absl::Hours(1),
                [&] { return store->ForgetPendingBefore(absl::Now() - absl::Hours(24)).status(); });
  service.Every("inventory", kInventoryReload, [&] {
    inventory->Reload();
    return absl::OkStatus();
  });
  service.OnStopped([&] { producer->Flush(absl::Seconds(5)); });
  return service.Run();
}

}  // namespace upshift::status

int main(int argc, char** argv) { return upshift::status::Main(argc, argv); }
