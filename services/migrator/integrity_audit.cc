#include "services/migrator/integrity_audit.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"

namespace upshift::migrator {
namespace {

// At most this many of a plan's checks run at once, each on a session of its own.
constexpr size_t kCheckSessions = 3;

// From this many rows in all, a plan's reads run side by side on sessions of their own. Below it a
// read takes less than opening a session (a few milliseconds), and all of them share the plan's.
constexpr int64_t kSideBySideFromRows = 100000;

}  // namespace

IntegrityAudit::IntegrityAudit(const Catalog& catalog, ContentChecks& target, std::string database,
                               std::launch beside)
    : catalog_(catalog),
      target_(target),
      database_(std::move(database)),
      beside_(beside),
      checks_(target, beside == std::launch::async ? kCheckSessions : 1) {}

IntegrityAudit::~IntegrityAudit() {
  // A read still at work uses this object: it ends first.
  if (sums_before_.valid()) sums_before_.wait();
  if (rows_before_read_.valid()) rows_before_read_.wait();
}

absl::StatusOr<std::unique_ptr<IntegrityAudit>> IntegrityAudit::Begin(const Catalog& catalog, ContentChecks& target,
                                                                       const std::string& database,
                                                                       const std::optional<RowCounts>& before,
                                                                       const std::string& counted_in) {
  // "Before" comes from the counts taken when the copy or restore point was made: no second full
  // count (inside the offline window, for Production), and a resumed run reports the same "before".
  RowCounts rows_before;
  const bool count_beside = (!before.has_value() || before->empty()) && !counted_in.empty();
  if (before.has_value() && !before->empty()) {
    rows_before = *before;
  } else if (!count_beside) {
    UPSHIFT_ASSIGN_OR_RETURN(rows_before, target.CountRows(database));
  }
  int64_t total_rows = 0;
  for (const auto& [table, rows] : rows_before) total_rows += rows;
  // Deferred, a read runs on this thread when its result is asked for: one session does everything.
  // Counts read elsewhere are a large database's (its restore point was copied file by file).
  const std::launch beside =
      count_beside || total_rows >= kSideBySideFromRows ? std::launch::async : std::launch::deferred;
  std::unique_ptr<IntegrityAudit> audit(new IntegrityAudit(catalog, target, database, beside));
  audit->rows_before_ = std::move(rows_before);
  IntegrityAudit* raw = audit.get();
  if (count_beside) {
    raw->rows_before_read_ = std::async(std::launch::async, [raw, counted_in] { return raw->target_.CountRows(counted_in); });
  }
  auto pin = [raw] { std::call_once(raw->pinned_once_, [raw] { raw->pinned_.set_value(); }); };
  std::future<void> snapshot_fixed = raw->pinned_.get_future();
  const std::string summed_in = counted_in.empty() ? database : counted_in;
  raw->summed_in_ = summed_in;
  raw->sums_before_ = std::async(beside, [raw, pin, summed_in] {
    auto sums = raw->target_.ChecksumTables(summed_in, raw->catalog_.unchanged_tables(), pin);
    pin();
    return sums;
  });
  if (beside == std::launch::deferred) raw->sums_before_.wait();  // runs it now, before the steps
  snapshot_fixed.wait();
  return audit;
}

absl::Status IntegrityAudit::End(upgrade::v1::IntegrityReport* report, upgrade::v1::IntegrityReport* post_report,
                                 absl::StatusOr<std::vector<std::string>>* post_findings) {
  UPSHIFT_ASSIGN_OR_RETURN(auto sums_before, sums_before_.get());
  if (rows_before_read_.valid()) {
    UPSHIFT_ASSIGN_OR_RETURN(rows_before_, rows_before_read_.get());
  }
  // What the plan left is read side by side (on a large database), each on a session of its own:
  // the checksums and the row counts after it, the validation of the constraints it added NOT VALID
  // (a scan under a lock that lets readers in), and the catalog's post-checks.
  std::future<absl::StatusOr<std::map<std::string, std::string>>> sums_after_read =
      std::async(beside_, [this] { return target_.ChecksumTables(database_, catalog_.unchanged_tables(), nullptr); });
  std::future<absl::StatusOr<RowCounts>> counted_after = std::async(beside_, [this] { return target_.CountRows(database_); });
  std::future<absl::StatusOr<std::vector<std::string>>> validated_read =
      std::async(beside_, [this] { return target_.ValidateConstraints(database_); });
  *post_findings = checks_.Run(database_, catalog_.post_checks(), "post-check", post_report);
  absl::StatusOr<std::map<std::string, std::string>> sums_after = sums_after_read.get();
  absl::StatusOr<RowCounts> rows_after = counted_after.get();
  absl::StatusOr<std::vector<std::string>> validated = validated_read.get();
  UPSHIFT_RETURN_IF_ERROR(sums_after.status());
  UPSHIFT_RETURN_IF_ERROR(rows_after.status());
  for (const std::string& table : catalog_.unchanged_tables()) {
    if (sums_before[table] != (*sums_after)[table]) {
      if (summed_in_ != database_) {
        return absl::FailedPreconditionError(
            absl::StrCat("integrity check: table ", table, " is declared unchanged by the catalog but differs from ",
                         summed_in_, ", the database as it was before the plan: the plan or its copy changed it"));
      }
      return absl::FailedPreconditionError(absl::StrCat("integrity check: table ", table,
                                                        " is declared unchanged by the catalog but the plan changed it"));
    }
  }
  std::set<std::string> tables;
  for (const auto& [table, rows] : rows_before_) tables.insert(table);
  for (const auto& [table, rows] : *rows_after) tables.insert(table);
  for (const std::string& table : tables) {
    upgrade::v1::TableReport* t = report->add_tables();
    t->set_table(table);
    t->set_rows_before(rows_before_.count(table) ? rows_before_[table] : 0);
    t->set_rows_after(rows_after->count(table) ? rows_after->at(table) : 0);
    if (sums_before.count(table)) {
      t->set_declared_unchanged(true);
      t->set_content_unchanged(true);
    }
  }
  UPSHIFT_RETURN_IF_ERROR(validated.status());
  for (const std::string& name : *validated) report->add_constraints_validated(name);
  return absl::OkStatus();
}

}  // namespace upshift::migrator
