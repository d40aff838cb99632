#ifndef UPSHIFT_LIBS_KAFKA_TOPICS_H_
#define UPSHIFT_LIBS_KAFKA_TOPICS_H_

#include <string>
#include <string_view>
#include <vector>

namespace upshift::topics {

inline constexpr char kOrders[] = "upgrade.orders";
inline constexpr char kEvents[] = "upgrade.events";
inline constexpr char kStatus[] = "upgrade.status";
inline constexpr char kDeadLetters[] = "upgrade.dlq";
inline constexpr char kAudit[] = "upgrade.audit";  // upgrade.v1.AuditRecord, for SIEMs and dashboards

// The services whose signatures a consumer accepts on `topic` (see libs/security/record_signature.h):
// who may write it. Empty for a topic that is none of the above: any trusted signer.
inline std::vector<std::string> SignersOf(std::string_view topic) {
  if (topic == kOrders) return {"request"};
  if (topic == kEvents) return {"request", "cloner", "migrator"};
  if (topic == kStatus) return {"status"};
  if (topic == kAudit) return {"request"};
  if (topic == kDeadLetters) return {"request", "status", "cloner", "migrator", "notifier"};
  return {};
}

}  // namespace upshift::topics

#endif  // UPSHIFT_LIBS_KAFKA_TOPICS_H_
