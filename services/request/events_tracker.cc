#include "services/request/events_tracker.h"

#include "libs/common/time.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::request {

absl::Status EventsTracker::Handle(const ConsumedRecord& record) {
  upgrade::v1::Event event;
  if (!event.ParseFromString(record.payload) || event.order().upgrade_id().empty()) {
    return absl::InvalidArgumentError("not an upgrade.v1.Event");
  }
  switch (event.kind_case()) {
    case upgrade::v1::Event::kSucceeded:
      return store_.MarkFinished(event.order().upgrade_id(), Outcome::kSucceeded, FromProto(event.occurred_at()));
    case upgrade::v1::Event::kFailed:
      return store_.MarkFinished(event.order().upgrade_id(), Outcome::kFailed, FromProto(event.occurred_at()));
    default:
      return absl::OkStatus();
  }
}

}  // namespace upshift::request
