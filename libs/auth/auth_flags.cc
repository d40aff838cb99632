#include "libs/auth/auth_flags.h"

#include "absl/flags/flag.h"
#include "libs/common/logging.h"

ABSL_FLAG(std::string, jwks_file, "", "Required unless --insecure_no_auth: JWKS file of the identity provider whose tokens callers present (read again when it changes)");
ABSL_FLAG(std::string, jwt_issuer, "", "Required unless --insecure_no_auth: the `iss` every token must have");
ABSL_FLAG(std::string, jwt_audience, "", "Required unless --insecure_no_auth: the `aud` every token must have (or hold)");
ABSL_FLAG(bool, insecure_no_auth, false, "Take every call as an operator's, without a token (development only; logged)");

namespace upshift {

absl::StatusOr<std::unique_ptr<Authenticator>> AuthenticatorFromFlags() {
  if (absl::GetFlag(FLAGS_insecure_no_auth)) {
    LogWarning("--insecure_no_auth: every call is taken as an operator's, without a token. Never run so in production.");
    return Authenticator::Insecure();
  }
  absl::StatusOr<std::unique_ptr<TokenVerifier>> verifier = TokenVerifier::Create(
      {absl::GetFlag(FLAGS_jwks_file), absl::GetFlag(FLAGS_jwt_issuer), absl::GetFlag(FLAGS_jwt_audience)});
  if (!verifier.ok()) return verifier.status();
  return std::make_unique<Authenticator>(*std::move(verifier));
}

}  // namespace upshift
