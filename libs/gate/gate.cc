#include "libs/gate/gate.h"

#include "absl/strings/str_cat.h"
#include "libs/kafka/events.h"

namespace upshift {

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
