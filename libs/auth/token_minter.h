#ifndef UPSHIFT_LIBS_AUTH_TOKEN_MINTER_H_
#define UPSHIFT_LIBS_AUTH_TOKEN_MINTER_H_

// Issues tokens as an identity provider would, for the local stack (tools/devtoken) and the tests.
// Production tokens come from the operator's identity provider, never from this.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift {

// A new ES256 signing key: its private key in PEM, and the JWKS (JSON) that publishes its public key
// under `kid`.
struct TokenKey {
  std::string private_pem;
  std::string jwks_json;
};
absl::StatusOr<TokenKey> GenerateTokenKey(const std::string& kid);

struct TokenClaims {
  std::string issuer, audience, subject, tenant;  // tenant: left out when empty
  std::vector<std::string> scopes;
  absl::Time not_before = absl::InfinitePast();  // left out when infinite
  absl::Time expires_at;
};

// A JWT with `claims`, signed ES256 with `private_pem` under `kid`.
absl::StatusOr<std::string> MintToken(const std::string& private_pem, const std::string& kid,
                                      const TokenClaims& claims);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_AUTH_TOKEN_MINTER_H_
