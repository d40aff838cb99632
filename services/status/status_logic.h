#ifndef UPSHIFT_SERVICES_STATUS_STATUS_LOGIC_H_
#define UPSHIFT_SERVICES_STATUS_STATUS_LOGIC_H_

// How events change the record of an upgrade and the tags of its databases: pure functions.

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "upgrade/v1/events.pb.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::status {

// The states an upgrade ends in, and never leaves.
const std::vector<upgrade::v1::State>& FinalStates();
bool IsFinal(upgrade::v1::State state);

// The upgrade after `event`, given what was recorded before (nullopt: nothing yet). Events may
// arrive late, twice or out of order (orders and events are different topics): the state only
// moves forward, a final state never changes, and late events still fill in what they carry. Every
// event but a cancellation request, heartbeats included, is a worker's report: it moves
// last_activity_at forward and clears `stalled`.
// `timings`: for a Production upgrade's step, the report of the Test that allowed it; its step
// durations weigh the progress (by step count when absent or when they do not cover the plan), and
// its timeline paces the time left offline (see Upgrade.expected_online_at).
upgrade::v1::Upgrade NextUpgrade(const std::optional<upgrade::v1::Upgrade>& current, const upgrade::v1::Event& event,
                                 const upgrade::v1::IntegrityReport* timings = nullptr);

// Whether `before` and `after` differ in nothing but when a worker last reported (a heartbeat, or
// an event that changed nothing else): not a change to publish.
bool OnlyActivityChanged(const upgrade::v1::Upgrade& before, const upgrade::v1::Upgrade& after);

// Whether the upgrade is to be marked stalled now: unfinished, not marked yet, and no worker reported
// on it since `cutoff`.
bool Stalls(const upgrade::v1::Upgrade& upgrade, absl::Time cutoff);

// The share of a plan (0 to 100) done once `step` is applied, each step weighted by how long it
// took in `timings` (an earlier run of the same plan); nullopt when they do not cover the plan.
std::optional<int> WeightedPercent(const upgrade::v1::StepApplied& step, const upgrade::v1::IntegrityReport& timings);

struct TagChange {
  std::string database;
  upgrade::v1::Tag tag;
  bool add;
};

// The tag changes that follow an upgrade's move from `before` to `after` (before may be empty):
// TAG_UPGRADE_IN_PROGRESS on the main database while not final; TAG_UPGRADE_FAILED set by a
// failure and cleared by a success; TAG_TEST_COPY on a test copy once it exists. A check tags only
// its throwaway copy (TAG_CHECK_COPY).
std::vector<TagChange> TagChanges(const std::optional<upgrade::v1::Upgrade>& before, const upgrade::v1::Upgrade& after);

// The backlog of each worker group (upshift-cloner, upshift-migrator, in that order) over
// `unfinished`: an upgrade waits for the cloner once accepted, is the cloner's while it is copied,
// taken offline or has its restore point made, waits for the migrator once its copy or restore
// point is done, is the migrator's while its plan runs, and the cloner's again while its database
// comes back online or is restored.
upgrade::v1::GetBacklogResponse Backlog(const std::vector<upgrade::v1::Upgrade>& unfinished);

// What groups a failed upgrade with others (ListFailureGroups): where it failed (the step its error
// names, the hop whose pre-checks failed, after the last step that ran, or before the plan), and its
// error with what varies between databases taken out (the upgrade's own database names, ids, hex,
// numbers, durations).
struct FailureSignature {
  std::string where;
  std::string signature;
};
FailureSignature SignatureOf(const upgrade::v1::Upgrade& failed);

// `failed` (newest first) grouped by SignatureOf: the largest group first, then the most recent.
upgrade::v1::ListFailureGroupsResponse GroupFailures(const std::vector<upgrade::v1::Upgrade>& failed);

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_STATUS_LOGIC_H_
