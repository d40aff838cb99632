#ifndef UPSHIFT_SERVICES_NOTIFIER_SENT_LOG_H_
#define UPSHIFT_SERVICES_NOTIFIER_SENT_LOG_H_

#include <string>

#include "absl/status/statusor.h"

namespace upshift::notifier {

// Which notifications were sent, so that none is sent twice. Thread-safe; UNAVAILABLE when the
// database is unreachable.
class SentLog {
 public:
  virtual ~SentLog() = default;
  virtual absl::StatusOr<bool> WasSent(const std::string& event_id) = 0;
  // Idempotent.
  virtual absl::Status MarkSent(const std::string& event_id, const std::string& upgrade_id, const std::string& to,
                                const std::string& subject) = 0;
};

}  // namespace upshift::notifier

#endif  // UPSHIFT_SERVICES_NOTIFIER_SENT_LOG_H_
