#include "services/cloner/cloner.h"

#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/batches.h"
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

// What `read` returns for database `a` and for database `b`, read at once on two sessions: a copy is
// checked against its source in the time of one read.
template <typename T>
std::pair<absl::StatusOr<T>, absl::StatusOr<T>> ReadBoth(
    const std::function<absl::StatusOr<T>(const std::string&)>& read, const std::string& a, const std::string& b) {
  std::future<absl::StatusOr<T>> second = std::async(std::launch::async, read, b);
  absl::StatusOr<T> first = read(a);
  return {std::move(first), second.get()};
}

}  // namespace

Cloner::Action Cloner::ActionFor(const upgrade::v1::Event& event) {
  using upgrade::v1::Event;
  const upgrade::v1::Purpose purpose = event.order().purpose();
  if (purpose == upgrade::v1::PURPOSE_PRODUCTION) {
    switch (event.kind_case()) {
      case Event::kAccepted:
        return [this](const upgrade::v1::Order& order) { return OnProductionAccepted(order); };
      case Event::kMigrated:
        return [this, report = event.migrated().report()](const upgrade::v1::Order& order) {
          return OnMigrated(order, report);
        };
      case Event::kMigrationFailed:
        return [this, failed = event.migration_failed()](const upgrade::v1::Order& order) {
          return OnMigrationFailed(order, failed.error(), failed.cancelled());
        };
      default:
        return nullptr;
    }
  }
  if (purpose == upgrade::v1::PURPOSE_CHECK) {
    switch (event.kind_case()) {
      case Event::kAccepted:
        return [this](const upgrade::v1::Order& order) { return OnAccepted(order); };
      case Event::kSucceeded:
      case Event::kFailed:
      case Event::kCancelled:
        return [this](const upgrade::v1::Order& order) { return OnCheckEnded(order); };
      default:
        return nullptr;
    }
  }
  if (purpose != upgrade::v1::PURPOSE_TEST) return nullptr;
  switch (event.kind_case()) {
    case Event::kAccepted:
      return [this](const upgrade::v1::Order& order) { return OnAccepted(order); };
    case Event::kFailed:
      return [this](const upgrade::v1::Order& order) { return OnFailed(order); };
    case Event::kCancelled:
      return [this](const upgrade::v1::Order& order) { return OnCancelled(order); };
    case Event::kTestCopyExtended:
      return [this, at = FromProto(event.test_copy_extended().expires_at())](const upgrade::v1::Order& order) {
        return OnTestCopyExtended(order, at);
      };
    default:
      return nullptr;
  }
}

absl::Status Cloner::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
  // What this thread logs from here on is about this upgrade (JSON logs: upgrade_id, database).
  LogScope scope(event.order().upgrade_id(), event.order().database());
  Action action = ActionFor(event);
  if (action == nullptr) return absl::OkStatus();
  // Every name acted on comes from the order request stored, never from the record.
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Order order, AuthoritativeOrder(gate_, event.order()));
  // A record acted on already (delivered again, or replayed) changes nothing.
  UPSHIFT_ASSIGN_OR_RETURN(bool applied, store_.WasApplied(event.event_id()));
  if (applied) return absl::OkStatus();
  UPSHIFT_RETURN_IF_ERROR(action(order));
  return store_.MarkApplied(event.event_id());
}

absl::Status Cloner::Sweep() {
  absl::Status first;
  std::vector<std::string> failures;
  auto note = [&](absl::string_view what, const absl::Status& s) {
    if (s.ok()) return;
    if (first.ok()) first = s;
    failures.push_back(absl::StrCat(what, ": ", s.ToString()));
  };
  note("restore point sweep", DropExpiredRestorePoints().status());
  note("stalled upgrade sweep", RollBackStalledUpgrades().status());
  note("test copy sweep", ExpireTestCopies().status());
  if (first.ok()) return first;
  return absl::Status(first.code(), absl::StrJoin(failures, "; "));
}

absl::StatusOr<int> Cloner::ForgetAppliedEvents() {
  return UntilShortBatch(
      [&] { return store_.ForgetAppliedBefore(clock_.Now() - options_.applied_events_retention, options_.prune_batch); },
      options_.prune_batch);
}

absl::StatusOr<bool> Cloner::DropIfMade(const std::string& upgrade_id, const std::string& database) {
  if (database.empty()) return false;
  if (std::find(options_.reserved.begin(), options_.reserved.end(), database) != options_.reserved.end()) {
    return absl::PermissionDeniedError(absl::StrCat("database ", database, " is reserved for the platform"));
  }
  UPSHIFT_ASSIGN_OR_RETURN(bool made, store_.Made(upgrade_id, database));
  if (!made) {
    LogWarning(absl::StrCat("not dropping ", database, ": the cloner did not make it for upgrade ", upgrade_id));
    return false;
  }
  UPSHIFT_RETURN_IF_ERROR(hosting_.DropDatabase(database));
  return true;
}

absl::Status Cloner::Create(const std::string& upgrade_id, const std::string& database,
                            const std::function<absl::Status()>& create) {
  if (std::find(options_.reserved.begin(), options_.reserved.end(), database) != options_.reserved.end()) {
    return absl::PermissionDeniedError(absl::StrCat("database ", database, " is reserved for the platform"));
  }
  // Recorded before the database exists: it is the cloner's to drop only once this row says so.
  UPSHIFT_ASSIGN_OR_RETURN(bool made_before, store_.Made(upgrade_id, database));
  if (!made_before) UPSHIFT_RETURN_IF_ERROR(store_.RecordMaking(upgrade_id, database));
  absl::Status created = create();
  if (created.code() != absl::StatusCode::kAlreadyExists) return created;
  if (!made_before) {
    // Someone else's database has the name: it stays, and is not recorded as ours.
    UPSHIFT_RETURN_IF_ERROR(store_.ForgetMaking(upgrade_id, database));
    return absl::AlreadyExistsError(
        absl::StrCat("a database named ", database, " exists that the cloner did not make; it is left alone"));
  }
  // Left by an attempt of this upgrade that stopped before recording its result: it may be incomplete.
  UPSHIFT_RETURN_IF_ERROR(hosting_.DropDatabase(database));
  return create();
}

absl::Status Cloner::Fail(const upgrade::v1::Order& order, const std::string& error) {
  LogWarning(absl::StrCat("clone for upgrade ", order.upgrade_id(), " failed: ", error));
  upgrade::v1::Event failed = MakeEvent(order, "failed", "cloner", clock_.Now());
  failed.mutable_failed()->set_error(error);
  failed.mutable_failed()->set_phase("clone");
  return PublishEvent(publisher_, failed);
}

absl::StatusOr<std::string> Cloner::StrategyFor(const std::string& database) {
  if (options_.template_strategy != "auto") return options_.template_strategy;
  UPSHIFT_ASSIGN_OR_RETURN(int64_t bytes, hosting_.DatabaseSizeBytes(database));
  return bytes < options_.file_copy_from_bytes ? "wal_log" : "file_copy";
}

absl::Status Cloner::CountCopy(const upgrade::v1::Order& order, const std::optional<TableRowCounts>& dumped,
                              TableRowCounts* source_rows, TableRowCounts* copy_rows) {
  if (dumped.has_value()) {
    // A dump copied a snapshot of a source in use, and counted the source in it.
    *source_rows = *dumped;
    UPSHIFT_ASSIGN_OR_RETURN(*copy_rows, hosting_.CountRows(order.test_database()));
    return absl::OkStatus();
  }
  // A template copy is the source at an instant when it had no session; both are counted at once.
  auto [source_counted, copy_counted] = ReadBoth<TableRowCounts>(
      [&](const std::string& name) { return hosting_.CountRows(name); }, order.database(), order.test_database());
  UPSHIFT_ASSIGN_OR_RETURN(*source_rows, std::move(source_counted));
  UPSHIFT_ASSIGN_OR_RETURN(*copy_rows, std::move(copy_counted));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<TableRowCounts>> Cloner::MakeCopy(const upgrade::v1::Order& order) {
  const std::string& source = order.database();
  const std::string& target = order.test_database();
  std::string strategy;
  if (options_.method != CloneMethod::kDump) {
    absl::StatusOr<std::string> chosen = StrategyFor(source);
    if (!chosen.ok()) return chosen.status();
    strategy = *std::move(chosen);
    LogInfo(absl::StrCat("copying ", source, " to ", target, " (CREATE DATABASE strategy ", strategy, ")"));
  }
  auto dump = [&]() -> absl::StatusOr<std::optional<TableRowCounts>> {
    UPSHIFT_ASSIGN_OR_RETURN(TableRowCounts counted, hosting_.CloneByDump(source, target));
    return std::optional<TableRowCounts>(std::move(counted));
  };
  auto copy = [&]() -> absl::StatusOr<std::optional<TableRowCounts>> {
    if (options_.method == CloneMethod::kDump) return dump();
    UPSHIFT_RETURN_IF_ERROR(hosting_.CloneFromTemplate(source, target, strategy));
    return std::optional<TableRowCounts>();
  };
  // The rows a dump counted come out of the creation alongside its status.
  std::optional<TableRowCounts> counted;
  auto made_by = [&](const std::function<absl::StatusOr<std::optional<TableRowCounts>>()>& how) {
    absl::Status created = Create(order.upgrade_id(), target, [&]() -> absl::Status {
      absl::StatusOr<std::optional<TableRowCounts>> result = how();
      if (!result.ok()) return result.status();
      counted = *std::move(result);
      return absl::OkStatus();
    });
    return created.ok() ? absl::StatusOr<std::optional<TableRowCounts>>(counted)
                        : absl::StatusOr<std::optional<TableRowCounts>>(created);
  };
  absl::StatusOr<std::optional<TableRowCounts>> made = made_by(copy);
  if (made.status().code() == absl::StatusCode::kFailedPrecondition && options_.method == CloneMethod::kAuto) {
    LogInfo(absl::StrCat("database ", source, " is in use; copying it with pg_dump | pg_restore"));
    made = made_by(dump);
  }
  return made;
}

absl::Status Cloner::Claimed(const upgrade::v1::Order& order, const std::string& work,
                             const std::function<absl::Status()>& fn) {
  // No other replica does this while this one does (a rebalance may hand the record to both).
  UPSHIFT_ASSIGN_OR_RETURN(std::unique_ptr<WorkClaim> claim,
                           WorkClaim::Take(gate_, order.upgrade_id(), work, options_.claims));
  if (claim == nullptr) return absl::OkStatus();  // done, and announced
  absl::Status s = fn();
  if (s.ok()) claim->Done();
  return s;
}

absl::Status Cloner::OnAccepted(const upgrade::v1::Order& order) {
  return Claimed(order, "copy", [&] { return Copy(order); });
}

absl::Status Cloner::Copy(const upgrade::v1::Order& order) {
  const bool check = order.purpose() == upgrade::v1::PURPOSE_CHECK;
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::CloneSucceeded> done, store_.Find(order.upgrade_id()));
  if (!done.has_value() && !check) {
    // Make room: at most max_test_copies copies per database, the oldest goes first.
    UPSHIFT_ASSIGN_OR_RETURN(std::vector<CopyRecord> live, store_.LiveCopies(order.database()));
    std::vector<const CopyRecord*> tests;
    for (const CopyRecord& copy : live) {
      if (copy.order.purpose() == upgrade::v1::PURPOSE_TEST) tests.push_back(&copy);
    }
    for (size_t i = 0; i + options_.max_test_copies <= tests.size(); ++i) {
      UPSHIFT_RETURN_IF_ERROR(DropTestCopy(
          tests[i]->order, absl::StrCat("database ", order.database(), " may keep ", options_.max_test_copies,
                                        " test copies and a newer one is being made: the oldest goes first")));
    }
  }
  if (!done.has_value()) {
    Semaphore::Hold copying = copies_.Acquire();
    UPSHIFT_RETURN_IF_ERROR(PublishEvent(publisher_, [&] {
      upgrade::v1::Event started = MakeEvent(order, "clone_started", "cloner", clock_.Now());
      started.mutable_clone_started();
      return started;
    }()));
    absl::Time start = clock_.Now();
    absl::StatusOr<std::optional<TableRowCounts>> made = MakeCopy(order);
    absl::Duration copy_took = clock_.Now() - start;
    if (IsRetryable(made.status())) return made.status();
    if (!made.ok()) return Fail(order, absl::StrCat("could not copy the database: ", made.status().message()));
    TableRowCounts source_rows, copy_rows;
    UPSHIFT_RETURN_IF_ERROR(CountCopy(order, *made, &source_rows, &copy_rows));
    std::string diff = FirstDifference(source_rows, copy_rows);
    if (!diff.empty() && !made->has_value() && options_.method == CloneMethod::kAuto) {
      // A template copy is the source at an instant when it had no session, but a session may have
      // connected and written between the copy and the counts. A dump copies and counts one snapshot.
      LogInfo(absl::StrCat("the copy of ", order.database(), " differs from it (", diff,
                           "), which may have been written since; copying it with pg_dump | pg_restore"));
      UPSHIFT_RETURN_IF_ERROR(DropIfMade(order.upgrade_id(), order.test_database()).status());
      start = clock_.Now();
      absl::StatusOr<TableRowCounts> dumped = hosting_.CloneByDump(order.database(), order.test_database());
      copy_took = clock_.Now() - start;
      if (IsRetryable(dumped.status())) return dumped.status();
      if (!dumped.ok()) return Fail(order, absl::StrCat("could not copy the database: ", dumped.status().message()));
      UPSHIFT_RETURN_IF_ERROR(CountCopy(order, *std::move(dumped), &source_rows, &copy_rows));
      diff = FirstDifference(source_rows, copy_rows);
    }
    if (!diff.empty()) {
      UPSHIFT_RETURN_IF_ERROR(DropIfMade(order.upgrade_id(), order.test_database()).status());
      return Fail(order, absl::StrCat("the copy does not match its source: ", diff));
    }
    done.emplace();
    ToProto(clock_.Now() - start, done->mutable_duration());
    ToProto(copy_took, done->mutable_copy_duration());
    UPSHIFT_ASSIGN_OR_RETURN(int64_t source_bytes, hosting_.DataSizeBytes(order.database()));
    done->set_source_size_bytes(source_bytes);
    FillCounts(source_rows, done->mutable_source_rows());
    FillCounts(copy_rows, done->mutable_copy_rows());
    absl::Time now = clock_.Now();
    // A check's copy is dropped when the check ends; its expiry only catches a check that never does.
    absl::Time expires_at = now + (check ? kAbandonedCheckCopyTtl : options_.test_copy_ttl);
    if (!check) ToProto(expires_at, done->mutable_expires_at());
    UPSHIFT_RETURN_IF_ERROR(store_.Save(order, *done, now, expires_at));
    LogInfo(absl::StrCat("copied ", order.database(), " to ", order.test_database(), " (", source_rows.size(),
                         " tables, row counts equal)"));
  }
  upgrade::v1::Event cloned = MakeEvent(order, "clone_succeeded", "cloner", clock_.Now());
  *cloned.mutable_clone_succeeded() = *done;
  return PublishEvent(publisher_, cloned);
}

absl::Status Cloner::Emit(const upgrade::v1::Order& order, const std::string& kind,
                          const std::function<void(upgrade::v1::Event&)>& fill) {
  upgrade::v1::Event event = MakeEvent(order, kind, "cloner", clock_.Now());
  fill(event);
  return PublishEvent(publisher_, event);
}

absl::StatusOr<upgrade::v1::SnapshotSucceeded> Cloner::MakeRestorePoint(const upgrade::v1::Order& order) {
  const std::string& db = order.database();
  const std::string& rp = order.restore_point();
  absl::Time start = clock_.Now();
  // An unfinished one from an interrupted attempt.
  UPSHIFT_RETURN_IF_ERROR(DropIfMade(order.upgrade_id(), rp).status());
  UPSHIFT_ASSIGN_OR_RETURN(std::string strategy, StrategyFor(db));
  absl::Status made;
  for (int attempt = 0; attempt < 5; ++attempt) {
    // The platform's own superuser sessions are not bound by the connection limit: end them again.
    UPSHIFT_RETURN_IF_ERROR(hosting_.TerminateSessions(db));
    made = Create(order.upgrade_id(), rp, [&] { return hosting_.CloneFromTemplate(db, rp, strategy); });
    if (made.code() != absl::StatusCode::kFailedPrecondition) break;
  }
  if (made.code() == absl::StatusCode::kFailedPrecondition) return absl::UnavailableError(made.message());
  UPSHIFT_RETURN_IF_ERROR(made);
  // Inside the offline window: each read of the database and of its restore point runs at once.
  auto [db_counted, rp_counted] =
      ReadBoth<TableRowCounts>([&](const std::string& name) { return hosting_.CountRows(name); }, db, rp);
  UPSHIFT_ASSIGN_OR_RETURN(TableRowCounts db_rows, std::move(db_counted));
  UPSHIFT_ASSIGN_OR_RETURN(TableRowCounts rp_rows, std::move(rp_counted));
  std::string diff = FirstDifference(db_rows, rp_rows);
  if (diff.empty()) {
    auto [db_summed, rp_summed] =
        ReadBoth<TableChecksums>([&](const std::string& name) { return hosting_.ChecksumTables(name); }, db, rp);
    UPSHIFT_ASSIGN_OR_RETURN(TableChecksums db_sums, std::move(db_summed));
    UPSHIFT_ASSIGN_OR_RETURN(TableChecksums rp_sums, std::move(rp_summed));
    for (const auto& [table, sum] : db_sums) {
      auto it = rp_sums.find(table);
      if (it == rp_sums.end() || it->second != sum) {
        diff = absl::StrCat("table ", table, " has other content in the restore point");
        break;
      }
    }
  }
  if (!diff.empty()) {
    UPSHIFT_RETURN_IF_ERROR(DropIfMade(order.upgrade_id(), rp).status());
    return absl::DataLossError(absl::StrCat("the restore point does not match the database: ", diff));
  }
  // A restore point is a safety copy, not a database to work in: applications stay out of it.
  UPSHIFT_RETURN_IF_ERROR(hosting_.SetConnectionLimit(rp, 0));
  upgrade::v1::SnapshotSucceeded snapshot;
  FillCounts(db_rows, snapshot.mutable_rows());
  ToProto(clock_.Now() - start, snapshot.mutable_duration());
  return snapshot;
}

absl::Status Cloner::OnProductionAccepted(const upgrade::v1::Order& order) {
  return Claimed(order, "snapshot", [&] { return TakeOffline(order); });
}

absl::Status Cloner::TakeOffline(const upgrade::v1::Order& order) {
  const std::string& db = order.database();
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<ProductionRecord> record, store_.FindProduction(order.upgrade_id()));
  if (record.has_value() && record->snapshot.has_value()) {
    // Redelivered: the lease may not have been written before the interruption. Only an offline
    // database can still be in its upgrade.
    UPSHIFT_ASSIGN_OR_RETURN(HostedDatabase hosted, hosting_.GetDatabase(db));
    if (hosted.connection_limit == 0 && !record->rolled_back) {
      UPSHIFT_RETURN_IF_ERROR(hosting_.PutLease(db, order.upgrade_id()));
    }
    return Emit(order, "snapshot_succeeded", [&](upgrade::v1::Event& e) {
      *e.mutable_snapshot_succeeded() = *record->snapshot;
    });
  }
  if (record.has_value() && record->rolled_back) return absl::OkStatus();
  if (!record.has_value()) {
    UPSHIFT_ASSIGN_OR_RETURN(Passage pass, gate_.Pass(order.upgrade_id(), upgrade::v1::CHECKPOINT_TAKE_OFFLINE));
    if (pass.kind == Passage::kEnded) return absl::OkStatus();
    if (pass.kind == Passage::kCancelled) {
      LogInfo(absl::StrCat("upgrade ", order.upgrade_id(), " was cancelled before ", db, " went offline"));
      return Emit(order, "cancelled", [&](upgrade::v1::Event& e) { e.mutable_cancelled()->set_reason(pass.reason); });
    }
    UPSHIFT_ASSIGN_OR_RETURN(HostedDatabase hosted, hosting_.GetDatabase(db));
    // A limit of 0 here means an interrupted attempt took it offline already; restore "no limit" then.
    int32_t previous = hosted.connection_limit == 0 ? -1 : hosted.connection_limit;
    UPSHIFT_RETURN_IF_ERROR(store_.SaveOffline(order, previous, clock_.Now()));
    UPSHIFT_ASSIGN_OR_RETURN(record, store_.FindProduction(order.upgrade_id()));
  }
  const int32_t previous = record->previous_connection_limit;
  UPSHIFT_RETURN_IF_ERROR(hosting_.SetConnectionLimit(db, 0));
  UPSHIFT_RETURN_IF_ERROR(hosting_.TerminateSessions(db));
  LogInfo(absl::StrCat(db, " is offline for upgrade ", order.upgrade_id()));
  UPSHIFT_RETURN_IF_ERROR(Emit(order, "went_offline", [&](upgrade::v1::Event& e) {
    e.mutable_went_offline()->set_previous_connection_limit(previous);
  }));
  UPSHIFT_RETURN_IF_ERROR(Emit(order, "snapshot_started", [](upgrade::v1::Event& e) { e.mutable_snapshot_started(); }));
  absl::StatusOr<upgrade::v1::SnapshotSucceeded> snapshot = MakeRestorePoint(order);
  if (IsRetryable(snapshot.status())) return snapshot.status();
  if (!snapshot.ok()) {
    // Nothing was changed: bring the database back and end the upgrade.
    UPSHIFT_RETURN_IF_ERROR(hosting_.SetConnectionLimit(db, previous));
    return Emit(order, "failed", [&](upgrade::v1::Event& e) {
      e.mutable_failed()->set_error(absl::StrCat(snapshot.status().message(),
                                                 "; nothing was changed and the database is back online"));
      e.mutable_failed()->set_phase("snapshot");
    });
  }
  snapshot->set_previous_connection_limit(previous);
  UPSHIFT_RETURN_IF_ERROR(store_.SaveSnapshot(order.upgrade_id(), *snapshot));
  // After the restore point exists, so that it never holds the lease that lets the migrator in.
  UPSHIFT_RETURN_IF_ERROR(hosting_.PutLease(db, order.upgrade_id()));
  LogInfo(absl::StrCat("restore point ", order.restore_point(), " of ", db, " verified"));
  return Emit(order, "snapshot_succeeded", [&](upgrade::v1::Event& e) { *e.mutable_snapshot_succeeded() = *snapshot; });
}

absl::Status Cloner::OnMigrated(const upgrade::v1::Order& order, const upgrade::v1::IntegrityReport& report) {
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<ProductionRecord> record, store_.FindProduction(order.upgrade_id()));
  if (!record.has_value()) return absl::FailedPreconditionError("no record of this Production upgrade going offline");
  // Before the lease goes: from here the sweep never rolls it back.
  UPSHIFT_ASSIGN_OR_RETURN(bool ours, store_.ClaimOutcome(order.upgrade_id(), ProductionOutcome::kSucceeded));
  if (!ours) {
    LogWarning(absl::StrCat("upgrade ", order.upgrade_id(), " of ", order.database(),
                            " migrated, but its rollback had already begun: the rollback ends it"));
    return absl::OkStatus();
  }
  UPSHIFT_RETURN_IF_ERROR(Emit(order, "coming_online", [](upgrade::v1::Event& e) { e.mutable_coming_online(); }));
  UPSHIFT_RETURN_IF_ERROR(hosting_.DeleteLease(order.database(), order.upgrade_id()));
  UPSHIFT_RETURN_IF_ERROR(hosting_.SetConnectionLimit(order.database(), record->previous_connection_limit));
  UPSHIFT_RETURN_IF_ERROR(store_.SaveSucceeded(order.upgrade_id(), order.restore_point(), clock_.Now()));
  absl::Duration offline = clock_.Now() - record->offline_at;
  LogInfo(absl::StrCat(order.database(), " is back online at ", order.target_version(), " after ",
                       absl::FormatDuration(offline)));
  return Emit(order, "succeeded", [&](upgrade::v1::Event& e) {
    e.mutable_succeeded()->set_version(order.target_version());
    ToProto(offline, e.mutable_succeeded()->mutable_offline_duration());
    *e.mutable_succeeded()->mutable_report() = report;
  });
}

absl::Status Cloner::OnMigrationFailed(const upgrade::v1::Order& order, const std::string& error, bool cancelled) {
  const std::string& db = order.database();
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<ProductionRecord> record, store_.FindProduction(order.upgrade_id()));
  if (!record.has_value() || !record->snapshot.has_value()) {
    return absl::FailedPreconditionError("no verified restore point recorded for this Production upgrade");
  }
  UPSHIFT_ASSIGN_OR_RETURN(bool ours, store_.ClaimOutcome(order.upgrade_id(), ProductionOutcome::kRolledBack));
  if (!ours) {  // it came online at the target version first: a success is never undone
    LogWarning(absl::StrCat("not rolling back upgrade ", order.upgrade_id(), " of ", db, " (", error,
                            "): it already succeeded"));
    return absl::OkStatus();
  }
  UPSHIFT_RETURN_IF_ERROR(Emit(order, "rolling_back", [&](upgrade::v1::Event& e) {
    e.mutable_rolling_back()->set_error(error);
  }));
  if (!record->rolled_back) {
    UPSHIFT_ASSIGN_OR_RETURN(bool made, store_.Made(order.upgrade_id(), order.restore_point()));
    if (!made) {
      return absl::FailedPreconditionError(absl::StrCat("the cloner did not make ", order.restore_point(),
                                                        " for this upgrade: it does not replace ", db, " with it"));
    }
    absl::Status replaced = hosting_.ReplaceDatabase(db, order.restore_point());
    // NOT_FOUND: the restore point was already renamed into place by an attempt that stopped after it.
    if (!replaced.ok() && replaced.code() != absl::StatusCode::kNotFound) return replaced;
    UPSHIFT_RETURN_IF_ERROR(store_.SaveRolledBack(order.upgrade_id()));
  }
  UPSHIFT_RETURN_IF_ERROR(hosting_.SetConnectionLimit(db, record->previous_connection_limit));
  UPSHIFT_ASSIGN_OR_RETURN(TableRowCounts rows, hosting_.CountRows(db));
  TableRowCounts expected;
  for (const upgrade::v1::TableCount& c : record->snapshot->rows()) expected[c.table()] = c.rows();
  std::string diff = FirstDifference(expected, rows);
  if (!diff.empty()) LogError(absl::StrCat("after restoring ", db, ": ", diff));
  LogInfo(absl::StrCat(db, " restored from ", order.restore_point(), " and back online at ", order.from_version()));
  return Emit(order, "rolled_back", [&](upgrade::v1::Event& e) {
    e.mutable_rolled_back()->set_error(diff.empty() ? error : absl::StrCat(error, " (after restore: ", diff, ")"));
    e.mutable_rolled_back()->set_cancelled(cancelled);
  });
}

absl::StatusOr<int> Cloner::DropExpiredRestorePoints() {
  UPSHIFT_ASSIGN_OR_RETURN(auto expired, store_.RestorePointsKeptSince(clock_.Now() - options_.restore_point_retention));
  for (const auto& [upgrade_id, restore_point] : expired) {
    UPSHIFT_ASSIGN_OR_RETURN(bool dropped, DropIfMade(upgrade_id, restore_point));
    if (dropped) UPSHIFT_RETURN_IF_ERROR(store_.RecordDrop(upgrade_id, restore_point, "restore point retention expired"));
    UPSHIFT_RETURN_IF_ERROR(store_.SaveRestorePointDropped(upgrade_id));
    LogInfo(absl::StrCat("dropped restore point ", restore_point, ": kept for ",
                         absl::FormatDuration(options_.restore_point_retention)));
  }
  return static_cast<int>(expired.size());
}

absl::StatusOr<int> Cloner::RollBackStalledUpgrades() {
  UPSHIFT_ASSIGN_OR_RETURN(auto in_flight, store_.InFlightProductions());
  int rolled_back = 0;
  for (const auto& [order, snapshot_at] : in_flight) {
    UPSHIFT_ASSIGN_OR_RETURN(std::optional<absl::Duration> age,
                             hosting_.LeaseAge(order.database(), order.upgrade_id()));
    absl::Duration silent = age.has_value() ? *age : clock_.Now() - snapshot_at;
    if (silent <= options_.migration_lease) continue;
    std::string error = absl::StrCat("the upgrade made no progress for ", absl::FormatDuration(absl::Trunc(silent, absl::Seconds(1))),
                                     " (lease ", absl::FormatDuration(options_.migration_lease),
                                     "): its worker stopped");
    LogWarning(absl::StrCat("upgrade ", order.upgrade_id(), " of ", order.database(), ": ", error, "; rolling back"));
    UPSHIFT_RETURN_IF_ERROR(OnMigrationFailed(order, error));
    ++rolled_back;
  }
  return rolled_back;
}

absl::Status Cloner::OnCancelled(const upgrade::v1::Order& order) {
  // Only a worker says a Test was cancelled, and only after its customer asked request to: a
  // cancellation nobody asked for is a forgery (or a worker's leaked key) and drops nothing.
  UPSHIFT_ASSIGN_OR_RETURN(OrderState state, gate_.GetState(order.upgrade_id()));
  if (!state.cancel_requested) {
    return absl::PermissionDeniedError(absl::StrCat("upgrade ", order.upgrade_id(),
                                                    " was cancelled, the record says, but no cancellation was "
                                                    "requested: its copy is kept"));
  }
  return DropCopy(order, "test upgrade cancelled");
}

absl::Status Cloner::DropCopy(const upgrade::v1::Order& order, const std::string& reason) {
  UPSHIFT_ASSIGN_OR_RETURN(bool dropped, DropIfMade(order.upgrade_id(), order.test_database()));
  UPSHIFT_RETURN_IF_ERROR(store_.MarkCopyDropped(order.upgrade_id()));
  if (!dropped) return absl::OkStatus();
  LogInfo(absl::StrCat("dropped copy ", order.test_database(), ": ", reason));
  return store_.RecordDrop(order.upgrade_id(), order.test_database(), reason);
}

absl::Status Cloner::DropTestCopy(const upgrade::v1::Order& order, const std::string& reason) {
  UPSHIFT_RETURN_IF_ERROR(DropCopy(order, reason));
  return Emit(order, "test_copy_dropped", [&](upgrade::v1::Event& e) { e.mutable_test_copy_dropped()->set_reason(reason); });
}

absl::Status Cloner::OnTestCopyExtended(const upgrade::v1::Order& order, absl::Time expires_at) {
  // request only ever pushes an expiry out: an extension that would move it back is an old record
  // delivered again (or replayed), and changes nothing.
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<CopyRecord> live, store_.LiveCopies(order.database()));
  for (const CopyRecord& copy : live) {
    if (copy.order.upgrade_id() != order.upgrade_id()) continue;
    if (expires_at <= copy.expires_at) {
      LogInfo(absl::StrCat("an extension of copy ", order.test_database(), " to ", absl::FormatTime(expires_at),
                           " does not push its expiry (", absl::FormatTime(copy.expires_at), ") out: ignored"));
      return absl::OkStatus();
    }
    return store_.SetCopyExpiry(order.upgrade_id(), expires_at);
  }
  return absl::OkStatus();  // the copy is gone
}

absl::StatusOr<int> Cloner::ExpireTestCopies() {
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<CopyRecord> live, store_.LiveCopies(""));
  int dropped = 0;
  absl::Time now = clock_.Now();
  for (const CopyRecord& copy : live) {
    bool check = copy.order.purpose() == upgrade::v1::PURPOSE_CHECK;
    if (now >= copy.expires_at) {
      if (check) {
        UPSHIFT_RETURN_IF_ERROR(DropCopy(copy.order, "its check never ended"));
      } else {
        UPSHIFT_RETURN_IF_ERROR(DropTestCopy(copy.order, "the test copy expired"));
      }
      ++dropped;
      continue;
    }
    if (check) continue;  // nobody uses a check's copy: nothing to warn about
    int days = copy.expires_at - now <= absl::Hours(24) ? 1 : copy.expires_at - now <= absl::Hours(24 * 7) ? 7 : 0;
    if (days == 0 || (copy.warned_days != 0 && copy.warned_days <= days)) continue;
    // One warning per threshold and per expiry date: an extension starts the warnings over.
    UPSHIFT_RETURN_IF_ERROR(Emit(copy.order,
                                 absl::StrCat("test_copy_expiring/", days, "d/", absl::ToUnixSeconds(copy.expires_at)),
                                 [&](upgrade::v1::Event& e) {
                                   ToProto(copy.expires_at, e.mutable_test_copy_expiring()->mutable_expires_at());
                                   e.mutable_test_copy_expiring()->set_days_left(days);
                                 }));
    UPSHIFT_RETURN_IF_ERROR(store_.SetCopyWarned(copy.order.upgrade_id(), days));
  }
  return dropped;
}

absl::Status Cloner::OnCheckEnded(const upgrade::v1::Order& order) { return DropCopy(order, "the check ended"); }

absl::Status Cloner::OnFailed(const upgrade::v1::Order& order) {
  // A Test fails before its copy is handed over, never after: a failure recorded past that point is
  // a forgery (or a worker's leaked key), and the customer's copy stays.
  UPSHIFT_ASSIGN_OR_RETURN(OrderState state, gate_.GetState(order.upgrade_id()));
  if (state.past_point_of_no_return) {
    return absl::PermissionDeniedError(absl::StrCat("upgrade ", order.upgrade_id(),
                                                    " failed, the record says, but its copy was handed over: it is "
                                                    "kept"));
  }
  return DropCopy(order, "test upgrade failed");
}

}  // namespace upshift::cloner
