#ifndef UPSHIFT_SERVICES_NOTIFIER_SENT_LOG_H_
#define UPSHIFT_SERVICES_NOTIFIER_SENT_LOG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::notifier {

// What the notifier keeps, seen through three narrow ports. Thread-safe; UNAVAILABLE when the
// database is unreachable.

// Which notifications were sent, so that none is sent twice.
class SentEmails {
 public:
  virtual ~SentEmails() = default;
  virtual absl::StatusOr<bool> WasSent(const std::string& event_id) = 0;
  // Idempotent. `ends`: the email announced the upgrade's end.
  virtual absl::Status MarkSent(const std::string& event_id, const std::string& upgrade_id, const std::string& to,
                                const std::string& subject, bool ends) = 0;
  // The event whose email announced the end of `upgrade_id`, if one did.
  virtual absl::StatusOr<std::optional<std::string>> EndAnnounced(const std::string& upgrade_id) = 0;
  // Forgets the orders of upgrades whose end was announced before `cutoff`, and their sent emails,
  // at most `batch` orders, and the events kept since before `pending_cutoff` (their acceptance
  // never came). Returns how many orders and events it forgot.
  virtual absl::StatusOr<int> Prune(absl::Time cutoff, absl::Time pending_cutoff, int batch) = 0;
};

// The orders request announced, so that each email goes where the order says.
class AnnouncedOrders {
 public:
  virtual ~AnnouncedOrders() = default;
  // Keeps `order` as request announced it (its acceptance). Idempotent: the first one stays.
  virtual absl::Status RememberOrder(const upgrade::v1::Order& order) = 0;
  virtual absl::StatusOr<std::optional<upgrade::v1::Order>> RememberedOrder(const std::string& upgrade_id) = 0;
};

// Events that came ahead of their upgrade's acceptance, kept until it arrives.
class DeferredEvents {
 public:
  virtual ~DeferredEvents() = default;
  // Keeps `event` until its upgrade's acceptance arrives. Idempotent.
  virtual absl::Status Defer(const upgrade::v1::Event& event) = 0;
  // The events kept for `upgrade_id`, in the order they came.
  virtual absl::StatusOr<std::vector<upgrade::v1::Event>> Deferred(const std::string& upgrade_id) = 0;
  virtual absl::Status ForgetDeferred(const std::string& event_id) = 0;
  // The upgrades with an event kept since before `kept_before`, longest kept first, at most `limit`.
  virtual absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time kept_before, int limit) = 0;
  // Forgets the events kept for `upgrade_id`.
  virtual absl::Status ForgetHeld(const std::string& upgrade_id) = 0;
};

// The whole log: its three ports, implemented together by one adapter (the notifier uses all three).
class SentLog : public SentEmails, public AnnouncedOrders, public DeferredEvents {};

}  // namespace upshift::notifier

#endif  // UPSHIFT_SERVICES_NOTIFIER_SENT_LOG_H_
