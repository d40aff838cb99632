#include "services/migrator/migrator.h"

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/checksum.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/status_macros.h"
#include "libs/hosting/hosting_fleet.h"
#include "libs/kafka/events.h"
#include "services/migrator/check_runner.h"
#include "services/migrator/integrity_audit.h"
#include "services/migrator/lease_heartbeat.h"

namespace upshift::migrator {

namespace {

// The application's tables from counts the cloner took (which include the platform's own schema).
Migrator::RowCounts ApplicationRows(const google::protobuf::RepeatedPtrField<upgrade::v1::TableCount>& counts) {
  Migrator::RowCounts rows;
  for (const upgrade::v1::TableCount& c : counts) {
    if (c.table().rfind("upshift.", 0) != 0) rows[c.table()] = c.rows();
  }
  return rows;
}

}  // namespace

absl::Status Migrator::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
  // What this thread logs from here on is about this upgrade (JSON logs: upgrade_id, database).
  LogScope scope(event.order().upgrade_id(), event.order().database());
  const upgrade::v1::Purpose purpose = event.order().purpose();
  const bool copy = event.kind_case() == upgrade::v1::Event::kCloneSucceeded &&
                    (purpose == upgrade::v1::PURPOSE_TEST || purpose == upgrade::v1::PURPOSE_CHECK);
  const bool in_place =
      event.kind_case() == upgrade::v1::Event::kSnapshotSucceeded && purpose == upgrade::v1::PURPOSE_PRODUCTION;
  if (!copy && !in_place) return absl::OkStatus();
  // The database to upgrade is the stored order's, never the record's.
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Order order, AuthoritativeOrder(gate_, event.order()));
  // A server that does not answer holds back its own databases' plans, shown waiting; others go on.
  if (ping_) {
    UPSHIFT_RETURN_IF_ERROR(AwaitServer(
        order.server().empty() ? "(the only one)" : order.server(), [&] { return ping_(order.server()); },
        claims_.stopping, [&](const std::string& waiting_for) {
          PublishWaiting(publisher_, order, event.order().purpose() == upgrade::v1::PURPOSE_PRODUCTION
                                                ? "snapshot_succeeded" : "clone_succeeded",
                         "migrator", waiting_for, clock_.Now());
        }));
  }
  if (copy) return MigrateCopy(order, ApplicationRows(event.clone_succeeded().copy_rows()));
  const upgrade::v1::SnapshotSucceeded& snapshot = event.snapshot_succeeded();
  // A restore point that is the database as it went offline (or, before, a copy verified by its
  // files) carries no counts: it holds them, and is read beside the steps.
  return MigrateInPlace(order, ApplicationRows(snapshot.rows()),
                        snapshot.has_offline_at() ? FromProto(snapshot.offline_at()) : absl::InfinitePast(),
                        (snapshot.verified_by() == "original" || snapshot.verified_by() == "files") &&
                            snapshot.rows().empty());
}

absl::Status Migrator::RunPlan(const PlanRun& run, upgrade::v1::IntegrityReport* report) {
  MigrationTarget& target = run.target;
  const std::string& database = run.database;
  const upgrade::v1::Order& order = run.order;
  const std::string& fence = run.fence;
  // The offline window's bound: checked before each part of the plan, enforced inside a step by the
  // target; a failure once it passed is the bound's.
  auto bounded = [&](const absl::Status& status) -> absl::Status {
    if (clock_.Now() < run.deadline) return status;
    return absl::FailedPreconditionError(absl::StrCat(
        "the upgrade reached its downtime bound (max_offline ", absl::FormatDuration(FromProto(order.max_offline())),
        ") before its plan and checks ended, so it was stopped and the database restored as it was before"));
  };
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<Hop> plan, catalog_.Plan(order.from_version(), order.target_version()));
  UPSHIFT_ASSIGN_OR_RETURN(std::unique_ptr<IntegrityAudit> audit,
                           IntegrityAudit::Begin(catalog_, target, database, run.before, run.counted_in));
  CheckRunner& checks = audit->checks();
  UPSHIFT_ASSIGN_OR_RETURN(std::string current, target.ReadVersion(database, catalog_.version_query()));
  // The plan's timeline (when each step was done), kept in `report` only while this run applied
  // every step itself: a resumed plan's would weigh a later Production upgrade's pace wrongly.
  const absl::Time plan_start = clock_.Now();
  bool timed = true;
  auto timeline = [&](const std::string& label, const std::string& step, bool ran) {
    timed = timed && ran;
    if (!timed) {
      report->clear_steps();
      return;
    }
    upgrade::v1::StepReport* done_at = report->add_steps();
    done_at->set_hop(label);
    done_at->set_step(step);
    done_at->set_done_after_ms(std::max<int64_t>(1, absl::ToInt64Milliseconds(clock_.Now() - plan_start)));
  };
  int total = 0, done = 0;
  for (const Hop& hop : plan) total += static_cast<int>(hop.steps.size());
  for (size_t h = 0; h < plan.size(); ++h) {
    const Hop& hop = plan[h];
    // A hop whose target version is already set ran completely before (redelivery).
    std::vector<std::string> ahead = catalog_.TargetsFrom(hop.from);
    if (std::find(ahead.begin(), ahead.end(), current) != ahead.end()) {
      done += static_cast<int>(hop.steps.size());
      timed = false;
      continue;
    }
    std::string label = absl::StrCat(hop.from, "->", hop.to);
    UPSHIFT_RETURN_IF_ERROR(bounded(absl::OkStatus()));
    // Every pre-check of the hop runs, so that one run reports every problem to fix.
    UPSHIFT_ASSIGN_OR_RETURN(std::vector<std::string> findings,
                             checks.Run(database, hop.pre_checks, absl::StrCat("pre-check of hop ", label), report));
    if (!findings.empty()) {
      std::string error = absl::StrJoin(findings, "; ");
      if (h + 1 < plan.size()) absl::StrAppend(&error, " (later hops were not checked)");
      return absl::FailedPreconditionError(error);
    }
    UPSHIFT_RETURN_IF_ERROR(run.claim.Held());
    for (const Step& step : hop.steps) {
      if (step.superuser) {
        LogWarning(absl::StrCat(database, ": ", label, "/", step.name,
                                " runs as the hosting server's superuser (the catalog marks it superuser: true)"));
      }
    }
    int ran_together = 0;
    if (hop.single_transaction) {
      std::vector<StepRun> runs;
      for (const Step& step : hop.steps) {
        runs.push_back({database, label, step.name, step.checksum, step.sql, fence, "", {}, step.timeout, step.superuser,
                        run.deadline});
      }
      absl::StatusOr<int> together = target.ApplyStepsTogether(runs);
      UPSHIFT_RETURN_IF_ERROR(bounded(together.status()));
      ran_together = *together;
      LogInfo(absl::StrCat(database, ": ", label, ": ", ran_together, " steps applied in one transaction"));
    }
    for (const Step& step : hop.steps) {
      bool ran = ran_together == static_cast<int>(hop.steps.size());
      if (!hop.single_transaction) {
        UPSHIFT_RETURN_IF_ERROR(run.claim.Held());
        UPSHIFT_RETURN_IF_ERROR(bounded(absl::OkStatus()));
        absl::StatusOr<bool> applied = target.ApplyStep({database, label, step.name, step.checksum, step.sql, fence,
                                                          step.command, step.args, step.timeout, step.superuser,
                                                          run.deadline});
        UPSHIFT_RETURN_IF_ERROR(bounded(applied.status()));
        ran = *applied;
        LogInfo(absl::StrCat(database, ": ", label, "/", step.name, ran ? " applied" : " already applied"));
      }
      timeline(label, step.name, ran);
      upgrade::v1::Event progress =
          MakeEvent(order, absl::StrCat("step/", label, "/", step.name), "migrator", clock_.Now());
      upgrade::v1::StepApplied* applied = progress.mutable_step_applied();
      applied->set_hop(label);
      applied->set_step(step.name);
      applied->set_steps_done(++done);
      applied->set_steps_total(total);
      UPSHIFT_RETURN_IF_ERROR(PublishEvent(publisher_, progress));
    }
    UPSHIFT_RETURN_IF_ERROR(target.SetVersion(database, catalog_.set_version_sql(), hop.to, fence));
    current = hop.to;
  }
  // The neutralization waits for what the audit reads: it changes tables declared unchanged.
  upgrade::v1::IntegrityReport post_report;
  absl::StatusOr<std::vector<std::string>> post_findings;
  UPSHIFT_RETURN_IF_ERROR(bounded(absl::OkStatus()));
  UPSHIFT_RETURN_IF_ERROR(bounded(audit->End(report, &post_report, &post_findings)));
  if (run.neutralize && !catalog_.neutralize_sql().empty()) {
    std::string sql = catalog_.neutralize_sql();
    UPSHIFT_RETURN_IF_ERROR(
        target.ApplyStep({database, "neutralize", "neutralize", Fingerprint(sql), sql, fence}).status());
  }
  std::vector<std::string> findings;
  if (run.neutralize) {
    UPSHIFT_ASSIGN_OR_RETURN(findings,
                             checks.Run(database, catalog_.neutralization_assertions(), "neutralization assertion", report));
    // A copy that could still email customers or run their jobs is never handed over.
    if (!findings.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("the copy is not handed over: ", absl::StrJoin(findings, "; ")));
    }
  }
  UPSHIFT_RETURN_IF_ERROR(post_findings.status());
  report->mutable_checks()->MergeFrom(post_report.checks());
  if (!post_findings->empty()) return absl::FailedPreconditionError(absl::StrJoin(*post_findings, "; "));
  UPSHIFT_ASSIGN_OR_RETURN(std::string final_version, target.ReadVersion(database, catalog_.version_query()));
  if (final_version != order.target_version()) {
    return absl::InternalError(absl::StrCat("after the plan the database reports version ", final_version,
                                            " instead of ", order.target_version()));
  }
  return absl::OkStatus();
}

absl::Status Migrator::UnlessServerAway(const upgrade::v1::Order& order, absl::Status ran) {
  if (!ping_) return ran;
  return upshift::UnlessServerAway(std::move(ran), [&] { return ping_(order.server()); });
}

void Migrator::AddHistory(MigrationTarget& target, const std::string& database, const upgrade::v1::Order& order,
                          upgrade::v1::IntegrityReport* report) {
  // The steps RunPlan reported hold the plan's timeline alone; the history holds the rest.
  std::map<std::string, int64_t> done_after_ms;
  for (const upgrade::v1::StepReport& step : report->steps()) {
    done_after_ms[absl::StrCat(step.hop(), "/", step.step())] = step.done_after_ms();
  }
  report->clear_steps();
  absl::StatusOr<std::vector<upgrade::v1::StepReport>> steps = target.History(database);
  if (!steps.ok()) {
    LogWarning(absl::StrCat("could not read the migration history of ", database, ": ", steps.status().ToString()));
    return;
  }
  const std::vector<std::string> superuser = catalog_.SuperuserSteps(order.from_version(), order.target_version());
  for (upgrade::v1::StepReport& step : *steps) {
    const std::string key = absl::StrCat(step.hop(), "/", step.step());
    step.set_superuser(std::find(superuser.begin(), superuser.end(), key) != superuser.end());
    if (auto timed = done_after_ms.find(key); timed != done_after_ms.end()) step.set_done_after_ms(timed->second);
    *report->add_steps() = std::move(step);
  }
}

absl::Status Migrator::MigrateCopy(const upgrade::v1::Order& order, const std::optional<RowCounts>& before) {
  // No other replica runs this plan while this one does (a rebalance may hand the record to both).
  return RunUnderClaim(
      gate_, order.upgrade_id(), "plan", claims_,
      [&](const WorkClaim& claim) { return MigrateCopy(order, before, claim); },
      {false, [&](const std::string& waiting_for) {
         PublishWaiting(publisher_, order, "clone_succeeded", "migrator", waiting_for, clock_.Now());
       }});
}

absl::Status Migrator::MigrateInPlace(const upgrade::v1::Order& order, const std::optional<RowCounts>& before,
                                      absl::Time offline_at, bool count_restore_point) {
  const absl::Time deadline = offline_at != absl::InfinitePast() && order.has_max_offline()
                                  ? offline_at + FromProto(order.max_offline())
                                  : absl::InfiniteFuture();
  return RunUnderClaim(gate_, order.upgrade_id(), "plan", claims_,
                       [&](const WorkClaim& claim) {
                         return MigrateInPlace(order, before, deadline, count_restore_point, claim);
                       });
}

absl::Status Migrator::MigrateCopy(const upgrade::v1::Order& order, const std::optional<RowCounts>& before,
                                   const WorkClaim& claim) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<MigrationTarget> held, target_for_(order.server()));
  MigrationTarget& target = *held;
  const bool check = order.purpose() == upgrade::v1::PURPOSE_CHECK;
  auto cancel = [&](const std::string& reason) {
    LogInfo(absl::StrCat("upgrade ", order.upgrade_id(), ": ", reason));
    upgrade::v1::Event cancelled = MakeEvent(order, "cancelled", "migrator", clock_.Now());
    cancelled.mutable_cancelled()->set_reason(reason);
    return PublishEvent(publisher_, cancelled);
  };
  auto stopped = [&](const Passage& pass) {
    if (pass.kind == Passage::kCancelled) return cancel(pass.reason);
    LogInfo(absl::StrCat("nothing to do for upgrade ", order.upgrade_id(), ": ", pass.reason));
    return absl::OkStatus();
  };
  UPSHIFT_ASSIGN_OR_RETURN(Passage pass, gate_.Pass(order.upgrade_id(), upgrade::v1::CHECKPOINT_BEGIN_MIGRATION));
  if (pass.kind != Passage::kProceed) return stopped(pass);
  upgrade::v1::Event started = MakeEvent(order, "migration_started", "migrator", clock_.Now());
  started.mutable_migration_started();
  UPSHIFT_RETURN_IF_ERROR(PublishEvent(publisher_, started));
  absl::Time start = clock_.Now();
  upgrade::v1::IntegrityReport report;
  // A check migrates its copy like a Test (later hops' pre-checks need the earlier hops applied) but
  // does not neutralize it: the copy is dropped, never handed over.
  absl::Status ran = UnlessServerAway(
      order, RunPlan({target, order.test_database(), order, claim, /*neutralize=*/!check, /*fence=*/"", before}, &report));
  if (!IsRetryable(ran)) AddHistory(target, order.test_database(), order, &report);
  // Before any event hands the copy on (to its owner, or to the cloner that drops it).
  target.EndSession(order.test_database());
  if (IsRetryable(ran)) return ran;
  if (!ran.ok()) {
    LogWarning(absl::StrCat(check ? "check " : "upgrade ", order.upgrade_id(), " failed: ", ran.message()));
    upgrade::v1::Event failed = MakeEvent(order, "failed", "migrator", clock_.Now());
    failed.mutable_failed()->set_error(std::string(ran.message()));
    failed.mutable_failed()->set_phase(check ? "check" : "migrate");
    *failed.mutable_failed()->mutable_report() = std::move(report);
    return PublishEvent(publisher_, failed);
  }
  absl::Duration took = clock_.Now() - start;
  report.set_plan_duration_ms(absl::ToInt64Milliseconds(took));
  if (!check) {
    // Past this point the copy is handed over and the Test can no longer be cancelled.
    UPSHIFT_ASSIGN_OR_RETURN(pass, gate_.Pass(order.upgrade_id(), upgrade::v1::CHECKPOINT_FINISH));
    if (pass.kind != Passage::kProceed) return stopped(pass);
  }
  upgrade::v1::Event succeeded = MakeEvent(order, "succeeded", "migrator", clock_.Now());
  succeeded.mutable_succeeded()->set_version(order.target_version());
  ToProto(took, succeeded.mutable_succeeded()->mutable_migrate_duration());
  *succeeded.mutable_succeeded()->mutable_report() = std::move(report);
  return PublishEvent(publisher_, succeeded);
}

absl::Status Migrator::MigrateInPlace(const upgrade::v1::Order& order, const std::optional<RowCounts>& before,
                                      absl::Time deadline, bool count_restore_point, const WorkClaim& claim) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<MigrationTarget> held, target_for_(order.server()));
  MigrationTarget& target = *held;
  const std::string& db = order.database();
  UPSHIFT_ASSIGN_OR_RETURN(bool online, target.AcceptsConnections(db));
  if (online) {
    LogWarning(absl::StrCat("not migrating ", db, " for upgrade ", order.upgrade_id(),
                            ": it accepts connections, so its upgrade is over"));
    return absl::OkStatus();
  }
  // The point of no return: after this, a cancellation is refused.
  UPSHIFT_ASSIGN_OR_RETURN(Passage pass, gate_.Pass(order.upgrade_id(), upgrade::v1::CHECKPOINT_BEGIN_MIGRATION));
  if (pass.kind == Passage::kEnded) return absl::OkStatus();
  if (pass.kind == Passage::kCancelled) {
    LogInfo(absl::StrCat("upgrade ", order.upgrade_id(), " ", pass.reason, ": restoring ", db));
    upgrade::v1::Event failed = MakeEvent(order, "migration_failed", "migrator", clock_.Now());
    failed.mutable_migration_failed()->set_error(pass.reason);
    failed.mutable_migration_failed()->set_cancelled(true);
    return PublishEvent(publisher_, failed);
  }
  upgrade::v1::Event started = MakeEvent(order, "migration_started", "migrator", clock_.Now());
  started.mutable_migration_started();
  UPSHIFT_RETURN_IF_ERROR(PublishEvent(publisher_, started));
  absl::Time start = clock_.Now();
  upgrade::v1::IntegrityReport report;
  absl::Status ran;
  {
    // The lease tells the cloner this upgrade is alive, even through one long step.
    LeaseHeartbeat lease(target, db, order.upgrade_id(), heartbeat_interval_);
    ran = UnlessServerAway(
        order, RunPlan({target, db, order, claim, /*neutralize=*/false, /*fence=*/order.upgrade_id(), before,
                        /*counted_in=*/count_restore_point ? order.restore_point() : "", deadline},
                       &report));
  }
  if (count_restore_point) target.EndSession(order.restore_point());
  if (!IsRetryable(ran)) AddHistory(target, db, order, &report);
  // Before any event lets the cloner bring the database online or restore it.
  target.EndSession(db);
  if (IsRetryable(ran)) return ran;
  if (!ran.ok()) {
    LogWarning(absl::StrCat("in-place upgrade ", order.upgrade_id(), " of ", db, " failed: ", ran.message()));
    upgrade::v1::Event failed = MakeEvent(order, "migration_failed", "migrator", clock_.Now());
    failed.mutable_migration_failed()->set_error(std::string(ran.message()));
    *failed.mutable_migration_failed()->mutable_report() = std::move(report);
    return PublishEvent(publisher_, failed);
  }
  const absl::Duration took = clock_.Now() - start;
  report.set_plan_duration_ms(absl::ToInt64Milliseconds(took));
  upgrade::v1::Event migrated = MakeEvent(order, "migrated", "migrator", clock_.Now());
  ToProto(took, migrated.mutable_migrated()->mutable_duration());
  *migrated.mutable_migrated()->mutable_report() = std::move(report);
  return PublishEvent(publisher_, migrated);
}

}  // namespace upshift::migrator
