#ifndef UPSHIFT_SERVICES_MIGRATOR_INTEGRITY_AUDIT_H_
#define UPSHIFT_SERVICES_MIGRATOR_INTEGRITY_AUDIT_H_

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/catalog/catalog.h"
#include "services/migrator/check_runner.h"
#include "services/migrator/migration_target.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::migrator {

// What a plan must not break, measured around it in one database: the row counts before and after,
// the checksums of the tables the catalog declares unchanged (read from a snapshot pinned before
// the first step, on a session of their own while the steps run), the NOT VALID constraints the
// plan added, validated, and the catalog's post-checks. On a large database every read runs side
// by side on a session of its own; on a small one they all share the caller's.
class IntegrityAudit {
 public:
  using RowCounts = std::map<std::string, int64_t>;

  // Before the first step: takes the counts (unless `before`, the counts the cloner measured when it
  // made the copy, has them) and pins the checksums' snapshot; returns once it is pinned.
  // `counted_in`: a database the steps never touch that holds the same rows as `database` before
  // them (its restore point): without `before`, the counts are read there, beside the steps,
  // instead of before them; the checksums before are read there always, so that `database`, a copy
  // of it, is held to what it was copied from.
  static absl::StatusOr<std::unique_ptr<IntegrityAudit>> Begin(const Catalog& catalog, ContentChecks& target,
                                                               const std::string& database,
                                                               const std::optional<RowCounts>& before,
                                                               const std::string& counted_in = "");
  ~IntegrityAudit();
  IntegrityAudit(const IntegrityAudit&) = delete;
  IntegrityAudit& operator=(const IntegrityAudit&) = delete;

  // Checks on this database: side by side on a large one.
  CheckRunner& checks() { return checks_; }

  // After the last step: reads the checksums, the counts and the constraints' validation beside the
  // post-checks. FAILED_PRECONDITION when a table declared unchanged changed. Adds each table's
  // counts and the validated constraints to `report`; the post-checks go to `post_report`, their
  // findings (or a retryable error) to `*post_findings`, for the caller to add after what it checks
  // next.
  absl::Status End(upgrade::v1::IntegrityReport* report, upgrade::v1::IntegrityReport* post_report,
                   absl::StatusOr<std::vector<std::string>>* post_findings);

 private:
  IntegrityAudit(const Catalog& catalog, ContentChecks& target, std::string database, std::launch beside);

  const Catalog& catalog_;
  ContentChecks& target_;
  const std::string database_;
  std::string summed_in_;  // where the checksums before were read: database_, or its restore point
  const std::launch beside_;
  CheckRunner checks_;
  RowCounts rows_before_;
  std::promise<void> pinned_;
  std::once_flag pinned_once_;
  std::future<absl::StatusOr<std::map<std::string, std::string>>> sums_before_;
  std::future<absl::StatusOr<RowCounts>> rows_before_read_;  // from `counted_in`, while the steps run
};

}  // namespace upshift::migrator

#endif  // UPSHIFT_SERVICES_MIGRATOR_INTEGRITY_AUDIT_H_
