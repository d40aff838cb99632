#include "services/cloner/production_cutover.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/status_macros.h"
#include "libs/gate/work_claim.h"

namespace upshift::cloner {

absl::StatusOr<std::shared_ptr<HostingServer>> ProductionCutover::On(const upgrade::v1::Order& order) {
  return ServerOfOrder(fleet_, order.server());
}

absl::StatusOr<upgrade::v1::SnapshotSucceeded> ProductionCutover::MakeRestorePoint(const upgrade::v1::Order& order,
                                                                                 const ProductionRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
  const std::string& db = order.database();
  const std::string& rp = order.restore_point();
  absl::Time start = clock_.Now();
  upgrade::v1::SnapshotSucceeded snapshot;
  // The restore point is the database itself: its files, untouched since it went offline. A copy of
  // them takes its name, and the plan upgrades the copy. So the restore point needs no comparison
  // inside the window (it is what went offline, byte for byte), a rollback gives those very files
  // back, and whatever the copy got wrong never reaches them: the migrator's audit reads the restore
  // point beside the steps (its rows, and the checksums of the tables the catalog declares
  // unchanged) and holds the upgraded copy to them.
  UPSHIFT_ASSIGN_OR_RETURN(HostedDatabase hosted, hosting->GetDatabase(db));
  int64_t original = record.database_oid;
  if (original == 0) {  // taken offline by a cloner that did not record it, which never swapped
    UPSHIFT_RETURN_IF_ERROR(store_.SaveOffline(order, record.previous_connection_limit, record.offline_at, hosted.oid));
    original = hosted.oid;
  }
  if (hosted.oid == original) {
    // Not swapped yet. A copy an interrupted attempt left may be incomplete: Create drops it and
    // copies again, as the cloner recorded making it.
    UPSHIFT_ASSIGN_OR_RETURN(std::string strategy, StrategyFor(options_, *hosting, db));
    LogInfo(absl::StrCat("copying ", db, " to ", rp, " (", strategy, "), to take its name"));
    absl::Status made;
    for (int attempt = 0; attempt < 5; ++attempt) {
      // The platform's own superuser sessions are not bound by the connection limit: end them again.
      UPSHIFT_RETURN_IF_ERROR(hosting->TerminateSessions(db));
      made = owned_.Create(*hosting, order.upgrade_id(), rp, [&] { return hosting->CloneFromTemplate(db, rp, strategy); });
      if (made.code() != absl::StatusCode::kFailedPrecondition) break;
    }
    if (made.code() == absl::StatusCode::kFailedPrecondition) return absl::UnavailableError(made.message());
    UPSHIFT_RETURN_IF_ERROR(made);
    // Closed to applications until the swap gives it the database's own (offline) ACL and limit.
    UPSHIFT_RETURN_IF_ERROR(hosting->SetConnectionLimit(rp, 0));
    LogInfo(absl::StrCat("swapping the names of ", db, " and of its copy ", rp));
    absl::Status swapped;
    for (int attempt = 0; attempt < 5; ++attempt) {
      UPSHIFT_RETURN_IF_ERROR(hosting->TerminateSessions(db));
      UPSHIFT_RETURN_IF_ERROR(hosting->TerminateSessions(rp));
      swapped = hosting->SwapDatabases(db, rp);
      if (swapped.code() != absl::StatusCode::kFailedPrecondition) break;
    }
    if (swapped.code() == absl::StatusCode::kFailedPrecondition) return absl::UnavailableError(swapped.message());
    if (!swapped.ok() && !IsRetryable(swapped)) {
      // The database still bears its name, untouched: the copy goes, and the upgrade ends.
      UPSHIFT_RETURN_IF_ERROR(owned_.DropIfMade(*hosting, order.upgrade_id(), rp).status());
    }
    UPSHIFT_RETURN_IF_ERROR(swapped);
  } else {
    // Swapped by an attempt that stopped: the restore point must still be the database that went
    // offline. Its owner may have dropped it, or the copy, while the window was open.
    absl::StatusOr<HostedDatabase> kept = hosting->GetDatabase(rp);
    if (!kept.ok() && kept.status().code() != absl::StatusCode::kNotFound) return kept.status();
    if (!kept.ok() || kept->oid != original) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database that went offline (oid ", original, ") is neither ", db, " (oid ", hosted.oid,
          ") nor its restore point ", rp, " any more: it was dropped or replaced while offline, so no upgrade runs"));
    }
  }
  snapshot.set_verified_by("original");
  ToProto(clock_.Now() - start, snapshot.mutable_duration());
  return snapshot;
}

absl::Status ProductionCutover::OnProductionAccepted(const upgrade::v1::Order& order) {
  // A restore point waits for its server's capacity before the database goes offline, never after:
  // once recorded offline (an attempt that stopped, a replica that died), it resumes at once.
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<ProductionRecord> record, store_.FindProduction(order.upgrade_id()));
  return RunUnderClaim(
      gate_, order.upgrade_id(), "snapshot", options_.claims, [&](const WorkClaim&) { return TakeOffline(order); },
      {record.has_value(), [&](const std::string& waiting_for) { announcer_.Waiting(order, "accepted", waiting_for); }});
}

absl::Status ProductionCutover::OnRevertAccepted(const upgrade::v1::Order& order) {
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<ProductionRecord> record, store_.FindProduction(order.upgrade_id()));
  return RunUnderClaim(
      // The cloner's restore point work: it counts against its server's copies, as a snapshot does.
      gate_, order.upgrade_id(), "snapshot", options_.claims, [&](const WorkClaim&) { return Revert(order); },
      {record.has_value(), [&](const std::string& waiting_for) { announcer_.Waiting(order, "accepted", waiting_for); }});
}

absl::Status ProductionCutover::Revert(const upgrade::v1::Order& order) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
  const std::string& db = order.database();
  const std::string& rp = order.restore_point();
  // The revert's own record (its id): the connection limit to restore, and whether it swapped.
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<ProductionRecord> record, store_.FindProduction(order.upgrade_id()));
  if (!record.has_value()) {
    UPSHIFT_ASSIGN_OR_RETURN(Passage pass, gate_.Pass(order.upgrade_id(), upgrade::v1::CHECKPOINT_TAKE_OFFLINE));
    if (pass.kind == Passage::kEnded) return absl::OkStatus();
    if (pass.kind == Passage::kCancelled) {
      return announcer_.Emit(order, "cancelled", [&](upgrade::v1::Event& e) { e.mutable_cancelled()->set_reason(pass.reason); });
    }
    // Only the restore point this cloner made for the reverted upgrade, and still keeps, replaces it.
    UPSHIFT_ASSIGN_OR_RETURN(bool made, ledger_.Made(order.reverts_upgrade_id(), rp));
    UPSHIFT_ASSIGN_OR_RETURN(auto kept, ledger_.RestorePointsKeptSince(clock_.Now() + absl::Hours(1)));
    auto it = kept.find(order.reverts_upgrade_id());
    if (order.reverts_upgrade_id().empty() || !made || it == kept.end() || it->second.name != rp) {
      return announcer_.Emit(order, "failed", [&](upgrade::v1::Event& e) {
        e.mutable_failed()->set_error(absl::StrCat("the restore point ", rp, " of upgrade ", order.reverts_upgrade_id(),
                                                   " is no longer kept: nothing was changed"));
        e.mutable_failed()->set_phase("revert");
      });
    }
    UPSHIFT_ASSIGN_OR_RETURN(HostedDatabase hosted, hosting->GetDatabase(db));
    int32_t previous = hosted.connection_limit == 0 ? -1 : hosted.connection_limit;
    UPSHIFT_RETURN_IF_ERROR(store_.SaveOffline(order, previous, clock_.Now(), hosted.oid));
    UPSHIFT_ASSIGN_OR_RETURN(record, store_.FindProduction(order.upgrade_id()));
    // From here the restore point is the revert's: the retention sweep no longer drops it.
    UPSHIFT_RETURN_IF_ERROR(ledger_.SaveRestorePointDropped(order.reverts_upgrade_id()));
  }
  if (!record->rolled_back) {
    UPSHIFT_RETURN_IF_ERROR(hosting->SetConnectionLimit(db, 0));
    UPSHIFT_RETURN_IF_ERROR(hosting->TerminateSessions(db));
    UPSHIFT_RETURN_IF_ERROR(announcer_.Emit(order, "went_offline", [&](upgrade::v1::Event& e) {
      e.mutable_went_offline()->set_previous_connection_limit(record->previous_connection_limit);
    }));
    UPSHIFT_RETURN_IF_ERROR(hosting->TerminateSessions(rp));
    absl::Status replaced = hosting->ReplaceDatabase(db, rp);
    // NOT_FOUND: an attempt that stopped after the rename put the restore point in place already.
    if (!replaced.ok() && replaced.code() != absl::StatusCode::kNotFound) return replaced;
    UPSHIFT_RETURN_IF_ERROR(store_.SaveRolledBack(order.upgrade_id()));
  }
  UPSHIFT_RETURN_IF_ERROR(announcer_.Emit(order, "coming_online", [](upgrade::v1::Event& e) { e.mutable_coming_online(); }));
  UPSHIFT_RETURN_IF_ERROR(hosting->SetConnectionLimit(db, record->previous_connection_limit));
  const absl::Duration offline = clock_.Now() - record->offline_at;
  LogWarning(absl::StrCat(db, " reverted to its restore point ", rp, " (upgrade ", order.reverts_upgrade_id(),
                          "): back online at ", order.target_version(), " after ", absl::FormatDuration(offline)));
  return announcer_.Emit(order, "succeeded", [&](upgrade::v1::Event& e) {
    e.mutable_succeeded()->set_version(order.target_version());
    ToProto(offline, e.mutable_succeeded()->mutable_offline_duration());
  });
}

absl::Status ProductionCutover::TakeOffline(const upgrade::v1::Order& order) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
  const std::string& db = order.database();
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<ProductionRecord> record, store_.FindProduction(order.upgrade_id()));
  if (record.has_value() && record->snapshot.has_value()) {
    // Redelivered: the lease may not have been written before the interruption. Only an offline
    // database can still be in its upgrade.
    UPSHIFT_ASSIGN_OR_RETURN(HostedDatabase hosted, hosting->GetDatabase(db));
    if (hosted.connection_limit == 0 && !record->rolled_back) {
      UPSHIFT_RETURN_IF_ERROR(hosting->PutLease(db, order.upgrade_id()));
    }
    return announcer_.Emit(order, "snapshot_succeeded", [&](upgrade::v1::Event& e) {
      *e.mutable_snapshot_succeeded() = *record->snapshot;
    });
  }
  if (record.has_value() && record->rolled_back) return absl::OkStatus();
  if (!record.has_value()) {
    UPSHIFT_ASSIGN_OR_RETURN(Passage pass, gate_.Pass(order.upgrade_id(), upgrade::v1::CHECKPOINT_TAKE_OFFLINE));
    if (pass.kind == Passage::kEnded) return absl::OkStatus();
    if (pass.kind == Passage::kCancelled) {
      LogInfo(absl::StrCat("upgrade ", order.upgrade_id(), " was cancelled before ", db, " went offline"));
      return announcer_.Emit(order, "cancelled", [&](upgrade::v1::Event& e) { e.mutable_cancelled()->set_reason(pass.reason); });
    }
    UPSHIFT_ASSIGN_OR_RETURN(HostedDatabase hosted, hosting->GetDatabase(db));
    // While the database still serves: the restore point's copy, inside the window, then begins with
    // a checkpoint that has little left to write (on a busy server, every database's dirty pages).
    UPSHIFT_RETURN_IF_ERROR(CheckpointBeforeFileCopy(options_, *hosting, db));
    // A limit of 0 here means an interrupted attempt took it offline already; restore "no limit" then.
    int32_t previous = hosted.connection_limit == 0 ? -1 : hosted.connection_limit;
    UPSHIFT_RETURN_IF_ERROR(store_.SaveOffline(order, previous, clock_.Now(), hosted.oid));
    UPSHIFT_ASSIGN_OR_RETURN(record, store_.FindProduction(order.upgrade_id()));
  }
  const int32_t previous = record->previous_connection_limit;
  UPSHIFT_RETURN_IF_ERROR(hosting->SetConnectionLimit(db, 0));
  UPSHIFT_RETURN_IF_ERROR(hosting->TerminateSessions(db));
  LogInfo(absl::StrCat(db, " is offline for upgrade ", order.upgrade_id()));
  UPSHIFT_RETURN_IF_ERROR(announcer_.Emit(order, "went_offline", [&](upgrade::v1::Event& e) {
    e.mutable_went_offline()->set_previous_connection_limit(previous);
  }));
  UPSHIFT_RETURN_IF_ERROR(announcer_.Emit(order, "snapshot_started", [](upgrade::v1::Event& e) { e.mutable_snapshot_started(); }));
  absl::StatusOr<upgrade::v1::SnapshotSucceeded> snapshot = MakeRestorePoint(order, *record);
  if (IsRetryable(snapshot.status())) return snapshot.status();
  if (!snapshot.ok()) {
    // Nothing was changed: bring the database back and end the upgrade.
    UPSHIFT_RETURN_IF_ERROR(hosting->SetConnectionLimit(db, previous));
    return announcer_.Emit(order, "failed", [&](upgrade::v1::Event& e) {
      e.mutable_failed()->set_error(absl::StrCat(snapshot.status().message(),
                                                 "; nothing was changed and the database is back online"));
      e.mutable_failed()->set_phase("snapshot");
    });
  }
  snapshot->set_previous_connection_limit(previous);
  ToProto(record->offline_at, snapshot->mutable_offline_at());
  UPSHIFT_RETURN_IF_ERROR(store_.SaveSnapshot(order.upgrade_id(), *snapshot));
  // After the restore point exists, so that it never holds the lease that lets the migrator in.
  UPSHIFT_RETURN_IF_ERROR(hosting->PutLease(db, order.upgrade_id()));
  LogInfo(absl::StrCat(db, " went offline as restore point ", order.restore_point(), "; its copy took its name in ",
                       absl::FormatDuration(FromProto(snapshot->duration()))));
  return announcer_.Emit(order, "snapshot_succeeded", [&](upgrade::v1::Event& e) { *e.mutable_snapshot_succeeded() = *snapshot; });
}

absl::Status ProductionCutover::OnMigrated(const upgrade::v1::Order& order, const upgrade::v1::IntegrityReport& report) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<ProductionRecord> record, store_.FindProduction(order.upgrade_id()));
  if (!record.has_value()) return absl::FailedPreconditionError("no record of this Production upgrade going offline");
  // Before the lease goes: from here the sweep never rolls it back.
  UPSHIFT_ASSIGN_OR_RETURN(bool ours, store_.ClaimOutcome(order.upgrade_id(), ProductionOutcome::kSucceeded));
  if (!ours) {
    LogWarning(absl::StrCat("upgrade ", order.upgrade_id(), " of ", order.database(),
                            " migrated, but its rollback had already begun: the rollback ends it"));
    return absl::OkStatus();
  }
  UPSHIFT_RETURN_IF_ERROR(announcer_.Emit(order, "coming_online", [](upgrade::v1::Event& e) { e.mutable_coming_online(); }));
  UPSHIFT_RETURN_IF_ERROR(hosting->DeleteLease(order.database(), order.upgrade_id()));
  UPSHIFT_RETURN_IF_ERROR(hosting->SetConnectionLimit(order.database(), record->previous_connection_limit));
  UPSHIFT_RETURN_IF_ERROR(store_.SaveSucceeded(order.upgrade_id(), order.restore_point(), clock_.Now()));
  absl::Duration offline = clock_.Now() - record->offline_at;
  LogInfo(absl::StrCat(order.database(), " is back online at ", order.target_version(), " after ",
                       absl::FormatDuration(offline)));
  return announcer_.Emit(order, "succeeded", [&](upgrade::v1::Event& e) {
    e.mutable_succeeded()->set_version(order.target_version());
    ToProto(offline, e.mutable_succeeded()->mutable_offline_duration());
    *e.mutable_succeeded()->mutable_report() = report;
  });
}

absl::Status ProductionCutover::OnMigrationFailed(const upgrade::v1::Order& order, const std::string& error, bool cancelled) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
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
  UPSHIFT_RETURN_IF_ERROR(announcer_.Emit(order, "rolling_back", [&](upgrade::v1::Event& e) {
    e.mutable_rolling_back()->set_error(error);
  }));
  if (!record->rolled_back) {
    UPSHIFT_ASSIGN_OR_RETURN(bool made, ledger_.Made(order.upgrade_id(), order.restore_point()));
    if (!made) {
      return absl::FailedPreconditionError(absl::StrCat("the cloner did not make ", order.restore_point(),
                                                        " for this upgrade: it does not replace ", db, " with it"));
    }
    // No session may stay in the restore point (the migrator counts it while its steps run).
    UPSHIFT_RETURN_IF_ERROR(hosting->TerminateSessions(order.restore_point()));
    absl::Status replaced = hosting->ReplaceDatabase(db, order.restore_point());
    // NOT_FOUND: the restore point was already renamed into place by an attempt that stopped after it.
    if (!replaced.ok() && replaced.code() != absl::StatusCode::kNotFound) return replaced;
    UPSHIFT_RETURN_IF_ERROR(store_.SaveRolledBack(order.upgrade_id()));
  }
  UPSHIFT_RETURN_IF_ERROR(hosting->SetConnectionLimit(db, record->previous_connection_limit));
  // A restore point verified by its rows is counted again once in place; one verified by its files
  // carries no counts (it is what was verified).
  std::string diff;
  if (record->snapshot->rows_size() > 0) {
    UPSHIFT_ASSIGN_OR_RETURN(TableRowCounts rows, hosting->CountRows(db));
    TableRowCounts expected;
    for (const upgrade::v1::TableCount& c : record->snapshot->rows()) expected[c.table()] = c.rows();
    diff = FirstDifference(expected, rows);
    if (!diff.empty()) LogError(absl::StrCat("after restoring ", db, ": ", diff));
  }
  LogInfo(absl::StrCat(db, " restored from ", order.restore_point(), " and back online at ", order.from_version()));
  return announcer_.Emit(order, "rolled_back", [&](upgrade::v1::Event& e) {
    e.mutable_rolled_back()->set_error(diff.empty() ? error : absl::StrCat(error, " (after restore: ", diff, ")"));
    e.mutable_rolled_back()->set_cancelled(cancelled);
  });
}

absl::StatusOr<int> ProductionCutover::DropExpiredRestorePoints() {
  UPSHIFT_ASSIGN_OR_RETURN(auto expired, ledger_.RestorePointsKeptSince(clock_.Now() - options_.restore_point_retention));
  // One server that does not answer keeps only its own restore points: the others are dropped.
  absl::Status first;
  int dropped = 0;
  for (const auto& [upgrade_id, kept] : expired) {
    absl::Status status = [&, &upgrade_id = upgrade_id, &kept = kept]() -> absl::Status {
      UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> server, ServerOfOrder(fleet_, kept.server));
      UPSHIFT_RETURN_IF_ERROR(
          owned_.Drop(*server, upgrade_id, kept.name, "restore point retention expired").status());
      return ledger_.SaveRestorePointDropped(upgrade_id);
    }();
    if (!status.ok()) {
      if (first.ok()) first = status;
      continue;
    }
    ++dropped;
    LogInfo(absl::StrCat("dropped restore point ", kept.name, ": kept for ",
                         absl::FormatDuration(options_.restore_point_retention)));
  }
  if (!first.ok()) return first;
  return dropped;
}

absl::StatusOr<int> ProductionCutover::RollBackStalledUpgrades() {
  UPSHIFT_ASSIGN_OR_RETURN(auto in_flight, store_.InFlightProductions());
  int rolled_back = 0;
  absl::Status first;  // one server that does not answer holds back only its own upgrades
  for (const auto& [order, snapshot_at] : in_flight) {
    absl::StatusOr<std::shared_ptr<HostingServer>> hosting = On(order);
    absl::StatusOr<std::optional<absl::Duration>> lease =
        hosting.ok() ? (*hosting)->LeaseAge(order.database(), order.upgrade_id())
                     : absl::StatusOr<std::optional<absl::Duration>>(hosting.status());
    if (!lease.ok()) {
      if (first.ok()) first = lease.status();
      continue;
    }
    const std::optional<absl::Duration>& age = *lease;
    absl::Duration silent = age.has_value() ? *age : clock_.Now() - snapshot_at;
    if (silent <= options_.migration_lease) continue;
    std::string error = absl::StrCat("the upgrade made no progress for ", absl::FormatDuration(absl::Trunc(silent, absl::Seconds(1))),
                                     " (lease ", absl::FormatDuration(options_.migration_lease),
                                     "): its worker stopped");
    LogWarning(absl::StrCat("upgrade ", order.upgrade_id(), " of ", order.database(), ": ", error, "; rolling back"));
    if (absl::Status failed = OnMigrationFailed(order, error); !failed.ok()) {
      if (first.ok()) first = failed;
      continue;
    }
    ++rolled_back;
  }
  if (!first.ok()) return first;
  return rolled_back;
}

}  // namespace upshift::cloner
