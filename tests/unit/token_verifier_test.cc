#include "libs/auth/token_verifier.h"
#include "libs/metrics/metrics.h"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/auth/token_minter.h"

namespace upshift {
namespace {

constexpr char kIssuer[] = "https://idp.example";
constexpr char kAudience[] = "upshift";

class TokenVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("upshift-jwt-", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", getpid());
    std::filesystem::create_directories(dir_);
    absl::StatusOr<TokenKey> key = GenerateTokenKey("k1");
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = *key;
    WriteJwks(key_.jwks_json);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void WriteJwks(const std::string& json) { std::ofstream(dir_ / "jwks.json") << json; }
  std::unique_ptr<TokenVerifier> Verifier() {
    auto v = TokenVerifier::Create({(dir_ / "jwks.json").string(), kIssuer, kAudience});
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : nullptr;
  }
  TokenClaims Claims() {
    return {kIssuer, kAudience, "alice", "acme", {"upgrades.read", "upgrades.test"}, absl::InfinitePast(),
            absl::Now() + absl::Hours(1)};
  }
  std::string Mint(const TokenClaims& claims, const std::string& kid = "k1") {
    absl::StatusOr<std::string> t = MintToken(key_.private_pem, kid, claims);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : "";
  }

  std::filesystem::path dir_;
  TokenKey key_;
};

TEST_F(TokenVerifierTest, AValidTokenGivesItsPrincipal) {
  absl::StatusOr<Principal> p = Verifier()->Verify(Mint(Claims()), absl::Now());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->subject, "alice");
  EXPECT_EQ(p->tenant, "acme");
  EXPECT_EQ(p->granted, (std::set<std::string>{"upgrades.read", "upgrades.test"}));
  EXPECT_TRUE(p->Has("upgrades.test"));
  EXPECT_FALSE(p->Has("upgrades.production"));
}

TEST_F(TokenVerifierTest, EachBadClaimIsUnauthenticatedSayingWhich) {
  auto verifier = Verifier();
  absl::Time now = absl::Now();
  std::vector<std::pair<std::string, std::function<void(TokenClaims&)>>> cases = {
      {"expired", [&](TokenClaims& c) { c.expires_at = now - absl::Minutes(1); }},
      {"not valid yet", [&](TokenClaims& c) { c.not_before = now + absl::Minutes(1); }},
      {"another audience", [](TokenClaims& c) { c.audience = "other"; }},
      {"another issuer", [](TokenClaims& c) { c.issuer = "https://evil.example"; }},
      {"no subject", [](TokenClaims& c) { c.subject = ""; }},
  };
  for (const auto& [says, change] : cases) {
    TokenClaims c = Claims();
    change(c);
    absl::Status s = verifier->Verify(Mint(c), now).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << says;
    EXPECT_TRUE(absl::StrContains(s.message(), says)) << says << ": " << s;
  }
  // Within the leeway, a token just expired still passes (clocks differ a little).
  TokenClaims c = Claims();
  c.expires_at = now - absl::Seconds(10);
  EXPECT_TRUE(verifier->Verify(Mint(c), now).ok());
}

TEST_F(TokenVerifierTest, ForgedAndMalformedTokensAreRefused) {
  auto verifier = Verifier();
  std::string good = Mint(Claims());
  absl::StatusOr<TokenKey> other = GenerateTokenKey("k1");
  ASSERT_TRUE(other.ok());
  absl::StatusOr<std::string> forged = MintToken(other->private_pem, "k1", Claims());
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(verifier->Verify(*forged, absl::Now()).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier->Verify(Mint(Claims(), "unknown-kid"), absl::Now()).status().code(),
            absl::StatusCode::kUnauthenticated);
  std::string tampered = good;
  tampered[good.find('.') + 5] ^= 1;  // a flipped bit in the claims
  EXPECT_EQ(verifier->Verify(tampered, absl::Now()).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier->Verify("", absl::Now()).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier->Verify("a.b.c", absl::Now()).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier->Verify(std::string(9000, 'a'), absl::Now()).status().code(), absl::StatusCode::kUnauthenticated);
}

// The classic confusion: an HS256 token whose HMAC key is the server's public key.
TEST_F(TokenVerifierTest, AnHmacTokenKeyedWithThePublicKeyIsRefused) {
  jwt_t* raw = nullptr;
  ASSERT_EQ(jwt_new(&raw), 0);
  std::unique_ptr<jwt_t, decltype(&jwt_free)> jwt(raw, jwt_free);
  jwt_add_header(jwt.get(), "kid", "k1");
  jwt_add_grant(jwt.get(), "iss", kIssuer);
  jwt_add_grant(jwt.get(), "aud", kAudience);
  jwt_add_grant(jwt.get(), "sub", "mallory");
  jwt_add_grant_int(jwt.get(), "exp", absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  const std::string secret = key_.jwks_json;
  jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  std::unique_ptr<char, decltype(&free)> token(jwt_encode_str(jwt.get()), free);
  absl::Status s = Verifier()->Verify(token.get(), absl::Now()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(s.message(), "RS256 or ES256")) << s;
}

TEST_F(TokenVerifierTest, AnRs256KeyOfTheJwksVerifiesItsTokens) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}),
                                                          EVP_PKEY_free);
  ASSERT_NE(rsa, nullptr);
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(rsa.get(), OSSL_PKEY_PARAM_RSA_N, &n), 1);
  ASSERT_EQ(EVP_PKEY_get_bn_param(rsa.get(), OSSL_PKEY_PARAM_RSA_E, &e), 1);
  auto b64 = [](BIGNUM* bn) {
    std::string bytes(BN_num_bytes(bn), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return absl::WebSafeBase64Escape(bytes);
  };
  WriteJwks(absl::StrCat(R"({"keys":[{"kty":"RSA","kid":"r1","alg":"RS256","use":"sig","n":")", b64(n), R"(","e":")",
                         b64(e), R"("}]})"));
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), rsa.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  jwt_t* raw = nullptr;
  ASSERT_EQ(jwt_new(&raw), 0);
  std::unique_ptr<jwt_t, decltype(&jwt_free)> jwt(raw, jwt_free);
  jwt_add_header(jwt.get(), "kid", "r1");
  jwt_add_grant(jwt.get(), "iss", kIssuer);
  jwt_add_grants_json(jwt.get(), R"({"aud":["other","upshift"]})");  // a list holding the audience
  jwt_add_grant(jwt.get(), "sub", "bob");
  jwt_add_grant_int(jwt.get(), "exp", absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  ASSERT_EQ(jwt_set_alg(jwt.get(), JWT_ALG_RS256, reinterpret_cast<const unsigned char*>(data), size), 0);
  std::unique_ptr<char, decltype(&free)> token(jwt_encode_str(jwt.get()), free);
  absl::StatusOr<Principal> p = Verifier()->Verify(token.get(), absl::Now());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->subject, "bob");
}

TEST_F(TokenVerifierTest, ARotatedJwksIsReadAgain) {
  auto verifier = Verifier();
  absl::StatusOr<TokenKey> next = GenerateTokenKey("k2");
  ASSERT_TRUE(next.ok());
  absl::StatusOr<std::string> token = MintToken(next->private_pem, "k2", Claims());
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(verifier->Verify(*token, absl::Now()).status().code(), absl::StatusCode::kUnauthenticated);
  WriteJwks(next->jwks_json);
  // The file is looked at again some seconds later: a verification a minute on sees the new key.
  EXPECT_TRUE(verifier->Verify(*token, absl::Now() + absl::Minutes(1)).ok());
}

TEST_F(TokenVerifierTest, ARememberedTokenStillExpiresAndAKeyTakenOutOfTheJwksEndsIt) {
  auto verifier = Verifier();
  const absl::Time now = absl::Now();
  TokenClaims c = Claims();
  c.expires_at = now + absl::Minutes(10);
  const std::string token = Mint(c);
  ASSERT_TRUE(verifier->Verify(token, now).ok());
  absl::StatusOr<Principal> again = verifier->Verify(token, now + absl::Seconds(1));  // remembered
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->subject, "alice");
  EXPECT_EQ(verifier->Verify(token, now + absl::Minutes(11)).status().code(), absl::StatusCode::kUnauthenticated);
  // The identity provider rotates its key away: the token's key is gone, and so is the token.
  auto rotated = Verifier();
  ASSERT_TRUE(rotated->Verify(token, now).ok());
  absl::StatusOr<TokenKey> next = GenerateTokenKey("k2");
  ASSERT_TRUE(next.ok());
  WriteJwks(next->jwks_json);
  EXPECT_EQ(rotated->Verify(token, now + absl::Minutes(1)).status().code(), absl::StatusCode::kUnauthenticated);
}

// Issue 20: an identity provider's JWKS may carry keys of kinds we do not take beside ours.
TEST_F(TokenVerifierTest, KeysOfKindsWeDoNotTakeArePassedOverAndTheOthersServe) {
  const size_t open = key_.jwks_json.find('[');
  ASSERT_NE(open, std::string::npos);
  WriteJwks(absl::StrCat(key_.jwks_json.substr(0, open + 1),
                         R"({"kty":"EC","crv":"P-384","kid":"p384","x":"AAAA","y":"AAAA"},)",
                         R"({"kty":"oct","kid":"hmac","k":"c2VjcmV0"},)",
                         R"({"kty":"OKP","crv":"Ed25519","kid":"ed","x":"AAAA"},)", key_.jwks_json.substr(open + 1)));
  auto verifier = Verifier();
  ASSERT_NE(verifier, nullptr);
  EXPECT_TRUE(verifier->Verify(Mint(Claims()), absl::Now()).ok());
  EXPECT_EQ(verifier->Verify(Mint(Claims(), "hmac"), absl::Now()).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(TokenVerifierTest, AChangedJwksThatCannotBeUsedKeepsThePreviousKeysAndIsCounted) {
  auto verifier = Verifier();
  auto failures = [] {
    const std::string text = metrics::Default().Expose();
    const std::string name = "upshift_jwks_reload_failures_total ";
    size_t at = text.find("\n" + name);
    return at == std::string::npos ? std::string("0") : text.substr(at + 1 + name.size(), text.find('\n', at + 1) - at - 1 - name.size());
  };
  const std::string before = failures();
  WriteJwks("not json");
  const std::string token = Mint(Claims());
  // Looked at again a minute on: unusable, so the keys stay, and it is counted once.
  EXPECT_TRUE(verifier->Verify(token, absl::Now() + absl::Minutes(1)).ok());
  EXPECT_TRUE(verifier->Verify(token, absl::Now() + absl::Minutes(2)).ok());
  EXPECT_EQ(std::stod(failures()), std::stod(before) + 1);
}

TEST_F(TokenVerifierTest, ABadJwksOrMissingSettingsAreRefusedAtStart) {
  EXPECT_EQ(TokenVerifier::Create({"", kIssuer, kAudience}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenVerifier::Create({(dir_ / "jwks.json").string(), "", kAudience}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenVerifier::Create({(dir_ / "none.json").string(), kIssuer, kAudience}).status().code(),
            absl::StatusCode::kNotFound);
  WriteJwks("{\"keys\": []}");
  EXPECT_EQ(TokenVerifier::Create({(dir_ / "jwks.json").string(), kIssuer, kAudience}).status().code(),
            absl::StatusCode::kInvalidArgument);
  WriteJwks("not json");
  EXPECT_EQ(TokenVerifier::Create({(dir_ / "jwks.json").string(), kIssuer, kAudience}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BearerToken, OnlyABearerHeaderCarriesAToken) {
  EXPECT_EQ(*BearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(BearerToken("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(BearerToken("Basic dXNlcjpwYXNz").status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace upshift
