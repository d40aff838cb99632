#ifndef UPSHIFT_SERVICES_STATUS_STATUS_RECORDER_H_
#define UPSHIFT_SERVICES_STATUS_STATUS_RECORDER_H_

// The rules by which status records an event, apart from where it records them: the recorder
// writes through three thin ports, all inside the one transaction of an Apply. An adapter's
// failure ends that transaction (the PostgreSQL one throws; its store maps the error).

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "upgrade/v1/events.pb.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::status {

// An upgrade as recorded: what it shows, and the order its acceptance announced (none for an
// upgrade recorded before orders were kept).
struct RecordedUpgrade {
  upgrade::v1::Upgrade upgrade;
  std::optional<upgrade::v1::Order> announced;
};

// The record of upgrades, and the outbox of upgrade.status.
class UpgradeRows {
 public:
  virtual ~UpgradeRows() = default;
  // The upgrade, held until the transaction ends; nullopt when unknown.
  virtual std::optional<RecordedUpgrade> Lock(const std::string& upgrade_id) = 0;
  // The upgrade, not held; nullopt when unknown.
  virtual std::optional<upgrade::v1::Upgrade> Read(const std::string& upgrade_id) = 0;
  // Saves the upgrade, a change: its state, when it was updated, what it shows.
  virtual void Save(const upgrade::v1::Upgrade& upgrade) = 0;
  // Saves what the upgrade shows, not a change (when a worker last reported).
  virtual void Touch(const upgrade::v1::Upgrade& upgrade) = 0;
  // Keeps the order request announced for its upgrade; the first kept stays.
  virtual void KeepAnnounced(const upgrade::v1::Order& order) = 0;
  // Puts the change, the upgrade as `event_id` left it, in the outbox of upgrade.status.
  virtual void Publish(const std::string& event_id, const upgrade::v1::Upgrade& upgrade) = 0;
};

// The events applied, and the records held for an acceptance that has not come yet.
class EventLedger {
 public:
  virtual ~EventLedger() = default;
  // Keeps `event_id` among the applied events; false if it was there already.
  virtual bool FirstApplied(const std::string& event_id) = 0;
  // Holds `event` until its upgrade's acceptance comes (a second hold of one event id is ignored).
  virtual void Hold(const upgrade::v1::Event& event) = 0;
  // The events held for `upgrade_id`, in the order they came, no longer held.
  virtual std::vector<upgrade::v1::Event> TakeHeld(const std::string& upgrade_id) = 0;
};

// What status knows of databases: their place in the copy tree, version, expiry and tags.
class DatabaseBook {
 public:
  virtual ~DatabaseBook() = default;
  virtual void SetTag(const std::string& database, upgrade::v1::Tag tag, bool on) = 0;
  // Records `name` as a copy of `parent` at `version`.
  virtual void PutCopy(const std::string& name, const std::string& parent, const std::string& version) = 0;
  // Records a main database's version (only if none is known, when `only_if_unknown`).
  virtual void SetVersion(const std::string& database, const std::string& version, bool only_if_unknown) = 0;
  virtual void SetExpiry(const std::string& copy, absl::Time expires_at) = 0;
  // Records when a scheduled upgrade of `database` starts (InfinitePast: none is scheduled now).
  virtual void SetScheduledStart(const std::string& database, absl::Time start) = 0;
  // Forgets a copy gone: its record and its tags.
  virtual void Forget(const std::string& name) = 0;
};

// Applies events to the record of upgrades and databases.
class StatusRecorder {
 public:
  StatusRecorder(UpgradeRows& upgrades, EventLedger& events, DatabaseBook& databases)
      : upgrades_(upgrades), events_(events), databases_(databases) {}

  // Applies `event` unless its event_id was applied before: the upgrade after it, or nullopt for a
  // duplicate or an event that changed nothing shown. Every record but request's acceptance must
  // carry the order that acceptance announced (PERMISSION_DENIED otherwise); one that comes ahead
  // of the acceptance is held, and applied with it when it carries the announced order (refused,
  // logged and counted otherwise). A heartbeat only moves when a worker last reported.
  absl::StatusOr<std::optional<upgrade::v1::Upgrade>> Apply(const upgrade::v1::Event& event);

 private:
  absl::Status ApplyOne(const upgrade::v1::Event& event, std::optional<upgrade::v1::Upgrade>* result);
  // Records `after`, the upgrade once `event` is applied to `before`: the upgrade, its databases'
  // tags and records, and the change to publish.
  void Record(const upgrade::v1::Event& event, const std::optional<upgrade::v1::Upgrade>& before,
              const upgrade::v1::Upgrade& after);

  UpgradeRows& upgrades_;
  EventLedger& events_;
  DatabaseBook& databases_;
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_STATUS_RECORDER_H_
