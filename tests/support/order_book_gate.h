#ifndef UPSHIFT_TESTS_SUPPORT_ORDER_BOOK_GATE_H_
#define UPSHIFT_TESTS_SUPPORT_ORDER_BOOK_GATE_H_

#include <map>
#include <string>

#include "libs/gate/gate.h"

namespace upshift::testing {

// request's gate as status and the notifier see it (they read orders, and nothing else): the
// orders it admitted, or UNAVAILABLE while it is away. Counts what each upgrade was asked.
class OrderBookGate final : public Gate {
 public:
  absl::StatusOr<Passage> Pass(const std::string&, upgrade::v1::Checkpoint) override {
    return absl::PermissionDeniedError("readers pass no checkpoint");
  }
  absl::StatusOr<upgrade::v1::Order> GetOrder(const std::string& upgrade_id) override {
    ++asked[upgrade_id];
    if (away) return absl::UnavailableError("request is restarting");
    auto it = orders.find(upgrade_id);
    if (it == orders.end()) return absl::NotFoundError(upgrade_id);
    return it->second;
  }
  absl::StatusOr<OrderState> GetState(const std::string&) override {
    return absl::PermissionDeniedError("not a reader's to ask");
  }
  absl::StatusOr<ClaimAnswer> Claim(const std::string&, const std::string&, const std::string&, absl::Duration,
                                    bool) override {
    return absl::PermissionDeniedError("readers claim no work");
  }
  absl::Status Release(const std::string&, const std::string&, const std::string&, bool) override {
    return absl::PermissionDeniedError("readers claim no work");
  }

  std::map<std::string, upgrade::v1::Order> orders;
  std::map<std::string, int> asked;
  bool away = false;
};

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_SUPPORT_ORDER_BOOK_GATE_H_
