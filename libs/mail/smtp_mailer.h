#ifndef UPSHIFT_LIBS_MAIL_SMTP_MAILER_H_
#define UPSHIFT_LIBS_MAIL_SMTP_MAILER_H_

#include <string>

#include "absl/time/time.h"
#include "libs/mail/mailer.h"

namespace upshift {

struct SmtpOptions {
  // smtp://host:port or smtps://host:port
  std::string url;
  std::string from;
  std::string username;  // empty: no authentication; set: TLS is required (STARTTLS or smtps://)
  std::string password;
  absl::Duration timeout = absl::Seconds(30);
};

// Sends through an SMTP server with libcurl.
class SmtpMailer final : public Mailer {
 public:
  explicit SmtpMailer(SmtpOptions options);
  absl::Status Send(const Email& email) override;

 private:
  const SmtpOptions options_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_MAIL_SMTP_MAILER_H_
