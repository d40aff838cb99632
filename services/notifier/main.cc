// notifier: emails customers about their upgrades, over SMTP or into an outbox folder.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/tls_flags.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "libs/pg/connections.h"
#include "libs/runtime/service.h"
#include "libs/mail/outbox_mailer.h"
#include "libs/mail/smtp_mailer.h"
#include "services/notifier/notifier.h"
#include "services/notifier/pg_sent_log.h"

ABSL_FLAG(std::string, health_listen, "0.0.0.0:50063", "Address of the grpc.health.v1 server (port 0: any free port)");
ABSL_FLAG(std::string, platform_db, "", "Required: libpq connection string of the platform database");
ABSL_FLAG(std::string, smtp_url, "", "smtp://host:port of the mail server; empty: write .eml files to --outbox_dir");
ABSL_FLAG(std::string, smtp_username, "", "SMTP user (empty: no authentication)");
ABSL_FLAG(std::string, smtp_password, "", "SMTP password (prefer UPSHIFT_SMTP_PASSWORD)");
ABSL_FLAG(std::string, outbox_dir, "./outbox", "Where messages go when no SMTP server is configured");
ABSL_FLAG(std::string, mail_from, "upgrades@upshift.example.com", "Sender address");
ABSL_FLAG(std::string, connect_hint, "", "How customers reach the hosting server, e.g. 'host=db.example.com port=5432'");
ABSL_FLAG(absl::Duration, retention, absl::Hours(24 * 90),
          "How long the orders and sent emails of an ended upgrade are kept (pruned hourly, in batches)");

namespace upshift::notifier {
namespace {

std::unique_ptr<Mailer> MakeMailer() {
  if (absl::GetFlag(FLAGS_smtp_url).empty()) {
    LogInfo(absl::StrCat("no SMTP server configured: writing messages to ", absl::GetFlag(FLAGS_outbox_dir)));
    return std::make_unique<OutboxMailer>(absl::GetFlag(FLAGS_outbox_dir), absl::GetFlag(FLAGS_mail_from));
  }
  return std::make_unique<SmtpMailer>(SmtpOptions{absl::GetFlag(FLAGS_smtp_url), absl::GetFlag(FLAGS_mail_from),
                                                  absl::GetFlag(FLAGS_smtp_username),
                                                  absl::GetFlag(FLAGS_smtp_password), absl::Seconds(30)});
}

}  // namespace

int Main(int argc, char** argv) {
  runtime::Service service(argc, argv, {"notifier", 9465});
  KafkaOptions kafka = service.Need(KafkaOptionsFromFlags("notifier"), "read the Kafka flags");
  auto serving = service.Need(ServerCredentialsFromFlags(), "read the TLS flags");
  std::unique_ptr<Mailer> mailer = MakeMailer();
  const std::string platform_db = absl::GetFlag(FLAGS_platform_db);
  std::unique_ptr<PgSentLog> log = service.AwaitOpen([&] { return PgSentLog::Open(platform_db); }, "platform database");
  std::unique_ptr<KafkaProducer> producer = service.Need(KafkaProducer::Create(kafka), "make the Kafka producer");
  NotifierOptions options;
  options.email.connect_hint = absl::GetFlag(FLAGS_connect_hint);
  options.retention = absl::GetFlag(FLAGS_retention);
  Notifier notifier(options, *mailer, *log);
  std::unique_ptr<KafkaConsumer> consumer = service.Need(
      KafkaConsumer::Create(kafka, "upshift-notifier", {topics::kOrders, topics::kEvents}, producer.get(),
                            [&notifier](const ConsumedRecord& r) { return notifier.Handle(r); }, {},
                            MaxInFlightFromFlags()),
      "make the Kafka consumer");
  service.Serve("health", absl::GetFlag(FLAGS_health_listen), {}, serving,
                {{"platform database", [&] { return pg::PingServer(platform_db); }}, BrokerProbe(*producer)});
  service.Task("consumer", [&](const StopToken& stop) { consumer->Run(stop); });
  service.Every("retention", absl::Hours(1), [&] { return notifier.Prune().status(); });
  service.OnStopped([&] { producer->Flush(absl::Seconds(5)); });
  return service.Run();
}

}  // namespace upshift::notifier

int main(int argc, char** argv) { return upshift::notifier::Main(argc, argv); }
