#ifndef UPSHIFT_SERVICES_STATUS_INTAKE_H_
#define UPSHIFT_SERVICES_STATUS_INTAKE_H_

#include <functional>
#include <vector>

#include "libs/kafka/consumer.h"
#include "libs/kafka/publisher.h"
#include "services/status/change_hub.h"
#include "services/status/database_view.h"
#include "services/status/status_store.h"

namespace upshift::status {

// Records every event of upgrade.orders and upgrade.events, each change together with its entry in
// the outbox of upgrade.status, and wakes watchers and the outbox relay.
class EventIntake {
 public:
  EventIntake(StatusLedger& store, ChangeHub& hub, std::function<void()> recorded)
      : store_(store), hub_(hub), recorded_(std::move(recorded)) {}

  // INVALID_ARGUMENT: not a valid Event (to the DLQ). UNAVAILABLE: retry later.
  absl::Status Handle(const ConsumedRecord& record);

 private:
  StatusLedger& store_;
  ChangeHub& hub_;
  std::function<void()> recorded_;
};

// The upgrade.status records of recorded changes: each upgrade with its database as `view` shows
// it now.
std::vector<OutgoingRecord> StatusRecords(const std::vector<PendingChange>& changes, DatabaseView& view);

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_INTAKE_H_
