// notifier: emails customers about their upgrades, over SMTP or into an outbox folder.

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/tls_flags.h"
#include "libs/gate/grpc_gate.h"
#include "libs/gate/late_acceptance_flags.h"
#include "libs/gate/late_acceptances.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "libs/pg/connections.h"
#include "libs/runtime/service.h"
#include "services/notifier/config.h"
#include "services/notifier/notifier.h"
#include "services/notifier/pg_sent_log.h"

namespace upshift::notifier {

int Main(int argc, char** argv) {
  runtime::Service service(argc, argv, {"notifier", 9465});
  const Config config = service.Need(ConfigFromFlags(), "read the flags");
  KafkaOptions kafka = service.Need(KafkaOptionsFromFlags("notifier"), "read the Kafka flags");
  auto serving = service.Need(ServerCredentialsFromFlags(), "read the TLS flags");
  std::unique_ptr<Mailer> mailer = MailerFromFlags();
  const std::string& platform_db = config.platform_db;
  std::unique_ptr<PgSentLog> log = service.AwaitOpen([&] { return PgSentLog::Open(platform_db); }, "platform database");
  std::unique_ptr<KafkaProducer> producer = service.Need(KafkaProducer::Create(kafka), "make the Kafka producer");
  Notifier notifier(config.options, *mailer, *log);
  std::unique_ptr<KafkaConsumer> consumer = service.Need(
      KafkaConsumer::Create(kafka, "upshift-notifier", {topics::kOrders, topics::kEvents}, producer.get(),
                            [&notifier](const ConsumedRecord& r) { return notifier.Handle(r); }, {},
                            MaxInFlightFromFlags()),
      "make the Kafka consumer");
  service.Serve("health", config.health_listen, {}, serving,
                {{"platform database", [&] { return pg::PingServer(platform_db); }}, BrokerProbe(*producer)});
  service.Task("consumer", [&](const StopToken& stop) { consumer->Run(stop); });
  // An announcement that never reached the notifier is read from request's stored order: its email
  // goes out, and what waited for it.
  const LateAcceptanceConfig late_config = service.Need(LateAcceptanceConfigFromFlags(), "read the gate flags");
  GrpcGate gate(late_config.gate_addr, absl::Seconds(10), late_config.calling);
  LateAcceptances late("notifier", notifier, gate, late_config.wait);
  service.Every("late acceptances", late_config.every(), [&] { return late.Resolve(absl::Now()).status(); });
  service.Every("retention", absl::Hours(1), [&] { return notifier.Prune().status(); });
  service.OnStopped([&] { producer->Flush(absl::Seconds(5)); });
  return service.Run();
}

}  // namespace upshift::notifier

int main(int argc, char** argv) { return upshift::notifier::Main(argc, argv); }
