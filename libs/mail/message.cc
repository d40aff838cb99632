#include "libs/mail/mailer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "libs/common/validation.h"

namespace upshift {
namespace {

bool IsHeaderSafe(absl::string_view value) {
  for (char c : value) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> RenderMessage(const Email& email, const std::string& from, absl::Time date) {
  if (absl::Status s = ValidateEmail(email.to); !s.ok()) return s;
  if (absl::Status s = ValidateEmail(from); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("sender address: ", s.message()));
  }
  if (!IsHeaderSafe(email.subject) || email.subject.size() > 200) {
    return absl::InvalidArgumentError("email subject must be one line of printable ASCII, 200 characters at most");
  }
  if (!IsHeaderSafe(email.message_id) || email.message_id.find_first_of("<> ") != std::string::npos) {
    return absl::InvalidArgumentError("email message id must be printable ASCII without <, > or spaces");
  }
  if (email.body.find('\0') != std::string::npos) return absl::InvalidArgumentError("email body holds a NUL byte");
  std::string body = absl::StrReplaceAll(email.body, {{"\r\n", "\n"}, {"\r", "\n"}});
  std::string out;
  absl::StrAppend(&out, "From: Upshift <", from, ">\r\n", "To: <", email.to, ">\r\n", "Subject: ", email.subject,
                  "\r\n", "Date: ", absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", date, absl::UTCTimeZone()),
                  "\r\n", "Message-ID: <", email.message_id, ">\r\n", "MIME-Version: 1.0\r\n",
                  "Content-Type: text/plain; charset=utf-8\r\n", "Content-Transfer-Encoding: 8bit\r\n", "\r\n");
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    // SMTP's end of data is a line holding a single dot; libcurl escapes it, and so does the .eml outbox reader.
    absl::StrAppend(&out, line, "\r\n");
  }
  return out;
}

}  // namespace upshift
