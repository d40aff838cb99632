#ifndef UPSHIFT_SERVICES_NOTIFIER_EMAILS_H_
#define UPSHIFT_SERVICES_NOTIFIER_EMAILS_H_

#include <optional>
#include <string>

#include "libs/mail/mailer.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::notifier {

struct EmailOptions {
  // How customers reach the hosting server, e.g. "host=db.example.com port=5432"; shown in the
  // "test database ready" email next to the copy's name.
  std::string connect_hint;
};

// The email that tells the customer about `event`, or nullopt when the event is not one customers
// are told about. Its message id is derived from EmailKey(event).
std::optional<Email> ComposeEmail(const upgrade::v1::Event& event, const EmailOptions& options);

// What an email is sent once for: the event's id, except for a heartbeat saying that an offline
// database's hosting server does not answer, which is told once per upgrade ("<id>/server_away"),
// however many heartbeats say it.
std::string EmailKey(const upgrade::v1::Event& event);

}  // namespace upshift::notifier

#endif  // UPSHIFT_SERVICES_NOTIFIER_EMAILS_H_
