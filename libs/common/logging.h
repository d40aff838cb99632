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

// How lines are written: text ("I 2026-12-02T04:05:06.789Z cloner: message"), or one JSON object
// per line (--log_format=json): {"time", "level", "service", "message"} and, inside a LogScope,
// "upgrade_id" and "database".
enum class LogFormat { kText, kJson };
void SetLogFormat(LogFormat format);

// What the lines a thread writes while it lives are about (JSON logs only). Scopes nest; the
// innermost one's values win, an empty value leaves the outer one's.
class LogScope {
 public:
  explicit LogScope(std::string upgrade_id, std::string database = "");
  ~LogScope();
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;
  const std::string& upgrade_id() const { return upgrade_id_; }
  const std::string& database() const { return database_; }
  const LogScope* outer() const { return outer_; }

 private:
  std::string upgrade_id_, database_;
  const LogScope* outer_;
};

// `text` as a JSON string, quotes included; bytes that are not UTF-8 become U+FFFD.
std::string JsonString(absl::string_view text);

// Names the process in every line, e.g. "cloner". Call once from main.
void SetLogName(absl::string_view name);
void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_LOGGING_H_
