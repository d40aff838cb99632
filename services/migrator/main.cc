// migrator: runs the catalog's upgrade plan inside each test copy, then neutralizes it.

#include "absl/strings/str_cat.h"
#include "libs/catalog/catalog.h"
#include "libs/common/logging.h"
#include "libs/common/tls_flags.h"
#include "libs/gate/claim_flags.h"
#include "libs/gate/grpc_gate.h"
#include "libs/kafka/events.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "libs/hosting/live_inventory.h"
#include "libs/runtime/service.h"
#include "services/migrator/config.h"
#include "services/migrator/migrator.h"
#include "services/migrator/pg_migration_target.h"

namespace upshift::migrator {

int Main(int argc, char** argv) {
  runtime::Service service(argc, argv, {"migrator", 9464});
  const Config config = service.Need(ConfigFromFlags(), "read the flags");
  KafkaOptions kafka = service.Need(KafkaOptionsFromFlags("migrator"), "read the Kafka flags");
  Catalog catalog = service.Need(Catalog::Load(config.catalog), "load the catalog");
  auto serving = service.Need(ServerCredentialsFromFlags(), "read the TLS flags");
  auto calling = service.Need(ChannelCredentialsFromFlags(), "read the TLS flags");
  ClaimOptions claims = service.Need(ClaimOptionsFromFlags("migrator"), "read the claim flags");
  claims.stopping = &service.stopping();
  const absl::Duration heartbeat = config.heartbeat_interval;
  std::unique_ptr<LiveInventory> inventory = service.Need(LiveInventory::FromFlags(), "read the hosting inventory");
  PerServer<PgMigrationTarget> targets(
      *inventory, [](const ServerSpec& server) { return std::make_unique<PgMigrationTarget>(server.conninfo); });
  auto target_for = [&targets](const std::string& named) -> absl::StatusOr<std::shared_ptr<MigrationTarget>> {
    absl::StatusOr<std::string> name = OrderServerName(targets.Names(), named);
    if (!name.ok()) return name.status();
    absl::StatusOr<std::shared_ptr<PgMigrationTarget>> target = targets.Get(*name);
    if (target.status().code() == absl::StatusCode::kNotFound) return ServerAbsent(*name);
    if (!target.ok()) return target.status();
    return std::shared_ptr<MigrationTarget>(*std::move(target));
  };
  std::unique_ptr<KafkaProducer> producer = service.Need(KafkaProducer::Create(kafka), "make the Kafka producer");
  GrpcGate request_gate(config.gate_addr, absl::Seconds(10), calling);
  CachingGate gate(request_gate);
  ServerPings pings(*inventory);
  Migrator migrator(catalog, target_for, *producer, gate, SystemClock(), heartbeat, claims,
                    [&targets, &pings](const std::string& named) {
                      absl::StatusOr<std::string> name = OrderServerName(targets.Names(), named);
                      if (!name.ok()) return absl::OkStatus();  // the plan meets that error itself
                      return pings.Ping(*name);
                    });
  std::unique_ptr<KafkaConsumer> consumer = service.Need(
      KafkaConsumer::Create(kafka, "upshift-migrator", {topics::kEvents}, producer.get(),
                            [&migrator](const ConsumedRecord& r) { return migrator.Handle(r); },
                            Heartbeats(*producer, "migrator", heartbeat), MaxInFlightFromFlags(), IsHeartbeat),
      "make the Kafka consumer");
  service.Serve("health", config.health_listen, {}, serving,
                {{"hosting servers", [&] { return AnyServerAnswers(*inventory); }},
                 BrokerProbe(*producer)});
  LogInfo(absl::StrCat("catalog ", catalog.application(), " loaded; claims plans as ", claims.holder,
                       "; up to ", MaxInFlightFromFlags(), " records at once"));
  service.Task("consumer", [&](const StopToken& stop) { consumer->Run(stop); });
  service.Every("inventory", kInventoryReload, [&] {
    inventory->Reload();
    return absl::OkStatus();
  });
  service.OnStopped([&] { producer->Flush(absl::Seconds(5)); });
  return service.Run();
}

}  // namespace upshift::migrator

int main(int argc, char** argv) { return upshift::migrator::Main(argc, argv); }
