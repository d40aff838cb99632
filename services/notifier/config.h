#ifndef UPSHIFT_SERVICES_NOTIFIER_CONFIG_H_
#define UPSHIFT_SERVICES_NOTIFIER_CONFIG_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libs/mail/mailer.h"
#include "services/notifier/notifier.h"

namespace upshift::notifier {

// The notifier's own flags, read and checked (the shared ones: libs/*/..._flags.h).
struct Config {
  std::string health_listen, platform_db;
  NotifierOptions options;
};

// INVALID_ARGUMENT naming the flag that is out of range.
absl::StatusOr<Config> ConfigFromFlags();

// The mailer the flags name: SMTP, or .eml files in --outbox_dir when no SMTP server is set.
std::unique_ptr<Mailer> MailerFromFlags();

}  // namespace upshift::notifier

#endif  // UPSHIFT_SERVICES_NOTIFIER_CONFIG_H_
