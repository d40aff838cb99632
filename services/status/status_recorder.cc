#include "services/status/status_recorder.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/time.h"
#include "libs/kafka/events.h"
#include "libs/metrics/metrics.h"
#include "services/status/status_logic.h"

namespace upshift::status {

namespace {

// request's announcements of an order: its acceptance, or its scheduling (the acceptance follows
// at its start). Every other record must carry the order one of them announced.
bool Announces(const upgrade::v1::Event& event) {
  return event.kind_case() == upgrade::v1::Event::kAccepted || event.kind_case() == upgrade::v1::Event::kScheduled;
}

}  // namespace

absl::StatusOr<std::optional<upgrade::v1::Upgrade>> StatusRecorder::Apply(const upgrade::v1::Event& event) {
  std::optional<upgrade::v1::Upgrade> result;
  if (absl::Status applied = ApplyOne(event, &result); !applied.ok()) return applied;
  if (!Announces(event)) return result;
  // The records that came ahead of this acceptance, in the order they came. One that disagrees
  // with the order is refused (logged and counted: its record was consumed long ago).
  for (const upgrade::v1::Event& early : events_.TakeHeld(event.order().upgrade_id())) {
    absl::Status applied = ApplyOne(early, &result);
    if (applied.code() == absl::StatusCode::kPermissionDenied) {
      static metrics::Family& refused = metrics::Default().Counter(
          "upshift_status_refused_early_records_total",
          "Records that came ahead of their upgrade's acceptance and disagreed with its order", {});
      refused.Increment({});
      LogWarning(absl::StrCat("refused record ", early.event_id(), ", which came ahead of its acceptance: ",
                              applied.message()));
      continue;
    }
    if (!applied.ok()) return applied;
  }
  return result;
}

absl::Status StatusRecorder::ApplyOne(const upgrade::v1::Event& event, std::optional<upgrade::v1::Upgrade>* result) {
  // A heartbeat only moves last_activity_at forward: applying one twice changes nothing, so its id
  // (one per heartbeat) need not be kept.
  const bool heartbeat = event.kind_case() == upgrade::v1::Event::kHeartbeat;
  const bool accepted = Announces(event);
  const std::string& copy = event.order().test_database();
  std::optional<RecordedUpgrade> recorded = upgrades_.Lock(event.order().upgrade_id());
  if (!accepted && !recorded.has_value()) {
    if (!heartbeat) events_.Hold(event);  // a heartbeat has nothing to show yet
    return absl::OkStatus();
  }
  if (!heartbeat && !events_.FirstApplied(event.event_id())) return absl::OkStatus();
  if (!accepted && recorded->announced.has_value()) {
    // Every other record is about an upgrade request announced, and carries its very order: a
    // worker's leaked key cannot move an upgrade onto another database or copy.
    if (absl::Status agrees = AgreesWithStoredOrder(*recorded->announced, event.order()); !agrees.ok()) return agrees;
  }
  // Events about a test copy's life come after its upgrade ended: they change the copy, not the upgrade.
  if (event.kind_case() == upgrade::v1::Event::kTestCopyExtended) {
    databases_.SetExpiry(copy, FromProto(event.test_copy_extended().expires_at()));
    return absl::OkStatus();
  }
  if (event.kind_case() == upgrade::v1::Event::kTestCopyDropped) {
    databases_.Forget(copy);
    return absl::OkStatus();
  }
  // A Production upgrade's progress is weighed by its Test's step timings.
  std::optional<upgrade::v1::Upgrade> test;
  if (event.kind_case() == upgrade::v1::Event::kStepApplied && !event.order().test_upgrade_id().empty()) {
    test = upgrades_.Read(event.order().test_upgrade_id());
  }
  std::optional<upgrade::v1::Upgrade> before;
  if (recorded.has_value()) before = recorded->upgrade;
  upgrade::v1::Upgrade after = NextUpgrade(before, event, test.has_value() ? &test->report() : nullptr);
  if (before.has_value() && OnlyActivityChanged(*before, after)) {
    if (before->last_activity_at().SerializeAsString() != after.last_activity_at().SerializeAsString()) {
      upgrades_.Touch(after);
    }
  } else {
    Record(event, before, after);
    *result = after;
  }
  if (accepted) upgrades_.KeepAnnounced(event.order());
  return absl::OkStatus();
}

void StatusRecorder::Record(const upgrade::v1::Event& event, const std::optional<upgrade::v1::Upgrade>& before,
                            const upgrade::v1::Upgrade& after) {
  upgrades_.Save(after);
  for (const TagChange& change : TagChanges(before, after)) databases_.SetTag(change.database, change.tag, change.add);
  databases_.SetVersion(after.database(), after.from_version(), /*only_if_unknown=*/true);
  const bool scheduled = after.state() == upgrade::v1::STATE_SCHEDULED;
  if (scheduled != (before.has_value() && before->state() == upgrade::v1::STATE_SCHEDULED)) {
    databases_.SetScheduledStart(after.database(),
                                 scheduled ? FromProto(after.not_before()) : absl::InfinitePast());
  }
  const bool in_place = after.purpose() == upgrade::v1::PURPOSE_PRODUCTION || after.purpose() == upgrade::v1::PURPOSE_REVERT;
  if (in_place && after.state() == upgrade::v1::STATE_SUCCEEDED) {
    databases_.SetVersion(after.database(), after.target_version(), /*only_if_unknown=*/false);
  }
  // A revert's restore point became the database: it is no longer listed as a restore point.
  if (after.purpose() == upgrade::v1::PURPOSE_REVERT && after.state() == upgrade::v1::STATE_SUCCEEDED &&
      !event.order().restore_point().empty()) {
    databases_.Forget(event.order().restore_point());
  }
  // The test copy and the restore point are recorded under their main database while they exist.
  auto track = [&](const std::string& before_name, const std::string& after_name, const std::string& version) {
    if (!after_name.empty()) {
      databases_.PutCopy(after_name, after.database(), version);
    } else if (!before_name.empty()) {
      databases_.Forget(before_name);
    }
  };
  track(before.has_value() ? before->test_database() : "", after.test_database(),
        after.state() == upgrade::v1::STATE_SUCCEEDED ? after.target_version() : after.from_version());
  track(before.has_value() ? before->restore_point() : "", after.restore_point(), after.from_version());
  if (event.kind_case() == upgrade::v1::Event::kCloneSucceeded && event.clone_succeeded().has_expires_at() &&
      !after.test_database().empty()) {
    databases_.SetExpiry(after.test_database(), FromProto(event.clone_succeeded().expires_at()));
  }
  upgrades_.Publish(event.event_id(), after);
}

}  // namespace upshift::status
