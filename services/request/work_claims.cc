#include "services/request/work_claims.h"

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/common/validation.h"

namespace upshift::request {

namespace {

absl::Status ValidateClaim(const std::string& upgrade_id, const std::string& work, const std::string& holder) {
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(upgrade_id));
  if (work != "copy" && work != "snapshot" && work != "plan") {
    return absl::InvalidArgumentError("work must be copy, snapshot or plan");
  }
  if (holder.empty() || holder.size() > 200) return absl::InvalidArgumentError("holder must be 1 to 200 bytes");
  for (char c : holder) {
    if (c < 0x21 || c > 0x7e) return absl::InvalidArgumentError("holder must be printable ASCII without spaces");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<upgrade::v1::ClaimWorkResponse> WorkClaims::Claim(const upgrade::v1::ClaimWorkRequest& request) {
  UPSHIFT_RETURN_IF_ERROR(ValidateClaim(request.upgrade_id(), request.work(), request.holder()));
  absl::Duration ttl = FromProto(request.ttl());
  if (ttl < absl::Seconds(1) || ttl > absl::Minutes(10)) {
    return absl::InvalidArgumentError("ttl must be from 1 s to 10 min");
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> order, orders_.FindByUpgradeId(request.upgrade_id()));
  if (!order.has_value()) return absl::NotFoundError(absl::StrCat("request admitted no upgrade ", request.upgrade_id()));
  Capacity capacity;
  capacity.server = order->order.server();
  const bool plan = request.work() == "plan";
  capacity.works = plan ? std::vector<std::string>{"plan"} : std::vector<std::string>{"copy", "snapshot"};
  const bool offline_plan = plan && order->order.purpose() == upgrade::v1::PURPOSE_PRODUCTION;
  if (limit_of_ && !capacity.server.empty() && !offline_plan && !request.resumes()) {
    capacity.limit = limit_of_(capacity.server, plan ? "plans" : "copies");
  }
  UPSHIFT_ASSIGN_OR_RETURN(StoredClaim claim,
                           claims_.ClaimWork(request.upgrade_id(), request.work(), request.holder(), ttl, capacity));
  upgrade::v1::ClaimWorkResponse response;
  if (claim.running > 0) {
    response.set_waiting_for(absl::StrCat("hosting server ", capacity.server, " runs ", claim.running, " ",
                                          plan ? "plans" : "copies", ", its limit"));
  }
  response.set_granted(claim.granted);
  response.set_done(claim.done);
  response.set_holder(claim.holder);
  ToProto(claim.expires_at, response.mutable_expires_at());
  return response;
}

absl::Status WorkClaims::Release(const upgrade::v1::ReleaseWorkRequest& request) {
  UPSHIFT_RETURN_IF_ERROR(ValidateClaim(request.upgrade_id(), request.work(), request.holder()));
  return claims_.ReleaseWork(request.upgrade_id(), request.work(), request.holder(), request.done());
}

}  // namespace upshift::request
