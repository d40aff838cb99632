#include "services/status/recorder.h"

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"
#include "libs/kafka/events.h"
#include "libs/kafka/topics.h"

namespace upshift::status {

absl::Status Recorder::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));

  std::lock_guard<std::mutex> lock(mu_);
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::Upgrade> after, store_.Apply(event));
  std::optional<upgrade::v1::StatusChanged> change;
  if (after.has_value()) {
    hub_.Notify();
    change.emplace();
    change->set_event_id(event.event_id());
    *change->mutable_upgrade() = *after;
    absl::StatusOr<upgrade::v1::Database> db = view_.GetDatabase(after->database());
    if (db.ok()) {
      *change->mutable_database() = *std::move(db);
    } else {
      change->mutable_database()->set_name(after->database());
    }
    ToProto(clock_.Now(), change->mutable_occurred_at());
  } else if (unpublished_.has_value() && unpublished_->event_id() == event.event_id()) {
    change = unpublished_;
  }
  if (!change.has_value()) return absl::OkStatus();
  absl::Status published = publisher_.Publish(topics::kStatus, change->upgrade().database(), change->SerializeAsString());
  if (!published.ok()) {
    unpublished_ = change;
    return published;
  }
  unpublished_.reset();
  return absl::OkStatus();
}

}  // namespace upshift::status
