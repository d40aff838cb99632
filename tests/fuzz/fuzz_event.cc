// libFuzzer target: a record's payload as every consumer parses it (ParseEvent), before any
// handler sees it. Whatever it accepts is an Event whose every name and id is valid.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "libs/common/validation.h"
#include "libs/kafka/events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  upshift::ConsumedRecord record;
  record.topic = "upgrade.events";
  record.payload.assign(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<upgrade::v1::Event> event = upshift::ParseEvent(record);
  if (!event.ok()) return 0;
  const upgrade::v1::Order& order = event->order();
  if (!upshift::ValidateDatabaseName(order.database()).ok() || !upshift::ValidateUpgradeId(order.upgrade_id()).ok() ||
      event->event_id().empty() || event->kind_case() == upgrade::v1::Event::KIND_NOT_SET) {
    std::abort();  // ParseEvent let through what it promises to refuse
  }
  upgrade::v1::Event again;
  if (!again.ParseFromString(event->SerializeAsString()) || again.event_id() != event->event_id()) std::abort();
  return 0;
}
