#ifndef UPSHIFT_LIBS_AUTH_GRPC_AUTH_H_
#define UPSHIFT_LIBS_AUTH_GRPC_AUTH_H_

// Authentication at the gRPC edge: every public RPC handler asks the Authenticator for the caller's
// Principal first, and hands it to the logic, which decides what it may see and do.

#include <grpcpp/server_context.h>

#include <memory>

#include "absl/status/statusor.h"
#include "libs/auth/principal.h"
#include "libs/auth/token_verifier.h"

namespace upshift {

// Thread-safe.
class Authenticator {
 public:
  // Checks bearer tokens with `verifier`.
  explicit Authenticator(std::unique_ptr<TokenVerifier> verifier) : verifier_(std::move(verifier)) {}
  // Lets every call through as an operator: an explicit choice (--insecure_no_auth), logged.
  static std::unique_ptr<Authenticator> Insecure() { return std::unique_ptr<Authenticator>(new Authenticator()); }

  // The principal of the call's `authorization: Bearer <token>`. UNAUTHENTICATED saying why not.
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContext& context) const;

 private:
  Authenticator() = default;
  std::unique_ptr<TokenVerifier> verifier_;  // null: insecure
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_AUTH_GRPC_AUTH_H_
