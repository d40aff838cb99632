#include "libs/auth/token_minter.h"

#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <google/protobuf/util/json_util.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "auth/jwks.pb.h"

namespace upshift {

absl::StatusOr<TokenKey> GenerateTokenKey(const std::string& kid) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                                          EVP_PKEY_free);
  if (key == nullptr) return absl::InternalError("OpenSSL could not make a P-256 key");
  unsigned char point[65];
  size_t size = 0;
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &size) != 1 ||
      size != sizeof(point)) {
    return absl::InternalError("OpenSSL did not give the public point");
  }
  auth::Jwks jwks;
  auth::Jwk* jwk = jwks.add_keys();
  jwk->set_kty("EC");
  jwk->set_crv("P-256");
  jwk->set_kid(kid);
  jwk->set_alg("ES256");
  jwk->set_use("sig");
  jwk->set_x(absl::WebSafeBase64Escape(std::string(reinterpret_cast<char*>(point + 1), 32)));
  jwk->set_y(absl::WebSafeBase64Escape(std::string(reinterpret_cast<char*>(point + 33), 32)));
  TokenKey out;
  if (!google::protobuf::util::MessageToJsonString(jwks, &out.jwks_json).ok()) {
    return absl::InternalError("cannot write the JWKS");
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  out.private_pem.assign(data, length);
  return out;
}

absl::StatusOr<std::string> MintToken(const std::string& private_pem, const std::string& kid,
                                      const TokenClaims& claims) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::InternalError("libjwt could not make a token");
  std::unique_ptr<jwt_t, decltype(&jwt_free)> jwt(raw, jwt_free);
  jwt_add_header(jwt.get(), "kid", kid.c_str());
  jwt_add_grant(jwt.get(), "iss", claims.issuer.c_str());
  jwt_add_grant(jwt.get(), "aud", claims.audience.c_str());
  jwt_add_grant(jwt.get(), "sub", claims.subject.c_str());
  if (!claims.tenant.empty()) jwt_add_grant(jwt.get(), "tenant", claims.tenant.c_str());
  jwt_add_grant(jwt.get(), "scope", absl::StrJoin(claims.scopes, " ").c_str());
  jwt_add_grant_int(jwt.get(), "exp", absl::ToUnixSeconds(claims.expires_at));
  if (claims.not_before != absl::InfinitePast()) {
    jwt_add_grant_int(jwt.get(), "nbf", absl::ToUnixSeconds(claims.not_before));
  }
  if (jwt_set_alg(jwt.get(), JWT_ALG_ES256, reinterpret_cast<const unsigned char*>(private_pem.data()),
                  static_cast<int>(private_pem.size())) != 0) {
    return absl::InvalidArgumentError("not an EC private key in PEM");
  }
  std::unique_ptr<char, decltype(&free)> token(jwt_encode_str(jwt.get()), free);
  if (token == nullptr) return absl::InternalError("libjwt could not sign the token");
  return std::string(token.get());
}

}  // namespace upshift
