#ifndef UPSHIFT_SERVICES_STATUS_STATUS_STORE_H_
#define UPSHIFT_SERVICES_STATUS_STATUS_STORE_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "upgrade/v1/events.pb.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::status {

// What status knows of a database beyond the hosting server's catalog.
struct DatabaseRecord {
  std::string parent;   // main database of a test copy; empty otherwise
  std::string version;  // last known application version; empty if unknown
  std::vector<upgrade::v1::Tag> tags;
  absl::Time expires_at = absl::InfinitePast();  // test copies: InfinitePast when unknown
  // While an upgrade of it is scheduled: when it starts (InfinitePast: none scheduled).
  absl::Time scheduled_start = absl::InfinitePast();
};

// A position in a database's list of upgrades: the last one a page showed. created_at counts in
// microseconds, as the store keeps it.
struct UpgradeCursor {
  int64_t created_at_micros = 0;
  std::string upgrade_id;
};

// A change recorded by Apply and not yet published on upgrade.status.
struct PendingChange {
  std::string event_id;
  upgrade::v1::Upgrade upgrade;  // as the event left it
  absl::Time recorded_at;
};

// The record of upgrades, tags and test copies, seen through three narrow ports. Implementations
// are thread-safe; every method may return UNAVAILABLE when the database is unreachable.

// What changes the record: events applied, stalls marked, and the changes relayed to upgrade.status.
class StatusLedger {
 public:
  virtual ~StatusLedger() = default;

  // Applies `event` atomically (NextUpgrade, TagChanges, the copy's record, and the change in the
  // outbox of upgrade.status) unless its event_id was applied before. Returns the upgrade after the
  // event, or nullopt for a duplicate or an event that changed nothing. Every record but request's
  // acceptance must carry the order that acceptance announced (PERMISSION_DENIED otherwise); one
  // that comes ahead of the acceptance is kept and applied with it.
  virtual absl::StatusOr<std::optional<upgrade::v1::Upgrade>> Apply(const upgrade::v1::Event& event) = 0;

  // Up to `limit` upgrades with records held for their acceptance since before `held_before`,
  // longest held first.
  virtual absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time held_before, int limit) = 0;
  // Forgets the records held for the acceptance of `upgrade_id`.
  virtual absl::Status ForgetHeld(const std::string& upgrade_id) = 0;

  // Marks stalled every upgrade that Stalls at `cutoff`, each with its change in the outbox of
  // upgrade.status. Returns how many it marked.
  virtual absl::StatusOr<int> MarkStalled(absl::Time cutoff) = 0;

  // Hands up to `limit` pending changes, oldest first, to `publish` and forgets them when it returns
  // OK, in one transaction only one replica holds at a time. *count is how many were handed.
  virtual absl::Status DrainChanges(int limit,
                                    const std::function<absl::Status(const std::vector<PendingChange>&)>& publish,
                                    int* count) = 0;
};

// The upgrades as recorded, for the API and the metrics.
class UpgradeHistory {
 public:
  virtual ~UpgradeHistory() = default;

  // NOT_FOUND when unknown.
  virtual absl::StatusOr<upgrade::v1::Upgrade> GetUpgrade(const std::string& upgrade_id) = 0;

  // Up to `limit` upgrades of `database`, newest first (by created_at, then upgrade id, both
  // descending): only `tenant`'s unless it is nullopt (every tenant's), and only those after
  // `after` in that order when given.
  virtual absl::StatusOr<std::vector<upgrade::v1::Upgrade>> ListUpgrades(const std::string& database,
                                                                         const std::optional<std::string>& tenant,
                                                                         const std::optional<UpgradeCursor>& after,
                                                                         int limit) = 0;

  // Every upgrade not in a final state.
  virtual absl::StatusOr<std::vector<upgrade::v1::Upgrade>> UnfinishedUpgrades() = 0;

  // Up to `limit` upgrades that ended FAILED or ROLLED_BACK at or after `since`, newest first; only
  // those to `target_version` unless it is empty.
  virtual absl::StatusOr<std::vector<upgrade::v1::Upgrade>> FailedUpgrades(absl::Time since,
                                                                           const std::string& target_version,
                                                                           int limit) = 0;
};

// What status knows of each database (tags, copies, versions), for the database manager view.
class DatabaseRecordStore {
 public:
  virtual ~DatabaseRecordStore() = default;

  // Every database status has a record of, by name.
  virtual absl::StatusOr<std::map<std::string, DatabaseRecord>> DatabaseRecords() = 0;

  // The records of `name` and of its copies (those whose parent it is), by name.
  virtual absl::StatusOr<std::map<std::string, DatabaseRecord>> DatabaseRecordsOf(const std::string& name) = 0;

  // Remembers a main database's version (read from the database itself).
  virtual absl::Status RememberVersion(const std::string& database, const std::string& version) = 0;
};

// The whole store: its three ports, implemented together by one adapter. It declares nothing of its
// own; each part of status takes the port it needs.
class StatusStore : public StatusLedger, public UpgradeHistory, public DatabaseRecordStore {};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_STATUS_STORE_H_
