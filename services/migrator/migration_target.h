#ifndef UPSHIFT_SERVICES_MIGRATOR_MIGRATION_TARGET_H_
#define UPSHIFT_SERVICES_MIGRATOR_MIGRATION_TARGET_H_

#include <functional>
#include <map>

#include "absl/time/time.h"
#include <string>
#include <vector>

#include "upgrade/v1/upgrade.pb.h"

#include "absl/status/statusor.h"

namespace upshift::migrator {

struct StepRun {
  std::string database;
  std::string hop;  // e.g. "16.0->17.0", or "neutralize"
  std::string name;
  std::string checksum;
  std::string sql;  // empty for a command step
  // Production: the upgrade whose lease the database must hold for the step to run (empty: none).
  std::string fence;
  // A command step: the executable, its arguments and its time limit.
  std::string command;
  std::vector<std::string> args;
  absl::Duration timeout = absl::Hours(1);
  // Runs as the platform's superuser; otherwise as the database's owner with the pinned search_path.
  bool superuser = false;
  // Production: the offline window's bound. A step still running then is ended (its session
  // terminated, its command killed): the customer's code in it cannot hold the database past it.
  absl::Time deadline = absl::InfiniteFuture();
};

// What the migrator does inside a database, through three narrow ports. Every database keeps its own
// migration history (schema `upshift`), so a step is applied once whatever is redelivered.
// Thread-safe. Every method may return UNAVAILABLE (retry later).

// What a plan does to a database: its steps and version applied, its history and version read.
class PlanTarget {
 public:
  virtual ~PlanTarget() = default;

  // Runs the step and records it in the history, in one transaction, unless the history holds it
  // already. A command step runs as a process with the database's connection in PG* variables
  // (outside any transaction), and is recorded when it exits 0; INTERNAL with its output otherwise.
  // Returns true when it ran, false when it was recorded before. FAILED_PRECONDITION:
  // recorded with another checksum (the script changed since), or the database does not hold the
  // step's fence lease (it was restored meanwhile). INTERNAL: the step's SQL failed (with the
  // server's message); nothing of it remains.
  virtual absl::StatusOr<bool> ApplyStep(const StepRun& step) = 0;

  // Runs SQL `steps` (of one hop, one database, one fence) in a single transaction with their history
  // rows: all or nothing. Steps recorded before are skipped (a changed one: FAILED_PRECONDITION).
  // Returns how many ran. INTERNAL names the failing step; nothing of the hop remains then.
  virtual absl::StatusOr<int> ApplyStepsTogether(const std::vector<StepRun>& steps) = 0;

  // Runs the catalog's set_version SQL with $1 = version. With a `fence`, only in a database that
  // holds that upgrade's lease (FAILED_PRECONDITION otherwise), like ApplyStep.
  virtual absl::Status SetVersion(const std::string& database, const std::string& set_version_sql,
                                  const std::string& version, const std::string& fence) = 0;

  // The migration history's steps: hop, step, duration and rows affected, in the order they ran.
  virtual absl::StatusOr<std::vector<upgrade::v1::StepReport>> History(const std::string& database) = 0;

  // Runs the catalog's version query. FAILED_PRECONDITION when it returns no single value.
  virtual absl::StatusOr<std::string> ReadVersion(const std::string& database, const std::string& version_query) = 0;

  // Whether applications can connect (false while a Production upgrade holds it offline).
  virtual absl::StatusOr<bool> AcceptsConnections(const std::string& database) = 0;

  // The work in `database` is over for now: whatever the target kept open there (a session) is
  // closed, so that the database can be handed over, renamed or dropped.
  virtual void EndSession(const std::string& database) = 0;
};

// What is measured and checked of a database's content, around and after a plan.
class ContentChecks {
 public:
  virtual ~ContentChecks() = default;

  // Exact row counts of every table outside the system schemas ("schema.table" -> rows).
  virtual absl::StatusOr<std::map<std::string, int64_t>> CountRows(const std::string& database) = 0;

  // A content checksum of each of `tables` ("schema.table"), all as of one moment; NOT_FOUND when one
  // does not exist. `pinned`, when set, is called once that moment is fixed and the tables are
  // locked against schema changes (or once the call fails before that): what changes afterwards,
  // even while the checksums are computed, is not in them.
  virtual absl::StatusOr<std::map<std::string, std::string>> ChecksumTables(const std::string& database,
                                                                            const std::vector<std::string>& tables,
                                                                            const std::function<void()>& pinned) = 0;

  // Validates every constraint marked NOT VALID and returns their names ("table.constraint").
  // FAILED_PRECONDITION naming the constraint when some row violates it.
  virtual absl::StatusOr<std::vector<std::string>> ValidateConstraints(const std::string& database) = 0;

  // Runs a check: SQL returning one boolean. INTERNAL when it fails or returns something else.
  virtual absl::StatusOr<bool> RunCheck(const std::string& database, const std::string& sql) = 0;
};

// The heartbeat of a Production upgrade's lease.
class LeaseRenewal {
 public:
  virtual ~LeaseRenewal() = default;

  // Renews a Production upgrade's lease inside its database.
  virtual absl::Status Heartbeat(const std::string& database, const std::string& upgrade_id) = 0;
};

// The whole target: its three ports, implemented together by one adapter. It declares nothing of its
// own; each part of the migrator takes the port it needs.
class MigrationTarget : public PlanTarget, public ContentChecks, public LeaseRenewal {};

}  // namespace upshift::migrator

#endif  // UPSHIFT_SERVICES_MIGRATOR_MIGRATION_TARGET_H_
