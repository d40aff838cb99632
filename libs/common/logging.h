#ifndef UPSHIFT_LIBS_COMMON_LOGGING_H_
#define UPSHIFT_LIBS_COMMON_LOGGING_H_

// Line-oriented logs on stderr (Abseil 20220623 has no absl/log). Thread-safe. Every message is
// written through RedactSecrets and EscapeControl: one event is one line, and no password reaches it.

#include <string>

#include "absl/strings/string_view.h"

namespace upshift {

// `text` with the values of secrets replaced by "[redacted]": libpq's password= and sslpassword=,
// librdkafka's sasl.password= and ssl.key.password=, and the password of a URL (scheme://user:pw@).
// For anything that may carry a connection string or a configuration: logs, DLQ reasons.
std::string RedactSecrets(absl::string_view text);

// `text` with control characters (newlines among them) and DEL written as \xNN, so that a value
// from outside cannot start a log line of its own.
std::string EscapeControl(absl::string_view text);

// Names the process in every line, e.g. "cloner". Call once from main.
void SetLogName(absl::string_view name);
void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_LOGGING_H_
