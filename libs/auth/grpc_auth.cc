#include "libs/auth/grpc_auth.h"

#include "absl/time/clock.h"

namespace upshift {

absl::StatusOr<Principal> Authenticator::Authenticate(const grpc::ServerContext& context) const {
  if (verifier_ == nullptr) return Principal{"anonymous", "", {scopes::kOperator}};
  auto found = context.client_metadata().find("authorization");
  absl::string_view header;
  if (found != context.client_metadata().end()) header = absl::string_view(found->second.data(), found->second.size());
  absl::StatusOr<std::string> token = BearerToken(header);
  if (!token.ok()) return token.status();
  return verifier_->Verify(*token, absl::Now());
}

}  // namespace upshift
