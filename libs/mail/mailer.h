#ifndef UPSHIFT_LIBS_MAIL_MAILER_H_
#define UPSHIFT_LIBS_MAIL_MAILER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift {

struct Email {
  std::string to;       // passed ValidateEmail
  std::string subject;  // one line, printable ASCII
  std::string body;     // UTF-8 text, lines separated by \n
  // Stable id for the notification: the same one on every retry, so duplicates can be spotted.
  std::string message_id;
};

// The bytes of an RFC 5322 message (CRLF line ends). INVALID_ARGUMENT when a header value holds a
// CR, LF, NUL or another control character, or an address is invalid: nothing user-given can add a
// header.
absl::StatusOr<std::string> RenderMessage(const Email& email, const std::string& from, absl::Time date);

// Sends email. Implementations are thread-safe.
class Mailer {
 public:
  virtual ~Mailer() = default;
  // OK once the message is accepted for delivery. UNAVAILABLE: try again later (server down,
  // temporary refusal). INVALID_ARGUMENT / FAILED_PRECONDITION: this message can never be sent.
  virtual absl::Status Send(const Email& email) = 0;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_MAIL_MAILER_H_
