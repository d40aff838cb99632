#ifndef UPSHIFT_LIBS_AUTH_PRINCIPAL_H_
#define UPSHIFT_LIBS_AUTH_PRINCIPAL_H_

#include <set>
#include <string>

#include "absl/status/status.h"

namespace upshift {

// What a caller may do, by the scopes of its token (OAuth 2.0 `scope`, space-separated).
namespace scopes {
inline constexpr char kRead[] = "upgrades.read";              // see databases and upgrades
inline constexpr char kTest[] = "upgrades.test";              // order, cancel and extend Tests and checks
inline constexpr char kProduction[] = "upgrades.production";  // order and cancel Production upgrades
inline constexpr char kOperator[] = "upgrades.operator";      // everything, and the platform's own views
}  // namespace scopes

// Who calls, as its verified token says: handed by the gRPC edge to the logic, which decides.
struct Principal {
  std::string subject;  // `sub`
  std::string tenant;   // the `tenant` claim; empty when the token has none
  std::set<std::string> granted;  // its scopes

  // Whether the principal holds `scope` (an operator holds every scope).
  bool Has(const std::string& scope) const {
    return granted.count(scope) > 0 || granted.count(scopes::kOperator) > 0;
  }

  // Whether the principal may see and act on what belongs to `owner` (a tenant): an operator on
  // every tenant's databases and upgrades, anyone else on its own tenant's only.
  bool ActsFor(const std::string& owner) const { return ForEveryTenant() || (!tenant.empty() && tenant == owner); }

  // Whether the principal acts for every tenant (an operator).
  bool ForEveryTenant() const { return granted.count(scopes::kOperator) > 0; }
};

// OK when `principal` holds `scope` and names a tenant (an operator needs none); else
// PERMISSION_DENIED saying which scope `what` needs, or that the token names no tenant.
absl::Status RequireScope(const Principal& principal, const std::string& scope, const std::string& what);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_AUTH_PRINCIPAL_H_
