#include "services/request/gate_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace upshift::request {
namespace {

const char* Name(GateWorker worker) {
  switch (worker) {
    case GateWorker::kCloner:
      return "cloner";
    case GateWorker::kMigrator:
      return "migrator";
    case GateWorker::kStatus:
      return "status";
    case GateWorker::kNotifier:
      break;
  }
  return "notifier";
}

bool Names(const std::vector<std::string>& identities, const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
    return std::find(identities.begin(), identities.end(), name) != identities.end();
  });
}

}  // namespace

absl::StatusOr<GateWorker> GatePolicy::Identify(const std::vector<std::string>& names) const {
  std::vector<GateWorker> named;
  for (auto [worker, identities] : {std::pair{GateWorker::kCloner, &identities_.cloner},
                                    std::pair{GateWorker::kMigrator, &identities_.migrator},
                                    std::pair{GateWorker::kStatus, &identities_.status},
                                    std::pair{GateWorker::kNotifier, &identities_.notifier}}) {
    if (Names(*identities, names)) named.push_back(worker);
  }
  if (named.size() == 1) return named[0];
  return absl::PermissionDeniedError(absl::StrCat(
      "the gate serves the cloner, the migrator, status and the notifier only; this certificate names ",
      names.empty() ? std::string("nothing") : absl::StrJoin(names, ", "),
      named.size() > 1 ? " (more than one of them)" : ""));
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
