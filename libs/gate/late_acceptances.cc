#include "libs/gate/late_acceptances.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/time.h"
#include "libs/kafka/events.h"
#include "libs/metrics/metrics.h"

namespace upshift {

namespace {

// Enough for a pass of a big outage's backlog; the next pass takes the rest.
constexpr int kPerPass = 100;

}  // namespace

upgrade::v1::Event AnnouncementOf(const upgrade::v1::Order& order, absl::Time now) {
  const absl::Time created = FromProto(order.created_at());
  if (order.has_not_before() && FromProto(order.not_before()) > now) {
    upgrade::v1::Event scheduled = MakeEvent(order, "scheduled", "request", created);
    scheduled.mutable_scheduled();
    return scheduled;
  }
  absl::Time at = created;
  if (order.has_not_before()) at = std::max(at, FromProto(order.not_before()));
  return AcceptanceOf(order, at);
}

LateAcceptances::LateAcceptances(const std::string& service, AwaitedAcceptances& consumer, Gate& gate,
                                 absl::Duration wait)
    : service_(service),
      consumer_(consumer),
      gate_(gate),
      wait_(wait),
      outcomes_(metrics::Default().Counter(
          absl::StrCat("upshift_", service, "_late_acceptances_total"),
          absl::StrCat("Acceptances ", service, " never received and took from request's stored order instead, by outcome"),
          {"outcome"})) {}

absl::StatusOr<int> LateAcceptances::Resolve(absl::Time now) {
  absl::StatusOr<std::vector<std::string>> waiting = consumer_.AwaitingAcceptance(now - wait_, kPerPass);
  if (!waiting.ok()) return waiting.status();
  int taken = 0;
  for (const std::string& upgrade_id : *waiting) {
    absl::StatusOr<upgrade::v1::Order> order = gate_.GetOrder(upgrade_id);
    if (absl::IsNotFound(order.status())) {
      if (absl::Status forgotten = consumer_.ForgetHeld(upgrade_id); !forgotten.ok()) return forgotten;
      LogWarning(absl::StrCat("forgot the records held for upgrade ", upgrade_id, ", which request never admitted"));
      outcomes_.Increment({"never_admitted"});
      continue;
    }
    if (!order.ok()) return order.status();
    absl::StatusOr<bool> accepted = consumer_.Accept(AnnouncementOf(*order, now));
    if (!accepted.ok()) return accepted.status();
    if (!*accepted) continue;  // taken meanwhile: its record came, or another replica took it
    LogWarning(absl::StrCat("the announcement of upgrade ", upgrade_id, " of ", order->database(), " never reached ",
                            service_, "; took it from request's stored order"));
    outcomes_.Increment({"applied"});
    ++taken;
  }
  return taken;
}

}  // namespace upshift
