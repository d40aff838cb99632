#ifndef UPSHIFT_SERVICES_REQUEST_TEST_COPIES_H_
#define UPSHIFT_SERVICES_REQUEST_TEST_COPIES_H_

#include <functional>

#include "absl/status/statusor.h"
#include "libs/auth/principal.h"
#include "libs/common/time.h"
#include "services/request/order_store.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::request {

// Extends the life of handed-over test copies. Thread-safe.
class TestCopies {
 public:
  TestCopies(OrderStore& store, Clock& clock, absl::Duration step, std::function<void()> recorded)
      : store_(store), clock_(clock), step_(step), recorded_(std::move(recorded)) {}

  // What the audit trail says a call acted on: set once the copy is found to be the caller's, so
  // also when the extension is then refused.
  struct ActedOn {
    std::string tenant;
    std::string upgrade_id;
  };

  // INVALID_ARGUMENT: malformed name. NOT_FOUND: not a test copy, or another tenant's. FAILED_PRECONDITION: not handed
  // over yet, or removed. The new expiry is one step past the later of now and the current one.
  // PERMISSION_DENIED without upgrades.test. `acted_on`, when given, is filled as ActedOn says;
  // `audit_of`, when given, makes the audit record written with the extension.
  absl::StatusOr<upgrade::v1::ExtendTestCopyResponse> Extend(const upgrade::v1::ExtendTestCopyRequest& request,
                                                             const Principal& caller, ActedOn* acted_on = nullptr,
                                                             const AuditOf& audit_of = nullptr);

 private:
  OrderStore& store_;
  Clock& clock_;
  const absl::Duration step_;
  std::function<void()> recorded_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_TEST_COPIES_H_
