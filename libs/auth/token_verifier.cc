#include "libs/auth/token_verifier.h"

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "auth/jwks.pb.h"
#include "libs/common/logging.h"
#include "libs/metrics/metrics.h"

namespace upshift {
namespace {

// Longer than any token an identity provider issues; a bound on what a caller makes us parse.
constexpr size_t kMaxTokenBytes = 8192;
// Verified tokens remembered at most (a busy frontend's callers); past it, the expired go first.
constexpr size_t kMaxRemembered = 4096;
// How often the JWKS file's modification time is looked at.
constexpr absl::Duration kJwksCheckInterval = absl::Seconds(5);

struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using Jwt = std::unique_ptr<jwt_t, JwtFree>;

struct Key {
  jwt_alg_t alg;
  std::string pem;  // the public key, as libjwt takes it
};

absl::StatusOr<std::string> Base64Url(const std::string& field, const std::string& value) {
  std::string out;
  if (value.empty() || !absl::WebSafeBase64Unescape(value, &out)) {
    return absl::InvalidArgumentError(absl::StrCat("JWK field ", field, " is not base64url"));
  }
  return out;
}

// The public key of `jwk` in PEM, from its parameters, and the algorithm it signs with.
absl::StatusOr<Key> KeyOf(const auth::Jwk& jwk) {
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> build(OSSL_PARAM_BLD_new(), OSSL_PARAM_BLD_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> n(nullptr, BN_free), e(nullptr, BN_free);
  std::string point;
  Key key;
  const char* type = nullptr;
  if (jwk.kty() == "RSA") {
    absl::StatusOr<std::string> n_bytes = Base64Url("n", jwk.n());
    absl::StatusOr<std::string> e_bytes = Base64Url("e", jwk.e());
    if (!n_bytes.ok()) return n_bytes.status();
    if (!e_bytes.ok()) return e_bytes.status();
    n.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_bytes->data()), static_cast<int>(n_bytes->size()), nullptr));
    e.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(e_bytes->data()), static_cast<int>(e_bytes->size()), nullptr));
    if (BN_num_bits(n.get()) < 2048) return absl::InvalidArgumentError("RSA keys need at least 2048 bits");
    OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
    OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
    key.alg = JWT_ALG_RS256;
    type = "RSA";
  } else if (jwk.kty() == "EC" && jwk.crv() == "P-256") {
    absl::StatusOr<std::string> x = Base64Url("x", jwk.x());
    absl::StatusOr<std::string> y = Base64Url("y", jwk.y());
    if (!x.ok()) return x.status();
    if (!y.ok()) return y.status();
    if (x->size() != 32 || y->size() != 32) return absl::InvalidArgumentError("a P-256 point has 32-byte coordinates");
    point = absl::StrCat(std::string(1, '\x04'), *x, *y);  // uncompressed
    OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    key.alg = JWT_ALG_ES256;
    type = "EC";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("JWK type ", jwk.kty(), " ", jwk.crv(), " is not RSA or EC P-256"));
  }
  if (!jwk.alg().empty() && jwk.alg() != jwt_alg_str(key.alg)) {
    return absl::InvalidArgumentError(absl::StrCat("JWK ", jwk.kid(), " of type ", jwk.kty(), " cannot sign ", jwk.alg()));
  }
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(build.get()), OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr),
                                                                  EVP_PKEY_CTX_free);
  EVP_PKEY* made = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &made, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("JWK ", jwk.kid(), " is not a valid public key"));
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(made, EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), pkey.get());
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  key.pem.assign(data, size);
  return key;
}

int64_t ModificationTime(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

absl::Status Unauthenticated(absl::string_view why) { return absl::UnauthenticatedError(absl::StrCat("token: ", why)); }

}  // namespace

struct TokenVerifier::Keys {
  std::map<std::string, Key> by_kid;
};

namespace {

absl::StatusOr<std::shared_ptr<const TokenVerifier::Keys>> ReadKeys(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the JWKS file ", path));
  std::stringstream text;
  text << in.rdbuf();
  auth::Jwks jwks;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &jwks, parse).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a JWKS (JSON with \"keys\")"));
  }
  auto keys = std::make_shared<TokenVerifier::Keys>();
  int skipped = 0;
  for (const auth::Jwk& jwk : jwks.keys()) {
    if (!jwk.use().empty() && jwk.use() != "sig") continue;
    absl::StatusOr<Key> key = KeyOf(jwk);
    if (!key.ok()) {
      // An identity provider publishes keys of kinds we do not take (EC P-384, OKP, oct, small
      // RSA) beside ours: those are passed over, and tokens they signed are refused.
      LogWarning(absl::StrCat("JWKS ", path, ": key \"", jwk.kid(), "\" passed over: ", key.status().message()));
      ++skipped;
      continue;
    }
    keys->by_kid[jwk.kid()] = *std::move(key);
  }
  if (keys->by_kid.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds no signing key we accept (", skipped, " passed over)"));
  }
  return std::shared_ptr<const TokenVerifier::Keys>(std::move(keys));
}

// Whether `aud`, a JSON array of strings (libjwt's, freed here), holds `audience`.
bool ListHolds(char* json, const std::string& audience) {
  std::unique_ptr<char, decltype(&free)> owned(json, free);
  google::protobuf::ListValue list;
  if (json == nullptr || !google::protobuf::util::JsonStringToMessage(json, &list).ok()) return false;
  for (const google::protobuf::Value& v : list.values()) {
    if (v.kind_case() == google::protobuf::Value::kStringValue && v.string_value() == audience) return true;
  }
  return false;
}

}  // namespace

TokenVerifier::TokenVerifier(TokenOptions options) : options_(std::move(options)) {}
TokenVerifier::~TokenVerifier() = default;

absl::StatusOr<std::unique_ptr<TokenVerifier>> TokenVerifier::Create(TokenOptions options) {
  if (options.jwks_file.empty()) {
    return absl::InvalidArgumentError("tokens are checked against a JWKS file (--jwks_file), or --insecure_no_auth");
  }
  if (options.issuer.empty() || options.audience.empty()) {
    return absl::InvalidArgumentError("tokens need an issuer (--jwt_issuer) and an audience (--jwt_audience)");
  }
  absl::StatusOr<std::shared_ptr<const Keys>> keys = ReadKeys(options.jwks_file);
  if (!keys.ok()) return keys.status();
  std::unique_ptr<TokenVerifier> verifier(new TokenVerifier(std::move(options)));
  absl::MutexLock lock(&verifier->mu_);
  verifier->keys_ = *std::move(keys);
  verifier->file_time_ = ModificationTime(verifier->options_.jwks_file);
  verifier->checked_at_ = absl::Now();
  return verifier;
}

std::shared_ptr<const TokenVerifier::Keys> TokenVerifier::CurrentKeys(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  if (now - checked_at_ >= kJwksCheckInterval) {
    checked_at_ = now;
    int64_t file_time = ModificationTime(options_.jwks_file);
    if (file_time != file_time_) {
      // A file being rewritten may not parse yet: the keys stay as they were until it does. One
      // that stays unreadable is said once per version of it, and counted: the keys it meant to
      // replace (a compromised one, maybe) are still trusted meanwhile.
      absl::StatusOr<std::shared_ptr<const Keys>> read = ReadKeys(options_.jwks_file);
      if (read.ok()) {
        keys_ = *std::move(read);
        file_time_ = file_time;
      } else if (file_time != failed_time_) {
        failed_time_ = file_time;
        static metrics::Family& failures = metrics::Default().Counter(
            "upshift_jwks_reload_failures_total",
            "Changed JWKS files that could not be read: the previous keys stay in use", {});
        failures.Increment({});
        LogError(absl::StrCat("the JWKS file changed but cannot be used, the previous keys stay in use: ",
                              read.status().message()));
      }
    }
  }
  return keys_;
}

absl::StatusOr<Principal> TokenVerifier::Verify(absl::string_view token, absl::Time now) const {
  if (token.empty()) return Unauthenticated("none given");
  if (token.size() > kMaxTokenBytes) return Unauthenticated("longer than 8 KiB");
  const std::string text(token);
  std::shared_ptr<const Keys> keys = CurrentKeys(now);
  {
    absl::MutexLock lock(&cache_mu_);
    auto hit = verified_.find(text);
    if (hit != verified_.end() && hit->second.keys == keys) {
      if (hit->second.expires_at + options_.leeway <= now) return Unauthenticated("expired");
      return hit->second.principal;
    }
  }
  absl::StatusOr<Verified> verified = VerifyAnew(text, keys, now);
  if (!verified.ok()) return verified.status();
  absl::MutexLock lock(&cache_mu_);
  if (verified_.size() >= kMaxRemembered) {
    for (auto it = verified_.begin(); it != verified_.end();) {
      it = it->second.expires_at + options_.leeway <= now || it->second.keys != keys ? verified_.erase(it) : std::next(it);
    }
    if (verified_.size() >= kMaxRemembered) verified_.clear();
  }
  verified_[text] = *verified;
  return verified->principal;
}

absl::StatusOr<TokenVerifier::Verified> TokenVerifier::VerifyAnew(const std::string& text,
                                                                  const std::shared_ptr<const Keys>& keys,
                                                                  absl::Time now) const {
  // The header alone, read without checking anything, chooses the key; then the token is checked with it.
  std::string header_json;
  const size_t dot = text.find('.');
  if (dot == std::string::npos || !absl::WebSafeBase64Unescape(text.substr(0, dot), &header_json)) {
    return Unauthenticated("malformed");
  }
  google::protobuf::Struct header;
  if (!google::protobuf::util::JsonStringToMessage(header_json, &header).ok()) return Unauthenticated("malformed");
  auto field = [&](const char* name) -> std::optional<std::string> {
    auto f = header.fields().find(name);
    if (f == header.fields().end() || f->second.kind_case() != google::protobuf::Value::kStringValue) return std::nullopt;
    return f->second.string_value();
  };
  const std::optional<std::string> alg_name = field("alg");
  const jwt_alg_t alg = alg_name.has_value() ? jwt_str_alg(alg_name->c_str()) : JWT_ALG_INVAL;
  if (alg != JWT_ALG_RS256 && alg != JWT_ALG_ES256) {
    return Unauthenticated("signed with an algorithm other than RS256 or ES256");
  }
  const std::optional<std::string> kid = field("kid");
  auto it = kid.has_value() ? keys->by_kid.find(*kid)
                            : (keys->by_kid.size() == 1 ? keys->by_kid.begin() : keys->by_kid.end());
  if (it == keys->by_kid.end()) return Unauthenticated("signed with a key the JWKS does not hold");
  if (it->second.alg != alg) return Unauthenticated("its algorithm does not match its key");
  jwt_t* raw = nullptr;
  const Key& key = it->second;
  if (jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key.pem.data()),
                 static_cast<int>(key.pem.size())) != 0) {
    return Unauthenticated("the signature does not match");
  }
  Jwt jwt(raw);
  const char* iss = jwt_get_grant(jwt.get(), "iss");
  if (iss == nullptr || options_.issuer != iss) return Unauthenticated("issued by another issuer");
  const char* aud = jwt_get_grant(jwt.get(), "aud");
  if (aud != nullptr ? options_.audience != aud : !ListHolds(jwt_get_grants_json(jwt.get(), "aud"), options_.audience)) {
    return Unauthenticated("meant for another audience");
  }
  errno = 0;
  long exp = jwt_get_grant_int(jwt.get(), "exp");
  if (errno == ENOENT) return Unauthenticated("has no expiry (exp)");
  if (absl::FromUnixSeconds(exp) + options_.leeway <= now) return Unauthenticated("expired");
  errno = 0;
  long nbf = jwt_get_grant_int(jwt.get(), "nbf");
  if (errno != ENOENT && absl::FromUnixSeconds(nbf) - options_.leeway > now) return Unauthenticated("not valid yet");
  Principal principal;
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  if (sub == nullptr || *sub == '\0') return Unauthenticated("has no subject (sub)");
  principal.subject = sub;
  if (const char* tenant = jwt_get_grant(jwt.get(), "tenant")) principal.tenant = tenant;
  if (const char* scope = jwt_get_grant(jwt.get(), "scope")) {
    for (absl::string_view s : absl::StrSplit(scope, ' ', absl::SkipEmpty())) principal.granted.emplace(s);
  }
  return Verified{std::move(principal), absl::FromUnixSeconds(exp), keys};
}

absl::StatusOr<std::string> BearerToken(absl::string_view authorization) {
  if (authorization.empty()) return Unauthenticated("none given (authorization: Bearer <token>)");
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(authorization, kBearer)) return Unauthenticated("not a Bearer token");
  return std::string(authorization.substr(kBearer.size()));
}

}  // namespace upshift
