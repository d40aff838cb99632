#ifndef UPSHIFT_SERVICES_CLONER_PRODUCTION_CUTOVER_H_
#define UPSHIFT_SERVICES_CLONER_PRODUCTION_CUTOVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/cloner/copying.h"
#include "services/cloner/options.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::cloner {

// The cloner's part of a Production upgrade: the database goes offline and gets a verified restore
// point; it comes back online at the new version, or is replaced by its restore point when the
// migration failed, was cancelled, or went silent past its lease. A success's restore point is kept
// for its retention, then dropped.
class ProductionCutover {
 public:
  ProductionCutover(const ClonerOptions& options, const ClonerPorts& ports, OwnedDatabases& owned,
                    Announcer& announcer)
      : options_(options),
        fleet_(ports.fleet),
        store_(ports.productions),
        ledger_(ports.ledger),
        gate_(ports.gate),
        clock_(ports.clock),
        owned_(owned),
        announcer_(announcer) {}

  // Takes the database offline and makes and verifies its restore point, under this replica's claim.
  absl::Status OnProductionAccepted(const upgrade::v1::Order& order);
  // Brings the upgraded database back online.
  absl::Status OnMigrated(const upgrade::v1::Order& order, const upgrade::v1::IntegrityReport& report = {});
  // Replaces the database by its restore point and brings it back online. `cancelled`: the cause is
  // a cancellation, not a failure.
  absl::Status OnMigrationFailed(const upgrade::v1::Order& order, const std::string& error, bool cancelled = false);
  // A revert (PURPOSE_REVERT): takes the database offline, replaces it by the restore point of the
  // Production upgrade it reverts (still kept: made by this cloner, not dropped), and brings it back
  // online at the old version, under this replica's claim. A restore point no longer kept: the
  // revert fails and nothing changes.
  absl::Status OnRevertAccepted(const upgrade::v1::Order& order);
  // Rolls back the upgrades whose lease expired (the migrator died or hangs), so that no database
  // stays offline. Returns how many; an upgrade whose server does not answer waits for it (its
  // error is returned after the others were looked at).
  absl::StatusOr<int> RollBackStalledUpgrades();
  // Drops the restore points kept longer than their retention, recording each drop. Returns how many.
  absl::StatusOr<int> DropExpiredRestorePoints();

 private:
  // The server `order` names: its database, restore point and lease are there.
  absl::StatusOr<std::shared_ptr<HostingServer>> On(const upgrade::v1::Order& order);
  absl::Status TakeOffline(const upgrade::v1::Order& order);
  absl::Status Revert(const upgrade::v1::Order& order);
  // Makes the restore point of an offline database, as `record` describes it: the database's own
  // files under the restore point's name, a copy of them under the database's. A permanent error
  // means there is none, and nothing was changed.
  absl::StatusOr<upgrade::v1::SnapshotSucceeded> MakeRestorePoint(const upgrade::v1::Order& order,
                                                                  const ProductionRecord& record);

  const ClonerOptions& options_;
  HostingFleet& fleet_;
  ProductionStore& store_;
  DatabaseLedger& ledger_;
  Gate& gate_;
  Clock& clock_;
  OwnedDatabases& owned_;
  Announcer& announcer_;
};

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_PRODUCTION_CUTOVER_H_
