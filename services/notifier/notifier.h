#ifndef UPSHIFT_SERVICES_NOTIFIER_NOTIFIER_H_
#define UPSHIFT_SERVICES_NOTIFIER_NOTIFIER_H_

#include <mutex>

#include "libs/common/time.h"
#include "libs/gate/late_acceptances.h"
#include "libs/kafka/consumer.h"
#include "libs/mail/mailer.h"
#include "services/notifier/emails.h"
#include "services/notifier/sent_log.h"

namespace upshift::notifier {

struct NotifierOptions {
  EmailOptions email;
  // How long an event that came ahead of its upgrade's acceptance is kept for it: one kept longer
  // names an upgrade request never announced.
  absl::Duration pending_retention = absl::Hours(24);
  // How long the orders and sent emails of an ended upgrade are kept, and how many upgrades' are
  // forgotten per transaction.
  absl::Duration retention = absl::Hours(24 * 90);
  int prune_batch = 500;
  // How long an email sent is tried to be recorded while the platform database is away (a restart,
  // a failover): meanwhile the record waits, and the email is not sent again.
  absl::Duration record_patience = absl::Seconds(30);
};

// Emails the customer on acceptance, success and failure of an upgrade, once per event, at the
// address request stored with the order. An acceptance that never came (LateAcceptances) is taken
// from request's stored order, and emailed with what waited for it.
class Notifier : public AwaitedAcceptances {
 public:
  Notifier(NotifierOptions options, Mailer& mailer, SentLog& log, Clock& clock = SystemClock())
      : options_(std::move(options)), mailer_(mailer), log_(log), clock_(clock) {}

  // Consumer entry point for upgrade.orders and upgrade.events. PERMISSION_DENIED (the DLQ) for a
  // record whose order differs from request's acceptance, or that announces an upgrade's end twice.
  // A record that comes ahead of its acceptance is kept (SentLog::Defer) and emailed with it.
  absl::Status Handle(const ConsumedRecord& record);

  // AwaitedAcceptances: the upgrades whose events wait for their acceptance (SentLog::Defer).
  absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time held_before, int limit) override;
  absl::StatusOr<bool> Accept(const upgrade::v1::Event& acceptance) override;
  absl::Status ForgetHeld(const std::string& upgrade_id) override { return log_.ForgetHeld(upgrade_id); }

  // Forgets the upgrades that ended longer than the retention ago, a batch at a time. Returns how many.
  absl::StatusOr<int> Prune();

 private:
  // request's announcement of an order (its acceptance or scheduling): remembers the order, emails
  // the announcement, then what waited for it.
  absl::Status Announce(const upgrade::v1::Event& event);
  // Emails what `event` says, if anything, once, to the address of `announced`.
  absl::Status Notify(const upgrade::v1::Event& event, const upgrade::v1::Order& announced);

  const NotifierOptions options_;
  Mailer& mailer_;
  SentLog& log_;
  Clock& clock_;
};

}  // namespace upshift::notifier

#endif  // UPSHIFT_SERVICES_NOTIFIER_NOTIFIER_H_
