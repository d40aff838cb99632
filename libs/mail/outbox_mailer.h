#ifndef UPSHIFT_LIBS_MAIL_OUTBOX_MAILER_H_
#define UPSHIFT_LIBS_MAIL_OUTBOX_MAILER_H_

#include <string>

#include "libs/mail/mailer.h"

namespace upshift {

// Writes each message as <message id>.eml into a folder (the local default, when no SMTP server
// is configured). The file appears whole (written aside, then renamed).
class OutboxMailer final : public Mailer {
 public:
  OutboxMailer(std::string dir, std::string from);
  absl::Status Send(const Email& email) override;

 private:
  const std::string dir_;
  const std::string from_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_MAIL_OUTBOX_MAILER_H_
