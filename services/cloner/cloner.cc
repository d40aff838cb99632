#include "services/cloner/cloner.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/batches.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/kafka/events.h"

namespace upshift::cloner {

Cloner::Action Cloner::ActionFor(const upgrade::v1::Event& event) {
  using upgrade::v1::Event;
  const upgrade::v1::Purpose purpose = event.order().purpose();
  if (purpose == upgrade::v1::PURPOSE_PRODUCTION) {
    switch (event.kind_case()) {
      case Event::kAccepted:
        return [this](const upgrade::v1::Order& order) { return production_.OnProductionAccepted(order); };
      case Event::kMigrated:
        return [this, report = event.migrated().report()](const upgrade::v1::Order& order) {
          return production_.OnMigrated(order, report);
        };
      case Event::kMigrationFailed:
        return [this, failed = event.migration_failed()](const upgrade::v1::Order& order) {
          return production_.OnMigrationFailed(order, failed.error(), failed.cancelled());
        };
      default:
        return nullptr;
    }
  }
  if (purpose == upgrade::v1::PURPOSE_REVERT) {
    if (event.kind_case() != Event::kAccepted) return nullptr;
    return [this](const upgrade::v1::Order& order) { return production_.OnRevertAccepted(order); };
  }
  if (purpose == upgrade::v1::PURPOSE_CHECK) {
    switch (event.kind_case()) {
      case Event::kAccepted:
        return [this](const upgrade::v1::Order& order) { return test_copies_.OnAccepted(order); };
      case Event::kSucceeded:
      case Event::kFailed:
      case Event::kCancelled:
        return [this](const upgrade::v1::Order& order) { return test_copies_.OnCheckEnded(order); };
      default:
        return nullptr;
    }
  }
  if (purpose != upgrade::v1::PURPOSE_TEST) return nullptr;
  switch (event.kind_case()) {
    case Event::kAccepted:
      return [this](const upgrade::v1::Order& order) { return test_copies_.OnAccepted(order); };
    case Event::kFailed:
      return [this](const upgrade::v1::Order& order) { return test_copies_.OnFailed(order); };
    case Event::kCancelled:
      return [this](const upgrade::v1::Order& order) { return test_copies_.OnCancelled(order); };
    case Event::kTestCopyExtended:
      return [this, at = FromProto(event.test_copy_extended().expires_at())](const upgrade::v1::Order& order) {
        return test_copies_.OnTestCopyExtended(order, at);
      };
    default:
      return nullptr;
  }
}

absl::Status Cloner::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
  // What this thread logs from here on is about this upgrade (JSON logs: upgrade_id, database).
  LogScope scope(event.order().upgrade_id(), event.order().database());
  Action action = ActionFor(event);
  if (action == nullptr) return absl::OkStatus();
  // Every name acted on comes from the order request stored, never from the record.
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Order order, AuthoritativeOrder(gate_, event.order()));
  // A record acted on already (delivered again, or replayed) changes nothing.
  UPSHIFT_ASSIGN_OR_RETURN(bool applied, applied_.WasApplied(event.event_id()));
  if (applied) return absl::OkStatus();
  // A server that does not answer holds back its own databases' work, shown waiting; others go on.
  if (absl::StatusOr<std::string> server = OrderServerName(fleet_.ServerNames(), order.server()); server.ok()) {
    UPSHIFT_RETURN_IF_ERROR(AwaitServer(
        *server, [&] { return fleet_.Ping(*server); }, options_.claims.stopping,
        [&](const std::string& waiting_for) {
          announcer_.Waiting(order, upgrade::v1::Event::descriptor()->FindFieldByNumber(event.kind_case())->name(),
                             waiting_for);
        }));
  }
  UPSHIFT_RETURN_IF_ERROR(action(order));
  return applied_.MarkApplied(event.event_id());
}

absl::Status Cloner::Sweep() {
  absl::Status first;
  std::vector<std::string> failures;
  auto note = [&](absl::string_view what, const absl::Status& s) {
    if (s.ok()) return;
    if (first.ok()) first = s;
    failures.push_back(absl::StrCat(what, ": ", s.ToString()));
  };
  note("restore point sweep", production_.DropExpiredRestorePoints().status());
  note("stalled upgrade sweep", production_.RollBackStalledUpgrades().status());
  note("test copy sweep", test_copies_.ExpireTestCopies().status());
  if (first.ok()) return first;
  return absl::Status(first.code(), absl::StrJoin(failures, "; "));
}

absl::StatusOr<int> Cloner::ForgetAppliedEvents() {
  return UntilShortBatch(
      [&] { return applied_.ForgetAppliedBefore(clock_.Now() - options_.applied_events_retention, options_.prune_batch); },
      options_.prune_batch);
}

}  // namespace upshift::cloner
