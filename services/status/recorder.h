#ifndef UPSHIFT_SERVICES_STATUS_RECORDER_H_
#define UPSHIFT_SERVICES_STATUS_RECORDER_H_

#include <mutex>
#include <optional>

#include "libs/common/time.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/publisher.h"
#include "services/status/change_hub.h"
#include "services/status/database_view.h"
#include "services/status/status_store.h"

namespace upshift::status {

// Records every event of upgrade.orders and upgrade.events, then publishes the change on
// upgrade.status and wakes watchers.
class Recorder {
 public:
  Recorder(StatusStore& store, DatabaseView& view, Publisher& publisher, ChangeHub& hub, Clock& clock)
      : store_(store), view_(view), publisher_(publisher), hub_(hub), clock_(clock) {}

  // INVALID_ARGUMENT: not a valid Event (to the DLQ). UNAVAILABLE: retry later.
  absl::Status Handle(const ConsumedRecord& record);

 private:
  StatusStore& store_;
  DatabaseView& view_;
  Publisher& publisher_;
  ChangeHub& hub_;
  Clock& clock_;
  std::mutex mu_;
  // A change recorded but not yet published (publishing failed): published on the retry.
  std::optional<upgrade::v1::StatusChanged> unpublished_;
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_RECORDER_H_
