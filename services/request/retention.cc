#include "services/request/retention.h"

#include "libs/common/batches.h"
#include "libs/common/status_macros.h"

namespace upshift::request {

absl::StatusOr<Pruned> PruneExpired(OrderHousekeeping& orders, AuditLog& audit, Clock& clock,
                                    const RetentionOptions& options) {
  const absl::Time now = clock.Now();
  Pruned pruned;
  UPSHIFT_ASSIGN_OR_RETURN(pruned.audit_records,
                           UntilShortBatch([&] { return audit.PruneAudit(now - options.audit, options.batch); },
                                           options.batch));
  UPSHIFT_ASSIGN_OR_RETURN(pruned.orders,
                           UntilShortBatch([&] { return orders.PruneEnded(now - options.ended_orders, options.batch); },
                                           options.batch));
  return pruned;
}

}  // namespace upshift::request
