#include "services/request/events_tracker.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/kafka/events.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::request {

namespace {

// A worker's end of an upgrade must fit what request itself recorded of it: a cancellation comes
// only after one was asked for, and a Test fails only before its copy was handed over. A record
// that does not (a forgery, or a worker's leaked key) ends nothing.
absl::Status AgreesWithProgress(const StoredOrder& stored, const upgrade::v1::Event& event) {
  const std::string& id = stored.order.upgrade_id();
  if (event.kind_case() == upgrade::v1::Event::kCancelled && stored.cancel_requested_at == absl::InfinitePast()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the record says upgrade ", id, " was cancelled, but no cancellation was requested"));
  }
  if (event.kind_case() == upgrade::v1::Event::kFailed && stored.order.purpose() == upgrade::v1::PURPOSE_TEST &&
      stored.no_return_at != absl::InfinitePast()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the record says Test upgrade ", id, " failed, but its copy was handed over"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EventsTracker::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
  // What this thread logs from here on is about this upgrade (JSON logs: upgrade_id, database).
  LogScope scope(event.order().upgrade_id(), event.order().database());
  const std::string& id = event.order().upgrade_id();
  switch (event.kind_case()) {
    case upgrade::v1::Event::kCloneSucceeded:
    case upgrade::v1::Event::kTestCopyDropped:
    case upgrade::v1::Event::kSucceeded:
    case upgrade::v1::Event::kFailed:
    case upgrade::v1::Event::kRolledBack:
    case upgrade::v1::Event::kCancelled: {
      // Only an event about an order as request stored it may end or change that order.
      UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> stored, store_.FindByUpgradeId(id));
      if (!stored.has_value()) {
        return absl::PermissionDeniedError(absl::StrCat("the record names upgrade ", id, ", which request never admitted"));
      }
      UPSHIFT_RETURN_IF_ERROR(AgreesWithStoredOrder(stored->order, event.order()));
      UPSHIFT_RETURN_IF_ERROR(AgreesWithProgress(*stored, event));
      break;
    }
    default:
      return absl::OkStatus();
  }
  switch (event.kind_case()) {
    case upgrade::v1::Event::kCloneSucceeded:
      if (event.clone_succeeded().has_expires_at()) {
        UPSHIFT_RETURN_IF_ERROR(store_.RecordCopy(id, FromProto(event.clone_succeeded().expires_at()), false));
      }
      return store_.RecordTimings(id, {FromProto(event.clone_succeeded().duration()), absl::ZeroDuration(),
                                       event.clone_succeeded().source_size_bytes(),
                                       FromProto(event.clone_succeeded().copy_duration())});
    case upgrade::v1::Event::kTestCopyDropped:
      return store_.RecordCopy(id, absl::InfinitePast(), true);
    case upgrade::v1::Event::kSucceeded:
      if (event.order().purpose() == upgrade::v1::PURPOSE_TEST) {
        UPSHIFT_RETURN_IF_ERROR(
            store_.RecordTimings(id, {absl::ZeroDuration(), FromProto(event.succeeded().migrate_duration()), 0}));
      }
      return store_.MarkFinished(id, Outcome::kSucceeded, FromProto(event.occurred_at()));
    case upgrade::v1::Event::kFailed:
      return store_.MarkFinished(id, Outcome::kFailed, FromProto(event.occurred_at()));
    case upgrade::v1::Event::kRolledBack:
      return store_.MarkFinished(id, event.rolled_back().cancelled() ? Outcome::kCancelled : Outcome::kFailed,
                                 FromProto(event.occurred_at()));
    case upgrade::v1::Event::kCancelled:
      return store_.MarkFinished(id, Outcome::kCancelled, FromProto(event.occurred_at()));
    default:
      return absl::OkStatus();
  }
}

}  // namespace upshift::request
