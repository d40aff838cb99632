#include "services/cloner/copies.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/status_macros.h"
#include "libs/gate/work_claim.h"

namespace upshift::cloner {

absl::Status TestCopies::OnAccepted(const upgrade::v1::Order& order) {
  // No other replica does this while this one does (a rebalance may hand the record to both).
  return RunUnderClaim(
      gate_, order.upgrade_id(), "copy", options_.claims, [&](const WorkClaim&) { return Copy(order); },
      {false, [&](const std::string& waiting_for) { announcer_.Waiting(order, "accepted", waiting_for); }});
}

absl::StatusOr<std::shared_ptr<HostingServer>> TestCopies::On(const upgrade::v1::Order& order) {
  return ServerOfOrder(fleet_, order.server());
}

absl::Status TestCopies::Copy(const upgrade::v1::Order& order) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
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
    Semaphore::Hold copying = copying_.Acquire();
    UPSHIFT_RETURN_IF_ERROR(
        announcer_.Emit(order, "clone_started", [](upgrade::v1::Event& e) { e.mutable_clone_started(); }));
    // As the Production's restore point will be made: its copy then times what the window's will.
    if (options_.method != CloneMethod::kDump) {
      UPSHIFT_RETURN_IF_ERROR(CheckpointBeforeFileCopy(options_, *hosting, order.database()));
    }
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
      UPSHIFT_RETURN_IF_ERROR(owned_.DropIfMade(*hosting, order.upgrade_id(), order.test_database()).status());
      start = clock_.Now();
      absl::StatusOr<TableRowCounts> dumped = hosting->CloneByDump(order.database(), order.test_database());
      copy_took = clock_.Now() - start;
      if (IsRetryable(dumped.status())) return dumped.status();
      if (!dumped.ok()) return Fail(order, absl::StrCat("could not copy the database: ", dumped.status().message()));
      UPSHIFT_RETURN_IF_ERROR(CountCopy(order, *std::move(dumped), &source_rows, &copy_rows));
      diff = FirstDifference(source_rows, copy_rows);
    }
    if (!diff.empty()) {
      UPSHIFT_RETURN_IF_ERROR(owned_.DropIfMade(*hosting, order.upgrade_id(), order.test_database()).status());
      return Fail(order, absl::StrCat("the copy does not match its source: ", diff));
    }
    done.emplace();
    ToProto(clock_.Now() - start, done->mutable_duration());
    ToProto(copy_took, done->mutable_copy_duration());
    UPSHIFT_ASSIGN_OR_RETURN(int64_t source_bytes, hosting->DataSizeBytes(order.database()));
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
  return announcer_.Emit(order, "clone_succeeded", [&](upgrade::v1::Event& e) { *e.mutable_clone_succeeded() = *done; });
}

absl::StatusOr<std::optional<TableRowCounts>> TestCopies::MakeCopy(const upgrade::v1::Order& order) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
  const std::string& source = order.database();
  const std::string& target = order.test_database();
  std::string strategy;
  if (options_.method != CloneMethod::kDump) {
    absl::StatusOr<std::string> chosen = StrategyFor(options_, *hosting, source);
    if (!chosen.ok()) return chosen.status();
    strategy = *std::move(chosen);
    LogInfo(absl::StrCat("copying ", source, " to ", target, " (CREATE DATABASE strategy ", strategy, ")"));
  }
  auto dump = [&]() -> absl::StatusOr<std::optional<TableRowCounts>> {
    UPSHIFT_ASSIGN_OR_RETURN(TableRowCounts counted, hosting->CloneByDump(source, target));
    return std::optional<TableRowCounts>(std::move(counted));
  };
  auto copy = [&]() -> absl::StatusOr<std::optional<TableRowCounts>> {
    if (options_.method == CloneMethod::kDump) return dump();
    UPSHIFT_RETURN_IF_ERROR(hosting->CloneFromTemplate(source, target, strategy));
    return std::optional<TableRowCounts>();
  };
  // The rows a dump counted come out of the creation alongside its status.
  std::optional<TableRowCounts> counted;
  auto made_by = [&](const std::function<absl::StatusOr<std::optional<TableRowCounts>>()>& how) {
    absl::Status created = owned_.Create(*hosting, order.upgrade_id(), target, [&]() -> absl::Status {
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

absl::Status TestCopies::CountCopy(const upgrade::v1::Order& order, const std::optional<TableRowCounts>& dumped,
                                   TableRowCounts* source_rows, TableRowCounts* copy_rows) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
  if (dumped.has_value()) {
    // A dump copied a snapshot of a source in use, and counted the source in it.
    *source_rows = *dumped;
    UPSHIFT_ASSIGN_OR_RETURN(*copy_rows, hosting->CountRows(order.test_database()));
    return absl::OkStatus();
  }
  // A template copy is the source at an instant when it had no session; both are counted at once.
  auto [source_counted, copy_counted] = CountBoth(*hosting, order.database(), order.test_database());
  UPSHIFT_ASSIGN_OR_RETURN(*source_rows, std::move(source_counted));
  UPSHIFT_ASSIGN_OR_RETURN(*copy_rows, std::move(copy_counted));
  return absl::OkStatus();
}

absl::Status TestCopies::Fail(const upgrade::v1::Order& order, const std::string& error) {
  // Met while the order's server does not answer, the failure is the server's: tried again once it answers.
  if (absl::StatusOr<std::string> server = OrderServerName(fleet_.ServerNames(), order.server()); server.ok()) {
    absl::Status away = UnlessServerAway(absl::InternalError(error), [&] { return fleet_.Ping(*server); });
    if (IsRetryable(away)) return away;
  }
  LogWarning(absl::StrCat("clone for upgrade ", order.upgrade_id(), " failed: ", error));
  return announcer_.Emit(order, "failed", [&](upgrade::v1::Event& e) {
    e.mutable_failed()->set_error(error);
    e.mutable_failed()->set_phase("clone");
  });
}

absl::Status TestCopies::DropCopy(const upgrade::v1::Order& order, const std::string& reason) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> hosting, On(order));
  UPSHIFT_ASSIGN_OR_RETURN(bool dropped, owned_.Drop(*hosting, order.upgrade_id(), order.test_database(), reason));
  UPSHIFT_RETURN_IF_ERROR(store_.MarkCopyDropped(order.upgrade_id()));
  if (dropped) LogInfo(absl::StrCat("dropped copy ", order.test_database(), ": ", reason));
  return absl::OkStatus();
}

absl::Status TestCopies::DropTestCopy(const upgrade::v1::Order& order, const std::string& reason) {
  UPSHIFT_RETURN_IF_ERROR(DropCopy(order, reason));
  return announcer_.Emit(order, "test_copy_dropped",
                         [&](upgrade::v1::Event& e) { e.mutable_test_copy_dropped()->set_reason(reason); });
}

absl::Status TestCopies::OnFailed(const upgrade::v1::Order& order) {
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

absl::Status TestCopies::OnCancelled(const upgrade::v1::Order& order) {
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

absl::Status TestCopies::OnCheckEnded(const upgrade::v1::Order& order) { return DropCopy(order, "the check ended"); }

absl::Status TestCopies::OnTestCopyExtended(const upgrade::v1::Order& order, absl::Time expires_at) {
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

absl::StatusOr<int> TestCopies::ExpireTestCopies() {
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
    UPSHIFT_RETURN_IF_ERROR(announcer_.Emit(
        copy.order, absl::StrCat("test_copy_expiring/", days, "d/", absl::ToUnixSeconds(copy.expires_at)),
        [&](upgrade::v1::Event& e) {
          ToProto(copy.expires_at, e.mutable_test_copy_expiring()->mutable_expires_at());
          e.mutable_test_copy_expiring()->set_days_left(days);
        }));
    UPSHIFT_RETURN_IF_ERROR(store_.SetCopyWarned(copy.order.upgrade_id(), days));
  }
  return dropped;
}

}  // namespace upshift::cloner
