#include "services/cloner/copying.h"

#include <algorithm>
#include <future>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/status_macros.h"
#include "libs/kafka/events.h"

namespace upshift::cloner {
absl::Status OwnedDatabases::CheckNotReserved(const std::string& database) const {
  if (std::find(options_.reserved.begin(), options_.reserved.end(), database) != options_.reserved.end()) {
    return absl::PermissionDeniedError(absl::StrCat("database ", database, " is reserved for the platform"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> OwnedDatabases::DropIfMade(DatabaseCopier& on, const std::string& upgrade_id, const std::string& database) {
  if (database.empty()) return false;
  UPSHIFT_RETURN_IF_ERROR(CheckNotReserved(database));
  UPSHIFT_ASSIGN_OR_RETURN(bool made, ledger_.Made(upgrade_id, database));
  if (!made) {
    LogWarning(absl::StrCat("not dropping ", database, ": the cloner did not make it for upgrade ", upgrade_id));
    return false;
  }
  UPSHIFT_RETURN_IF_ERROR(on.DropDatabase(database));
  return true;
}

absl::StatusOr<bool> OwnedDatabases::Drop(DatabaseCopier& on, const std::string& upgrade_id, const std::string& database,
                                          const std::string& reason) {
  UPSHIFT_ASSIGN_OR_RETURN(bool dropped, DropIfMade(on, upgrade_id, database));
  if (dropped) UPSHIFT_RETURN_IF_ERROR(ledger_.RecordDrop(upgrade_id, database, reason));
  return dropped;
}

absl::Status OwnedDatabases::Create(DatabaseCopier& on, const std::string& upgrade_id, const std::string& database,
                                    const std::function<absl::Status()>& create) {
  UPSHIFT_RETURN_IF_ERROR(CheckNotReserved(database));
  // Recorded before the database exists: it is the cloner's to drop only once this row says so.
  UPSHIFT_ASSIGN_OR_RETURN(bool made_before, ledger_.Made(upgrade_id, database));
  if (!made_before) UPSHIFT_RETURN_IF_ERROR(ledger_.RecordMaking(upgrade_id, database));
  absl::Status created = create();
  if (created.code() != absl::StatusCode::kAlreadyExists) return created;
  if (!made_before) {
    // Someone else's database has the name: it stays, and is not recorded as ours.
    UPSHIFT_RETURN_IF_ERROR(ledger_.ForgetMaking(upgrade_id, database));
    return absl::AlreadyExistsError(
        absl::StrCat("a database named ", database, " exists that the cloner did not make; it is left alone"));
  }
  // Left by an attempt of this upgrade that stopped before recording its result: it may be incomplete.
  UPSHIFT_RETURN_IF_ERROR(on.DropDatabase(database));
  return create();
}

absl::Status Announcer::Emit(const upgrade::v1::Order& order, const std::string& kind,
                             const std::function<void(upgrade::v1::Event&)>& fill) {
  upgrade::v1::Event event = MakeEvent(order, kind, "cloner", clock_.Now());
  fill(event);
  return PublishEvent(publisher_, event);
}

absl::StatusOr<std::string> StrategyFor(const ClonerOptions& options, DatabaseMeasures& hosting,
                                        const std::string& database) {
  if (options.template_strategy != "auto") return options.template_strategy;
  UPSHIFT_ASSIGN_OR_RETURN(int64_t bytes, hosting.DatabaseSizeBytes(database));
  return bytes < options.file_copy_from_bytes ? "wal_log" : "file_copy";
}

absl::Status CheckpointBeforeFileCopy(const ClonerOptions& options, HostingServer& hosting,
                                      const std::string& database) {
  absl::StatusOr<std::string> strategy = StrategyFor(options, hosting, database);
  // Any other error is the copy's to meet and report.
  if (!strategy.ok()) return IsRetryable(strategy.status()) ? strategy.status() : absl::OkStatus();
  if (*strategy != "file_copy") return absl::OkStatus();
  absl::Status flushed = hosting.Checkpoint();
  if (IsRetryable(flushed)) return flushed;
  if (!flushed.ok()) {
    LogWarning(absl::StrCat("could not take a checkpoint before copying ", database, ": ", flushed.ToString()));
  }
  return absl::OkStatus();
}

void FillCounts(const TableRowCounts& counts, google::protobuf::RepeatedPtrField<upgrade::v1::TableCount>* out) {
  for (const auto& [table, rows] : counts) {
    upgrade::v1::TableCount* c = out->Add();
    c->set_table(table);
    c->set_rows(rows);
  }
}

std::string FirstDifference(const TableRowCounts& source, const TableRowCounts& copy) {
  for (const auto& [table, rows] : source) {
    auto it = copy.find(table);
    if (it == copy.end()) return absl::StrCat("table ", table, " is missing from the copy");
    if (it->second != rows) {
      return absl::StrCat("table ", table, " has ", rows, " rows in the source but ", it->second, " in the copy");
    }
  }
  for (const auto& [table, rows] : copy) {
    if (source.count(table) == 0) return absl::StrCat("table ", table, " is in the copy only");
  }
  return "";
}

std::pair<absl::StatusOr<TableRowCounts>, absl::StatusOr<TableRowCounts>> CountBoth(DatabaseMeasures& hosting,
                                                                                    const std::string& a,
                                                                                    const std::string& b) {
  std::future<absl::StatusOr<TableRowCounts>> second =
      std::async(std::launch::async, [&hosting, &b] { return hosting.CountRows(b); });
  absl::StatusOr<TableRowCounts> first = hosting.CountRows(a);
  return {std::move(first), second.get()};
}

}  // namespace upshift::cloner
