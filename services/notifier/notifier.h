#ifndef UPSHIFT_SERVICES_NOTIFIER_NOTIFIER_H_
#define UPSHIFT_SERVICES_NOTIFIER_NOTIFIER_H_

#include <mutex>

#include "libs/kafka/consumer.h"
#include "libs/mail/mailer.h"
#include "services/notifier/emails.h"
#include "services/notifier/sent_log.h"

namespace upshift::notifier {

// Emails the customer on acceptance, success and failure of an upgrade, once per event.
class Notifier {
 public:
  Notifier(EmailOptions options, Mailer& mailer, SentLog& log) : options_(std::move(options)), mailer_(mailer), log_(log) {}

  // Consumer entry point for upgrade.orders and upgrade.events.
  absl::Status Handle(const ConsumedRecord& record);

 private:
  const EmailOptions options_;
  Mailer& mailer_;
  SentLog& log_;
};

}  // namespace upshift::notifier

#endif  // UPSHIFT_SERVICES_NOTIFIER_NOTIFIER_H_
