#include "services/status/late_acceptances.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/time.h"
#include "libs/kafka/events.h"
#include "libs/metrics/metrics.h"

namespace upshift::status {

namespace {

// Enough for a pass of a big outage's backlog; the next pass takes the rest.
constexpr int kPerPass = 100;
// Remembered refusals; past this they are forgotten and asked again (each costs one gate call).
constexpr size_t kMaxRemembered = 10000;

// When request accepted `order`: at its scheduled start if it had one, else when it was ordered.
absl::Time AcceptedAt(const upgrade::v1::Order& order) {
  absl::Time at = FromProto(order.created_at());
  if (order.has_not_before()) at = std::max(at, FromProto(order.not_before()));
  return at;
}

}  // namespace

absl::StatusOr<int> LateAcceptances::Resolve(absl::Time now) {
  static metrics::Family& recovered = metrics::Default().Counter(
      "upshift_status_late_acceptances_total",
      "Acceptances status never received and took from request's stored order instead, by outcome",
      {"outcome"});
  absl::StatusOr<std::vector<std::string>> waiting = store_.AwaitingAcceptance(now - wait_, kPerPass);
  if (!waiting.ok()) return waiting.status();
  int applied = 0;
  for (const std::string& upgrade_id : *waiting) {
    {
      absl::MutexLock lock(&mu_);
      if (never_admitted_.count(upgrade_id) > 0) continue;
    }
    absl::StatusOr<upgrade::v1::Order> order = gate_.GetOrder(upgrade_id);
    if (absl::IsNotFound(order.status())) {
      LogWarning(absl::StrCat("records held for upgrade ", upgrade_id,
                              ", which request never admitted: kept until the retention forgets them"));
      recovered.Increment({"never_admitted"});
      absl::MutexLock lock(&mu_);
      if (never_admitted_.size() >= kMaxRemembered) never_admitted_.clear();
      never_admitted_.insert(upgrade_id);
      continue;
    }
    if (!order.ok()) return order.status();
    absl::StatusOr<std::optional<upgrade::v1::Upgrade>> after = store_.Apply(AcceptanceOf(*order, AcceptedAt(*order)));
    if (!after.ok()) return after.status();
    if (!after->has_value()) continue;  // applied meanwhile: its record came, or another replica took it
    LogWarning(absl::StrCat("the acceptance of upgrade ", upgrade_id, " of ", order->database(),
                            " never reached status; applied it from request's stored order"));
    recovered.Increment({"applied"});
    ++applied;
  }
  return applied;
}

}  // namespace upshift::status
