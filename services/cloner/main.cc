// cloner: database-level operations on the hosting server. Makes and verifies test copies, and
// drops the copies of failed Test upgrades.

#include "absl/time/clock.h"
#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/tls_flags.h"
#include "libs/gate/claim_flags.h"
#include "libs/gate/grpc_gate.h"
#include "libs/hosting/pg_hosting_fleet.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "libs/runtime/service.h"
#include "services/cloner/cloner.h"
#include "services/cloner/config.h"
#include "services/cloner/pg_clone_store.h"

namespace upshift::cloner {

int Main(int argc, char** argv) {
  runtime::Service service(argc, argv, {"cloner", 9463});
  const Config config = service.Need(ConfigFromFlags(), "read the flags");
  std::unique_ptr<PgCloneStore> store =
      service.AwaitOpen([&] { return PgCloneStore::Open(config.platform_db); }, "platform database");
  std::unique_ptr<LiveInventory> inventory = service.Need(LiveInventory::FromFlags(), "read the hosting inventory");
  PgHostingFleet hosting(*inventory, config.hosting);
  std::unique_ptr<KafkaProducer> producer = service.Need(KafkaProducer::Create(config.kafka), "make the Kafka producer");
  GrpcGate request_gate(config.gate_addr, absl::Seconds(10), config.calling);
  CachingGate gate(request_gate);
  ClonerOptions options = config.options;
  options.claims.stopping = &service.stopping();
  Cloner cloner(options, {hosting, *store, *store, *store, *store, *producer, gate, SystemClock()});
  std::unique_ptr<KafkaConsumer> consumer = service.Need(
      KafkaConsumer::Create(config.kafka, "upshift-cloner", {topics::kOrders, topics::kEvents}, producer.get(),
                            [&cloner](const ConsumedRecord& r) { return cloner.Handle(r); },
                            Heartbeats(*producer, "cloner", config.heartbeat_interval),
                            MaxInFlightFromFlags(), IsHeartbeat),
      "make the Kafka consumer");
  service.Serve(
      "health", config.health_listen, {}, config.serving,
      {{"platform database", [&] { return pg::PingServer(config.platform_db); }},
       {"hosting servers", [&] { return AnyServerAnswers(*inventory); }},
       BrokerProbe(*producer)});
  LogInfo(absl::StrCat("claims copies as ", config.options.claims.holder, "; up to ", MaxInFlightFromFlags(),
                       " records and ", config.options.max_concurrent_copies, " copies at once"));
  // Declared first, stopped last: the sweeper may still roll back what the consumer left.
  service.Every("sweeper", config.sweep_interval, [&] { return cloner.Sweep(); });
  service.Task("consumer", [&](const StopToken& stop) { consumer->Run(stop); });
  service.Every("inventory", kInventoryReload, [&] {
    inventory->Reload();
    return absl::OkStatus();
  });
  service.Every("retention", absl::Hours(1), [&] { return cloner.ForgetAppliedEvents().status(); });
  service.OnStopped([&] { producer->Flush(absl::Seconds(5)); });
  return service.Run();
}

}  // namespace upshift::cloner

int main(int argc, char** argv) { return upshift::cloner::Main(argc, argv); }
