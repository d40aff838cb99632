#include "services/notifier/notifier.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/common/validation.h"
#include "libs/kafka/events.h"

namespace upshift::notifier {

absl::Status Notifier::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
  // What this thread logs from here on is about this upgrade (JSON logs: upgrade_id, database).
  LogScope scope(event.order().upgrade_id(), event.order().database());
  std::optional<Email> email = ComposeEmail(event, options_);
  if (!email.has_value()) return absl::OkStatus();
  UPSHIFT_RETURN_IF_ERROR(ValidateEmail(email->to));
  UPSHIFT_ASSIGN_OR_RETURN(bool sent, log_.WasSent(event.event_id()));
  if (sent) return absl::OkStatus();
  // Sent, then recorded: a crash in between can repeat this one email (same Message-ID), never lose it.
  UPSHIFT_RETURN_IF_ERROR(mailer_.Send(*email));
  LogInfo(absl::StrCat("emailed ", email->to, ": ", email->subject));
  return log_.MarkSent(event.event_id(), event.order().upgrade_id(), email->to, email->subject);
}

}  // namespace upshift::notifier
