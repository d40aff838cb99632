#ifndef UPSHIFT_LIBS_AUTH_AUTH_FLAGS_H_
#define UPSHIFT_LIBS_AUTH_AUTH_FLAGS_H_

// The flags of the services that take calls from users (request, status), defined once:
// --jwks_file, --jwt_issuer, --jwt_audience, --insecure_no_auth.

#include <memory>

#include "absl/status/statusor.h"
#include "libs/auth/grpc_auth.h"

namespace upshift {

// The authenticator the flags ask for; --insecure_no_auth logs a warning. Errors as
// TokenVerifier::Create.
absl::StatusOr<std::unique_ptr<Authenticator>> AuthenticatorFromFlags();

}  // namespace upshift

#endif  // UPSHIFT_LIBS_AUTH_AUTH_FLAGS_H_
