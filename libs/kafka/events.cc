#include "libs/kafka/events.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/common/validation.h"
#include "libs/kafka/topics.h"

namespace upshift {

upgrade::v1::Event MakeEvent(const upgrade::v1::Order& order, absl::string_view kind, absl::string_view source,
                             absl::Time now) {
  upgrade::v1::Event event;
  event.set_event_id(EventId(order.upgrade_id(), kind));
  *event.mutable_order() = order;
  ToProto(now, event.mutable_occurred_at());
  event.set_source(std::string(source));
  return event;
}

upgrade::v1::Event AcceptanceOf(const upgrade::v1::Order& order, absl::Time now) {
  upgrade::v1::Event accepted = MakeEvent(order, "accepted", "request", now);
  accepted.mutable_accepted();
  return accepted;
}

absl::Status PublishEvent(Publisher& publisher, const upgrade::v1::Event& event) {
  return publisher.Publish(topics::kEvents, event.order().database(), event.SerializeAsString());
}

absl::Status PublishHeartbeat(Publisher& publisher, const ConsumedRecord& working_on, absl::string_view source,
                              absl::Time now) {
  absl::StatusOr<upgrade::v1::Event> handled = ParseEvent(working_on);
  if (!handled.ok()) return absl::OkStatus();
  upgrade::v1::Event beat = MakeEvent(handled->order(), absl::StrCat("heartbeat-", absl::ToUnixMicros(now)), source, now);
  beat.mutable_heartbeat()->set_working_on(
      upgrade::v1::Event::descriptor()->FindFieldByNumber(handled->kind_case())->name());
  return PublishEvent(publisher, beat);
}

void PublishWaiting(Publisher& publisher, const upgrade::v1::Order& order, absl::string_view working_on,
                    absl::string_view source, const std::string& waiting_for, absl::Time now) {
  upgrade::v1::Event beat = MakeEvent(order, absl::StrCat("heartbeat-", absl::ToUnixMicros(now)), source, now);
  beat.mutable_heartbeat()->set_working_on(std::string(working_on));
  beat.mutable_heartbeat()->set_waiting_for(waiting_for);
  if (absl::Status s = PublishEvent(publisher, beat); !s.ok()) LogWarning(absl::StrCat("heartbeat: ", s.ToString()));
}

absl::Status AgreesWithStoredOrder(const upgrade::v1::Order& stored, const upgrade::v1::Order& claimed) {
  std::string differences;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&differences);
  if (differencer.Compare(stored, claimed)) return absl::OkStatus();
  // The first difference is enough for the DLQ's reader.
  std::string first = differences.substr(0, std::min<size_t>(differences.find('\n'), 300));
  return absl::PermissionDeniedError(absl::StrCat("the record disagrees with the stored order of upgrade ",
                                                  stored.upgrade_id(), " (stored first, record second): ", first));
}

absl::Status MaySay(absl::string_view signer, upgrade::v1::Event::KindCase kind) {
  using E = upgrade::v1::Event;
  std::vector<absl::string_view> may;
  switch (kind) {
    case E::kAccepted:
    case E::kScheduled:
    case E::kReminder:
    case E::kCancelRequested:
    case E::kTestCopyExtended:
      may = {"request"};
      break;
    case E::kCloneStarted:
    case E::kCloneSucceeded:
    case E::kWentOffline:
    case E::kSnapshotStarted:
    case E::kSnapshotSucceeded:
    case E::kComingOnline:
    case E::kRollingBack:
    case E::kRolledBack:
    case E::kTestCopyExpiring:
    case E::kTestCopyDropped:
      may = {"cloner"};
      break;
    case E::kMigrationStarted:
    case E::kMigrated:
    case E::kMigrationFailed:
    case E::kStepApplied:
      may = {"migrator"};
      break;
    case E::kSucceeded:
    case E::kFailed:
    case E::kHeartbeat:
      may = {"cloner", "migrator"};
      break;
    case E::kCancelled:  // request: a scheduled upgrade that never started
      may = {"request", "cloner", "migrator"};
      break;
    case E::KIND_NOT_SET:
      break;
  }
  if (std::find(may.begin(), may.end(), signer) != may.end()) return absl::OkStatus();
  const google::protobuf::FieldDescriptor* field = E::descriptor()->FindFieldByNumber(kind);
  return absl::PermissionDeniedError(absl::StrCat("a ", field == nullptr ? "kind-less" : field->name(),
                                                  " event signed by ", signer, ": only ",
                                                  may.empty() ? std::string("nobody") : absl::StrJoin(may, " or "),
                                                  " may say it"));
}

bool IsHeartbeat(const ConsumedRecord& record) {
  absl::StatusOr<upgrade::v1::Event> event = ParseEvent(record);
  return event.ok() && event->kind_case() == upgrade::v1::Event::kHeartbeat;
}

absl::StatusOr<upgrade::v1::Event> ParseEvent(const ConsumedRecord& record) {
  // Far above any real event (its integrity report included); a bound on what a record makes us parse.
  constexpr size_t kMaxEventBytes = 4 << 20;
  constexpr size_t kMaxIdBytes = 200;
  if (record.payload.size() > kMaxEventBytes) return absl::InvalidArgumentError("event larger than 4 MiB");
  upgrade::v1::Event event;
  if (!event.ParseFromString(record.payload)) return absl::InvalidArgumentError("not an upgrade.v1.Event");
  if (event.event_id().empty() || event.kind_case() == upgrade::v1::Event::KIND_NOT_SET) {
    return absl::InvalidArgumentError("event without an id or a kind");
  }
  if (event.event_id().size() > kMaxIdBytes || event.source().size() > kMaxIdBytes) {
    return absl::InvalidArgumentError("event id or source longer than 200 bytes");
  }
  // The signer was checked against its key and the topic by the consumer; here against the kind.
  // Unsigned records (--insecure_unsigned_records) carry no signer to check.
  if (!record.signer.empty() && record.topic != topics::kStatus) {
    UPSHIFT_RETURN_IF_ERROR(MaySay(record.signer, event.kind_case()));
  }
  const upgrade::v1::Order& order = event.order();
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(order.upgrade_id()));
  UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(order.database()));
  for (const std::string* name : {&order.test_database(), &order.restore_point()}) {
    if (!name->empty()) UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(*name));
  }
  for (const std::string* version : {&order.from_version(), &order.target_version()}) {
    if (!version->empty()) UPSHIFT_RETURN_IF_ERROR(ValidateVersion(*version));
  }
  if (!order.notify_email().empty()) UPSHIFT_RETURN_IF_ERROR(ValidateEmail(order.notify_email()));
  UPSHIFT_RETURN_IF_ERROR(ValidateRequestId(order.request_id()));
  if (!order.test_upgrade_id().empty()) UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(order.test_upgrade_id()));
  return event;
}

}  // namespace upshift
