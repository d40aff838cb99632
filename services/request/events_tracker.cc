#include "services/request/events_tracker.h"

#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/kafka/events.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::request {

absl::Status EventsTracker::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
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
