#include "services/status/status_logic.h"

#include "libs/common/time.h"

namespace upshift::status {

using upgrade::v1::Event;
using upgrade::v1::State;
using upgrade::v1::Upgrade;

namespace {

int Rank(State state) {
  switch (state) {
    case upgrade::v1::STATE_ACCEPTED:
      return 1;
    case upgrade::v1::STATE_CLONING:
      return 2;
    case upgrade::v1::STATE_MIGRATING:
      return 3;
    case upgrade::v1::STATE_SUCCEEDED:
    case upgrade::v1::STATE_FAILED:
      return 9;
    default:
      return 0;
  }
}

State StateOf(const Event& event) {
  switch (event.kind_case()) {
    case Event::kAccepted:
      return upgrade::v1::STATE_ACCEPTED;
    case Event::kCloneStarted:
    case Event::kCloneSucceeded:
      return upgrade::v1::STATE_CLONING;
    case Event::kMigrationStarted:
      return upgrade::v1::STATE_MIGRATING;
    case Event::kSucceeded:
      return upgrade::v1::STATE_SUCCEEDED;
    case Event::kFailed:
      return upgrade::v1::STATE_FAILED;
    default:
      return upgrade::v1::STATE_UNSPECIFIED;
  }
}

}  // namespace

bool IsFinal(State state) { return state == upgrade::v1::STATE_SUCCEEDED || state == upgrade::v1::STATE_FAILED; }

Upgrade NextUpgrade(const std::optional<Upgrade>& current, const Event& event) {
  Upgrade next;
  const upgrade::v1::Order& order = event.order();
  if (current.has_value()) {
    next = *current;
  } else {
    next.set_upgrade_id(order.upgrade_id());
    next.set_database(order.database());
    next.set_from_version(order.from_version());
    next.set_target_version(order.target_version());
    next.set_purpose(order.purpose());
    next.set_notify_email(order.notify_email());
    next.set_request_id(order.request_id());
    *next.mutable_created_at() = order.created_at();
    next.set_state(upgrade::v1::STATE_ACCEPTED);
    *next.mutable_updated_at() = event.occurred_at();
  }
  if (IsFinal(next.state())) return next;

  if (event.kind_case() == Event::kCloneSucceeded) {
    next.set_test_database(order.test_database());
    *next.mutable_source_rows() = event.clone_succeeded().source_rows();
    *next.mutable_copy_rows() = event.clone_succeeded().copy_rows();
  }
  State state = StateOf(event);
  if (Rank(state) > Rank(next.state())) {
    next.set_state(state);
    *next.mutable_updated_at() = event.occurred_at();
    if (state == upgrade::v1::STATE_SUCCEEDED) {
      if (next.purpose() == upgrade::v1::PURPOSE_TEST) next.set_test_database(order.test_database());
      *next.mutable_finished_at() = event.occurred_at();
    } else if (state == upgrade::v1::STATE_FAILED) {
      next.set_error(event.failed().error());
      next.set_test_database("");  // a failed Test leaves no copy behind
      *next.mutable_finished_at() = event.occurred_at();
    }
  }
  return next;
}

std::vector<TagChange> TagChanges(const std::optional<Upgrade>& before, const Upgrade& after) {
  std::vector<TagChange> changes;
  const std::string& db = after.database();
  bool was_final = before.has_value() && IsFinal(before->state());
  if (was_final) return changes;
  if (!IsFinal(after.state())) {
    if (!before.has_value()) changes.push_back({db, upgrade::v1::TAG_UPGRADE_IN_PROGRESS, true});
  } else {
    changes.push_back({db, upgrade::v1::TAG_UPGRADE_IN_PROGRESS, false});
    changes.push_back({db, upgrade::v1::TAG_UPGRADE_FAILED, after.state() == upgrade::v1::STATE_FAILED});
  }
  bool had_copy = before.has_value() && !before->test_database().empty();
  if (!after.test_database().empty() && !had_copy) {
    changes.push_back({after.test_database(), upgrade::v1::TAG_TEST_COPY, true});
  }
  return changes;
}

}  // namespace upshift::status
