#include "services/status/intake.h"

#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/kafka/events.h"
#include "libs/kafka/topics.h"
#include "services/status/upgrade_metrics.h"

namespace upshift::status {

absl::Status EventIntake::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
  // What this thread logs from here on is about this upgrade (JSON logs: upgrade_id, database).
  LogScope scope(event.order().upgrade_id(), event.order().database());
  return Record(event).status();
}

absl::StatusOr<std::vector<std::string>> EventIntake::AwaitingAcceptance(absl::Time held_before, int limit) {
  return store_.AwaitingAcceptance(held_before, limit);
}

absl::StatusOr<bool> EventIntake::Accept(const upgrade::v1::Event& acceptance) {
  LogScope scope(acceptance.order().upgrade_id(), acceptance.order().database());
  return Record(acceptance);
}

absl::StatusOr<bool> EventIntake::Record(const upgrade::v1::Event& event) {
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::Upgrade> after, store_.Apply(event));
  if (!after.has_value()) return false;
  CountRecorded(event, *after);
  hub_.Notify();
  if (recorded_) recorded_();
  return true;
}

std::vector<OutgoingRecord> StatusRecords(const std::vector<PendingChange>& changes, DatabaseView& view) {
  std::vector<OutgoingRecord> records;
  for (const PendingChange& c : changes) {
    upgrade::v1::StatusChanged change;
    change.set_event_id(c.event_id);
    *change.mutable_upgrade() = c.upgrade;
    absl::StatusOr<upgrade::v1::Database> db = view.GetDatabase(c.upgrade.database(), nullptr, c.upgrade.server());
    if (db.ok()) {
      *change.mutable_database() = *std::move(db);
    } else {
      change.mutable_database()->set_name(c.upgrade.database());
    }
    ToProto(c.recorded_at, change.mutable_occurred_at());
    records.push_back({topics::kStatus, c.upgrade.database(), change.SerializeAsString()});
  }
  return records;
}

}  // namespace upshift::status
