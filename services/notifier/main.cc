// notifier: emails customers about their upgrades, over SMTP or into an outbox folder.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/signals.h"
#include "libs/common/tls_flags.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "libs/pg/pg.h"
#include "libs/mail/outbox_mailer.h"
#include "libs/mail/smtp_mailer.h"
#include "services/notifier/notifier.h"
#include "services/notifier/pg_sent_log.h"

ABSL_FLAG(std::string, health_listen, "0.0.0.0:50063", "Address of the grpc.health.v1 server (port 0: any free port)");
ABSL_FLAG(absl::Duration, health_interval, absl::Seconds(2), "How often health probes the database and the broker");
ABSL_FLAG(std::string, platform_db, "", "libpq connection string of the platform database");
ABSL_FLAG(std::string, smtp_url, "", "smtp://host:port of the mail server; empty: write .eml files to --outbox_dir");
ABSL_FLAG(std::string, smtp_username, "", "SMTP user (empty: no authentication)");
ABSL_FLAG(std::string, smtp_password, "", "SMTP password (prefer UPSHIFT_SMTP_PASSWORD)");
ABSL_FLAG(std::string, outbox_dir, "./outbox", "Where messages go when no SMTP server is configured");
ABSL_FLAG(std::string, mail_from, "upgrades@upshift.example.com", "Sender address");
ABSL_FLAG(std::string, connect_hint, "", "How customers reach the hosting server, e.g. 'host=db.example.com port=5432'");

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

int Run(const std::atomic<bool>& stop) {
  absl::StatusOr<KafkaOptions> kafka = KafkaOptionsFromFlags("notifier");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> serving = ServerCredentialsFromFlags();
  for (const absl::Status& s : {kafka.status(), serving.status()}) {
    if (!s.ok()) {
      LogError(s.ToString());
      return 2;
    }
  }
  std::unique_ptr<Mailer> mailer = MakeMailer();
  std::unique_ptr<PgSentLog> log;
  if (!RetryUntilReady([&] {
        absl::StatusOr<std::unique_ptr<PgSentLog>> opened = PgSentLog::Open(absl::GetFlag(FLAGS_platform_db));
        if (opened.ok()) log = *std::move(opened);
        return opened.status();
      }, stop, "platform database")) {
    return 0;
  }
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(*kafka);
  if (!producer.ok()) {
    LogError(producer.status().ToString());
    return 2;
  }
  Notifier notifier({absl::GetFlag(FLAGS_connect_hint)}, *mailer, *log);
  std::string platform_db = absl::GetFlag(FLAGS_platform_db);
  WorkerHealth health{absl::GetFlag(FLAGS_health_listen),
                      *serving,
                      {{"platform database", [&] { return pg::PingServer(platform_db); }}},
                      absl::GetFlag(FLAGS_health_interval)};
  return RunConsumer(*kafka, "upshift-notifier", {topics::kOrders, topics::kEvents}, **producer,
                     [&notifier](const ConsumedRecord& r) { return notifier.Handle(r); }, {}, MaxInFlightFromFlags(),
                     std::move(health), stop);
}

}  // namespace
}  // namespace upshift::notifier

int main(int argc, char** argv) {
  upshift::ParseFlagsWithEnv(argc, argv);
  upshift::SetLogName("notifier");
  return upshift::notifier::Run(upshift::InstallStopSignals());
}
