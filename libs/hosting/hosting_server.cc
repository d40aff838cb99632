#include "libs/hosting/hosting_server.h"

#include "absl/strings/str_cat.h"

namespace upshift {

absl::Status DatabaseNotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("database \"", name, "\" does not exist on the hosting server"));
}

}  // namespace upshift
