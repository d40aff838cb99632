#include "libs/auth/principal.h"

#include "absl/strings/str_cat.h"

namespace upshift {

absl::Status RequireScope(const Principal& principal, const std::string& scope, const std::string& what) {
  if (principal.Has(scope)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(what, " needs a token with scope ", scope));
}

}  // namespace upshift
