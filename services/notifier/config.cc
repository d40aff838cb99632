#include "services/notifier/config.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/mail/outbox_mailer.h"
#include "libs/mail/smtp_mailer.h"

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

absl::StatusOr<Config> ConfigFromFlags() {
  Config c;
  c.health_listen = absl::GetFlag(FLAGS_health_listen);
  c.platform_db = absl::GetFlag(FLAGS_platform_db);
  c.options.email.connect_hint = absl::GetFlag(FLAGS_connect_hint);
  c.options.retention = absl::GetFlag(FLAGS_retention);
  if (c.options.retention <= absl::ZeroDuration()) return absl::InvalidArgumentError("--retention must be longer than 0");
  return c;
}

std::unique_ptr<Mailer> MailerFromFlags() {
  if (absl::GetFlag(FLAGS_smtp_url).empty()) {
    LogInfo(absl::StrCat("no SMTP server configured: writing messages to ", absl::GetFlag(FLAGS_outbox_dir)));
    return std::make_unique<OutboxMailer>(absl::GetFlag(FLAGS_outbox_dir), absl::GetFlag(FLAGS_mail_from));
  }
  return std::make_unique<SmtpMailer>(SmtpOptions{absl::GetFlag(FLAGS_smtp_url), absl::GetFlag(FLAGS_mail_from),
                                                  absl::GetFlag(FLAGS_smtp_username),
                                                  absl::GetFlag(FLAGS_smtp_password), absl::Seconds(30)});
}

}  // namespace upshift::notifier
