#ifndef UPSHIFT_SERVICES_REQUEST_RETENTION_H_
#define UPSHIFT_SERVICES_REQUEST_RETENTION_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/common/time.h"
#include "services/request/audit_log.h"
#include "services/request/order_store.h"

namespace upshift::request {

struct RetentionOptions {
  absl::Duration audit = absl::Hours(24 * 365);        // the audit trail
  absl::Duration ended_orders = absl::Hours(24 * 90);  // orders (and their claims) after they ended
  int batch = 1000;                                    // rows forgotten per transaction
};

struct Pruned {
  int audit_records = 0;
  int orders = 0;
};

// Forgets what is older than its retention, a batch per transaction (short transactions: admissions
// and the outbox relay go on beside it), until a batch comes back short.
absl::StatusOr<Pruned> PruneExpired(OrderHousekeeping& orders, AuditLog& audit, Clock& clock,
                                    const RetentionOptions& options);

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_RETENTION_H_
