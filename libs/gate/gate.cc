#include "libs/gate/gate.h"

#include "absl/strings/str_cat.h"
#include "libs/kafka/events.h"

namespace upshift {

absl::StatusOr<upgrade::v1::Order> CachingGate::GetOrder(const std::string& upgrade_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = orders_.find(upgrade_id); it != orders_.end()) return it->second;
  }
  absl::StatusOr<upgrade::v1::Order> order = gate_.GetOrder(upgrade_id);
  if (!order.ok()) return order;  // an unknown upgrade is asked about again: it may be admitted later
  absl::MutexLock lock(&mu_);
  if (orders_.emplace(upgrade_id, *order).second) {
    oldest_first_.push_back(upgrade_id);
    if (oldest_first_.size() > capacity_) {
      orders_.erase(oldest_first_.front());
      oldest_first_.pop_front();
    }
  }
  return order;
}

absl::StatusOr<upgrade::v1::Order> AuthoritativeOrder(Gate& gate, const upgrade::v1::Order& claimed) {
  absl::StatusOr<upgrade::v1::Order> stored = gate.GetOrder(claimed.upgrade_id());
  if (stored.status().code() == absl::StatusCode::kNotFound) {
    return absl::PermissionDeniedError(
        absl::StrCat("the record names upgrade ", claimed.upgrade_id(), ", which request never admitted"));
  }
  if (!stored.ok()) return stored.status();
  if (absl::Status agrees = AgreesWithStoredOrder(*stored, claimed); !agrees.ok()) return agrees;
  return stored;
}

}  // namespace upshift
