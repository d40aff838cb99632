#ifndef UPSHIFT_SERVICES_STATUS_INTAKE_H_
#define UPSHIFT_SERVICES_STATUS_INTAKE_H_

#include <functional>
#include <vector>

#include "libs/gate/late_acceptances.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/publisher.h"
#include "services/status/change_hub.h"
#include "services/status/database_view.h"
#include "services/status/status_store.h"

namespace upshift::status {

// Records every event of upgrade.orders and upgrade.events, each change together with its entry in
// the outbox of upgrade.status, and wakes watchers and the outbox relay. An acceptance that never
// came (LateAcceptances) is recorded the same way.
class EventIntake : public AwaitedAcceptances {
 public:
  EventIntake(StatusLedger& store, ChangeHub& hub, std::function<void()> recorded)
      : store_(store), hub_(hub), recorded_(std::move(recorded)) {}

  // INVALID_ARGUMENT: not a valid Event (to the DLQ). UNAVAILABLE: retry later.
  absl::Status Handle(const ConsumedRecord& record);

  // AwaitedAcceptances: the upgrades whose records the store holds for their acceptance.
  absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time held_before, int limit) override;
  absl::StatusOr<bool> Accept(const upgrade::v1::Event& acceptance) override;
  absl::Status ForgetHeld(const std::string& upgrade_id) override { return store_.ForgetHeld(upgrade_id); }

 private:
  // Records `event`; true if it changed anything.
  absl::StatusOr<bool> Record(const upgrade::v1::Event& event);

  StatusLedger& store_;
  ChangeHub& hub_;
  std::function<void()> recorded_;
};

// The upgrade.status records of recorded changes: each upgrade with its database as `view` shows
// it now.
std::vector<OutgoingRecord> StatusRecords(const std::vector<PendingChange>& changes, DatabaseView& view);

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_INTAKE_H_
