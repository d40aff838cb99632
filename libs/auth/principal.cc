#include "libs/auth/principal.h"

#include "absl/strings/str_cat.h"

namespace upshift {

absl::Status RequireScope(const Principal& principal, const std::string& scope, const std::string& what) {
  if (!principal.Has(scope)) return absl::PermissionDeniedError(absl::StrCat(what, " needs a token with scope ", scope));
  if (principal.tenant.empty() && principal.granted.count(scopes::kOperator) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token of \"", principal.subject, "\" names no tenant: only operators act without one"));
  }
  return absl::OkStatus();
}

}  // namespace upshift
