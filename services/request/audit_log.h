#ifndef UPSHIFT_SERVICES_REQUEST_AUDIT_LOG_H_
#define UPSHIFT_SERVICES_REQUEST_AUDIT_LOG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kafka/publisher.h"
#include "upgrade/v1/audit.pb.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::request {

// An audit record and its outbox entry for upgrade.audit.
struct AuditEntry {
  upgrade::v1::AuditRecord record;
  OutgoingRecord published;
};

// The audit of a call that commits a decision about `order`, written in the decision's own
// transaction: a replica that dies between the decision and its answer leaves both or neither.
// nullopt: nothing to write (the caller is not authenticated).
using AuditOf = std::function<std::optional<AuditEntry>(const upgrade::v1::Order& order)>;

// An audit record with its place in the trail (larger: later).
struct NumberedAuditRecord {
  int64_t seq = 0;
  upgrade::v1::AuditRecord record;
};

// The durable audit trail. Thread-safe; every method may return UNAVAILABLE.
class AuditLog {
 public:
  virtual ~AuditLog() = default;

  // Appends `record` and `published` (its outbox entry for upgrade.audit) in one transaction.
  virtual absl::Status Append(const upgrade::v1::AuditRecord& record, const OutgoingRecord& published) = 0;

  // Forgets at most `batch` records, oldest first, made before `cutoff`. Returns how many.
  virtual absl::StatusOr<int> PruneAudit(absl::Time cutoff, int batch) = 0;

  // Up to `limit` records, newest first, before `before_seq` (0: from the newest), of `tenant` and
  // of `database` when they are not empty.
  virtual absl::StatusOr<std::vector<NumberedAuditRecord>> ListAudit(const std::string& tenant,
                                                                     const std::string& database, int64_t before_seq,
                                                                     int limit) = 0;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_AUDIT_LOG_H_
