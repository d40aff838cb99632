#include "services/request/gate_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace upshift::request {
namespace {

const char* Name(GateWorker worker) { return worker == GateWorker::kCloner ? "cloner" : "migrator"; }

bool Names(const std::vector<std::string>& identities, const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
    return std::find(identities.begin(), identities.end(), name) != identities.end();
  });
}

}  // namespace

absl::StatusOr<GateWorker> GatePolicy::Identify(const std::vector<std::string>& names) const {
  const bool cloner = Names(identities_.cloner, names), migrator = Names(identities_.migrator, names);
  if (cloner != migrator) return cloner ? GateWorker::kCloner : GateWorker::kMigrator;
  return absl::PermissionDeniedError(absl::StrCat(
      "the gate serves the cloner and the migrator only; this certificate names ",
      names.empty() ? std::string("nothing") : absl::StrJoin(names, ", "), cloner ? " (both of them)" : ""));
}

absl::Status GatePolicy::MayPass(GateWorker worker, upgrade::v1::Checkpoint checkpoint) {
  const GateWorker owner =
      checkpoint == upgrade::v1::CHECKPOINT_TAKE_OFFLINE ? GateWorker::kCloner : GateWorker::kMigrator;
  if (checkpoint == upgrade::v1::CHECKPOINT_UNSPECIFIED || owner == worker) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("the ", Name(worker), " may not pass checkpoint ",
                                                  upgrade::v1::Checkpoint_Name(checkpoint), ": it is the ",
                                                  Name(owner), "'s"));
}

absl::Status GatePolicy::MayClaim(GateWorker worker, const std::string& work) {
  GateWorker owner;
  if (work == "copy" || work == "snapshot") {
    owner = GateWorker::kCloner;
  } else if (work == "plan") {
    owner = GateWorker::kMigrator;
  } else {
    return absl::OkStatus();  // the claim store refuses an unknown kind with INVALID_ARGUMENT
  }
  if (owner == worker) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("the ", Name(worker), " may not claim \"", work, "\" work: it is the ", Name(owner), "'s"));
}

}  // namespace upshift::request
