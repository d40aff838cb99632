#ifndef UPSHIFT_LIBS_AUTH_TOKEN_VERIFIER_H_
#define UPSHIFT_LIBS_AUTH_TOKEN_VERIFIER_H_

// Bearer tokens: JWTs (RFC 7519) signed with RS256 or ES256 by the operator's identity provider,
// checked against a JWKS file (the provider's public keys), its issuer, audience and validity
// period. Decoding and the signature check are libjwt's (Debian's libjwt); the key set is read
// with protobuf's JSON parser and turned into keys with OpenSSL.

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/auth/principal.h"

namespace upshift {

struct TokenOptions {
  std::string jwks_file;  // the identity provider's public keys (JWKS); read again when it changes
  std::string issuer;     // `iss` must equal it
  std::string audience;   // `aud` must be it, or a list holding it
  absl::Duration leeway = absl::Seconds(30);  // clock skew allowed on `exp` and `nbf`
};

// Thread-safe.
class TokenVerifier {
 public:
  // NOT_FOUND / INVALID_ARGUMENT: the JWKS file cannot be read or holds no usable key; INVALID_ARGUMENT
  // when the issuer or audience is empty.
  static absl::StatusOr<std::unique_ptr<TokenVerifier>> Create(TokenOptions options);
  ~TokenVerifier();

  // The principal of a valid token (the value of an `authorization: Bearer <token>` header, without
  // "Bearer "). UNAUTHENTICATED saying what is wrong: malformed, an algorithm other than RS256 or
  // ES256, an unknown key id, a bad signature, another issuer or audience, expired, not yet valid,
  // no `exp` or `sub`.
  absl::StatusOr<Principal> Verify(absl::string_view token, absl::Time now) const;

  struct Keys;

 private:
  explicit TokenVerifier(TokenOptions options);
  // The key set, read again from the file when its modification time changed (looked at most every
  // few seconds).
  std::shared_ptr<const Keys> CurrentKeys(absl::Time now) const;
  struct Verified;
  // Checks `token` with `keys` (the header, the signature, the claims).
  absl::StatusOr<Verified> VerifyAnew(const std::string& token, const std::shared_ptr<const Keys>& keys,
                                      absl::Time now) const;

  // A token verified with the current keys, remembered until it expires: a caller's next calls cost
  // a lookup instead of a signature check. Keys read anew invalidate it.
  struct Verified {
    Principal principal;
    absl::Time expires_at;
    std::shared_ptr<const Keys> keys;
  };

  const TokenOptions options_;
  mutable absl::Mutex cache_mu_;
  mutable std::map<std::string, Verified> verified_ ABSL_GUARDED_BY(cache_mu_);
  mutable absl::Mutex mu_;
  mutable std::shared_ptr<const Keys> keys_ ABSL_GUARDED_BY(mu_);
  mutable absl::Time checked_at_ ABSL_GUARDED_BY(mu_);
  mutable int64_t file_time_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int64_t failed_time_ ABSL_GUARDED_BY(mu_) = 0;  // the version last found unusable
};

// Reads the bearer token of a call from its `authorization` metadata value. UNAUTHENTICATED when
// there is none or it is not "Bearer <token>".
absl::StatusOr<std::string> BearerToken(absl::string_view authorization);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_AUTH_TOKEN_VERIFIER_H_
