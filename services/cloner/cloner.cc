#include "services/cloner/cloner.h"

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/status_macros.h"
#include "libs/kafka/events.h"

namespace upshift::cloner {
namespace {

void FillCounts(const TableRowCounts& counts, google::protobuf::RepeatedPtrField<upgrade::v1::TableCount>* out) {
  for (const auto& [table, rows] : counts) {
    upgrade::v1::TableCount* c = out->Add();
    c->set_table(table);
    c->set_rows(rows);
  }
}

// The first difference between two row-count maps, for a person to read; empty when equal.
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

}  // namespace

absl::Status Cloner::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
  if (event.order().purpose() != upgrade::v1::PURPOSE_TEST) return absl::OkStatus();
  switch (event.kind_case()) {
    case upgrade::v1::Event::kAccepted:
      return OnAccepted(event.order());
    case upgrade::v1::Event::kFailed:
      return OnFailed(event.order());
    default:
      return absl::OkStatus();
  }
}

absl::Status Cloner::Fail(const upgrade::v1::Order& order, const std::string& error) {
  LogWarning(absl::StrCat("clone for upgrade ", order.upgrade_id(), " failed: ", error));
  upgrade::v1::Event failed = MakeEvent(order, "failed", "cloner", clock_.Now());
  failed.mutable_failed()->set_error(error);
  failed.mutable_failed()->set_phase("clone");
  return PublishEvent(publisher_, failed);
}

absl::Status Cloner::MakeCopy(const upgrade::v1::Order& order) {
  const std::string& source = order.database();
  const std::string& target = order.test_database();
  auto by_dump = [&] { return hosting_.CloneByDump(source, target); };
  absl::Status made = options_.method == CloneMethod::kDump
                          ? by_dump()
                          : hosting_.CloneFromTemplate(source, target, options_.template_strategy);
  if (made.code() == absl::StatusCode::kAlreadyExists) {
    // Left by an attempt that stopped before recording its result: it may be incomplete.
    UPSHIFT_RETURN_IF_ERROR(hosting_.DropDatabase(target));
    made = options_.method == CloneMethod::kDump ? by_dump()
                                                 : hosting_.CloneFromTemplate(source, target, options_.template_strategy);
  }
  if (made.code() == absl::StatusCode::kFailedPrecondition && options_.method == CloneMethod::kAuto) {
    LogInfo(absl::StrCat("database ", source, " is in use; copying it with pg_dump | pg_restore"));
    made = by_dump();
  }
  return made;
}

absl::Status Cloner::OnAccepted(const upgrade::v1::Order& order) {
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::CloneSucceeded> done, store_.Find(order.upgrade_id()));
  if (!done.has_value()) {
    UPSHIFT_RETURN_IF_ERROR(PublishEvent(publisher_, [&] {
      upgrade::v1::Event started = MakeEvent(order, "clone_started", "cloner", clock_.Now());
      started.mutable_clone_started();
      return started;
    }()));
    absl::Status made = MakeCopy(order);
    if (IsRetryable(made)) return made;
    if (!made.ok()) return Fail(order, absl::StrCat("could not copy the database: ", made.message()));
    UPSHIFT_ASSIGN_OR_RETURN(TableRowCounts source_rows, hosting_.CountRows(order.database()));
    UPSHIFT_ASSIGN_OR_RETURN(TableRowCounts copy_rows, hosting_.CountRows(order.test_database()));
    if (std::string diff = FirstDifference(source_rows, copy_rows); !diff.empty()) {
      UPSHIFT_RETURN_IF_ERROR(hosting_.DropDatabase(order.test_database()));
      return Fail(order, absl::StrCat("the copy does not match its source: ", diff));
    }
    done.emplace();
    FillCounts(source_rows, done->mutable_source_rows());
    FillCounts(copy_rows, done->mutable_copy_rows());
    UPSHIFT_RETURN_IF_ERROR(store_.Save(order.upgrade_id(), order.test_database(), *done));
    LogInfo(absl::StrCat("copied ", order.database(), " to ", order.test_database(), " (", source_rows.size(),
                         " tables, row counts equal)"));
  }
  upgrade::v1::Event cloned = MakeEvent(order, "clone_succeeded", "cloner", clock_.Now());
  *cloned.mutable_clone_succeeded() = *done;
  return PublishEvent(publisher_, cloned);
}

absl::Status Cloner::OnFailed(const upgrade::v1::Order& order) {
  if (order.test_database().empty()) return absl::OkStatus();
  UPSHIFT_RETURN_IF_ERROR(hosting_.DropDatabase(order.test_database()));
  return store_.RecordDrop(order.upgrade_id(), order.test_database(), "test upgrade failed");
}

}  // namespace upshift::cloner
