#ifndef UPSHIFT_SERVICES_STATUS_UPGRADE_METRICS_H_
#define UPSHIFT_SERVICES_STATUS_UPGRADE_METRICS_H_

// What status tells Prometheus about upgrades (the process's registry, libs/metrics). Status sees
// every event once per change, whichever worker sent it, so the platform's upgrade metrics are
// counted here: summed over status replicas, each change counts once (a redelivered event changes
// nothing and is not counted).

#include <vector>

#include "absl/time/time.h"
#include "upgrade/v1/events.pb.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::status {

// Counts the change `event` made, `after` being the upgrade it left:
// - upshift_upgrades_finished_total{purpose,state} and upshift_upgrade_duration_seconds{purpose,state}
//   when it ended the upgrade;
// - upshift_stage_duration_seconds{stage,purpose}: "copy" (CloneSucceeded's copy), "plan" (a Test's or
//   a Production's migration), "check" (a check's migration), "offline" (a Production's offline
//   window, on success or rollback);
// - upshift_offline_window_to_estimate_ratio: a finished Production's offline window over its estimate.
void CountRecorded(const upgrade::v1::Event& event, const upgrade::v1::Upgrade& after);

// Sets, from the unfinished upgrades at `now` (at each scrape):
// - upshift_upgrades_unfinished{purpose,state}, upshift_upgrades_stalled{purpose};
// - upshift_backlog_upgrades{group,kind}: waiting, in_flight and stalled per worker group (Backlog);
// - upshift_databases_offline, and upshift_offline_longest_to_estimate_ratio: of the databases offline
//   now, the longest offline time so far over its estimate (0 when none is offline).
void ExportUnfinished(const std::vector<upgrade::v1::Upgrade>& unfinished, absl::Time now);

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_UPGRADE_METRICS_H_
