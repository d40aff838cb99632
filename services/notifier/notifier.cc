#include "services/notifier/notifier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/batches.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/status_macros.h"
#include "libs/common/validation.h"
#include "libs/kafka/events.h"

namespace upshift::notifier {

namespace {

bool EndsTheUpgrade(const upgrade::v1::Event& event) {
  switch (event.kind_case()) {
    case upgrade::v1::Event::kSucceeded:
    case upgrade::v1::Event::kFailed:
    case upgrade::v1::Event::kCancelled:
    case upgrade::v1::Event::kRolledBack:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::Status Notifier::Handle(const ConsumedRecord& record) {
  UPSHIFT_ASSIGN_OR_RETURN(upgrade::v1::Event event, ParseEvent(record));
  // What this thread logs from here on is about this upgrade (JSON logs: upgrade_id, database).
  LogScope scope(event.order().upgrade_id(), event.order().database());
  const std::string& id = event.order().upgrade_id();
  // request's announcement of the order: its acceptance, or its scheduling (the acceptance follows).
  const bool announces =
      event.kind_case() == upgrade::v1::Event::kAccepted || event.kind_case() == upgrade::v1::Event::kScheduled;
  if (!announces) {
    UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::Order> announced, log_.RememberedOrder(id));
    if (announced.has_value()) return Notify(event, *announced);
    // Ahead of its acceptance (the topics are not ordered with each other): kept until it comes.
    if (!ComposeEmail(event, options_.email).has_value()) return absl::OkStatus();
    return log_.Defer(event);
  }
  // request's announcement (only request may say one): the order every later email goes by.
  return Announce(event);
}

absl::StatusOr<std::vector<std::string>> Notifier::AwaitingAcceptance(absl::Time held_before, int limit) {
  return log_.AwaitingAcceptance(held_before, limit);
}

absl::StatusOr<bool> Notifier::Accept(const upgrade::v1::Event& acceptance) {
  LogScope scope(acceptance.order().upgrade_id(), acceptance.order().database());
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::Order> known, log_.RememberedOrder(acceptance.order().upgrade_id()));
  UPSHIFT_RETURN_IF_ERROR(Announce(acceptance));
  return !known.has_value();
}

absl::Status Notifier::Announce(const upgrade::v1::Event& event) {
  const std::string& id = event.order().upgrade_id();
  UPSHIFT_RETURN_IF_ERROR(log_.RememberOrder(event.order()));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<upgrade::v1::Order> announced, log_.RememberedOrder(id));
  if (!announced.has_value()) return absl::UnavailableError(absl::StrCat("the order of ", id, " was not kept"));
  UPSHIFT_RETURN_IF_ERROR(Notify(event, *announced));
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<upgrade::v1::Event> early, log_.Deferred(id));
  for (const upgrade::v1::Event& e : early) {
    absl::Status notified = Notify(e, *announced);
    if (notified.code() == absl::StatusCode::kPermissionDenied) {
      LogWarning(absl::StrCat("refused event ", e.event_id(), ", which came ahead of its acceptance: ",
                              notified.message()));
    } else if (!notified.ok()) {
      return notified;  // this acceptance is handled again, and what is left with it
    }
    UPSHIFT_RETURN_IF_ERROR(log_.ForgetDeferred(e.event_id()));
  }
  return absl::OkStatus();
}

absl::Status Notifier::Notify(const upgrade::v1::Event& event, const upgrade::v1::Order& announced) {
  const std::string& id = announced.upgrade_id();
  // A record is about the order request announced, to the letter: its recipient, database and
  // names are never the record's own.
  UPSHIFT_RETURN_IF_ERROR(AgreesWithStoredOrder(announced, event.order()));
  std::optional<Email> email = ComposeEmail(event, options_.email);
  if (!email.has_value()) return absl::OkStatus();
  UPSHIFT_RETURN_IF_ERROR(ValidateEmail(email->to));
  const std::string key = EmailKey(event);
  UPSHIFT_ASSIGN_OR_RETURN(bool sent, log_.WasSent(key));
  if (sent) return absl::OkStatus();
  const bool ends = EndsTheUpgrade(event);
  if (ends) {
    // An upgrade ends once: a second end (a forgery, or a worker's leaked key) is never announced.
    UPSHIFT_ASSIGN_OR_RETURN(std::optional<std::string> ended, log_.EndAnnounced(id));
    if (ended.has_value() && *ended != event.event_id()) {
      return absl::PermissionDeniedError(
          absl::StrCat("the end of upgrade ", id, " was announced already (event ", *ended, ")"));
    }
  }
  // Sent, then recorded: a crash in between can repeat this one email (same Message-ID), never lose
  // it. The platform database away meanwhile only delays the record: given up (and the record handled
  // again, the email with it), it would repeat the email too.
  UPSHIFT_RETURN_IF_ERROR(mailer_.Send(*email));
  LogInfo(absl::StrCat("emailed ", email->to, ": ", email->subject));
  const absl::Time until = absl::Now() + options_.record_patience;
  absl::Status recorded;
  for (int attempt = 0;; ++attempt) {
    recorded = log_.MarkSent(key, id, email->to, email->subject, ends);
    if (recorded.ok() || !IsRetryable(recorded) || absl::Now() >= until) break;
    LogWarning(absl::StrCat("cannot record the email of ", key, " yet: ", recorded.ToString()));
    absl::SleepFor(std::min(Backoff(attempt, absl::Milliseconds(100), absl::Seconds(2)), until - absl::Now()));
  }
  return recorded;
}

absl::StatusOr<int> Notifier::Prune() {
  return UntilShortBatch(
      [&] {
        absl::Time now = clock_.Now();
        return log_.Prune(now - options_.retention, now - options_.pending_retention, options_.prune_batch);
      },
      options_.prune_batch);
}

}  // namespace upshift::notifier
