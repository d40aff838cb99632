// devtoken: an identity provider for the local stack and the demo. It makes a signing key and the
// JWKS that request and status check tokens against, and mints tokens with it. Production tokens
// come from the operator's identity provider (any that issues RS256 or ES256 JWTs and publishes a
// JWKS), never from this.
//
//   devtoken keys DIR                    # DIR/signing.pem (private) and DIR/jwks.json (public)
//   devtoken mint DIR --subject=S [--tenant=T] [--scopes=a,b] [--ttl=12h] [--issuer=I] [--audience=A]
//
// Exit codes: 0 done, 2 usage or an error (said on stderr).

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "libs/auth/token_minter.h"

ABSL_FLAG(std::string, kid, "local-1", "keys: the key id");
ABSL_FLAG(std::string, subject, "", "mint: the token's sub");
ABSL_FLAG(std::string, tenant, "", "mint: the token's tenant");
ABSL_FLAG(std::vector<std::string>, scopes, {}, "mint: its scopes, e.g. upgrades.read,upgrades.test");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(12), "mint: how long it is valid");
ABSL_FLAG(std::string, issuer, "https://idp.upshift.local", "mint: its iss");
ABSL_FLAG(std::string, audience, "upshift", "mint: its aud");

int main(int argc, char** argv) {
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 3 || (std::string(args[1]) != "keys" && std::string(args[1]) != "mint")) {
    std::cerr << "usage: devtoken keys DIR | devtoken mint DIR --subject=S [--tenant=T] [--scopes=a,b] [--ttl=12h]\n";
    return 2;
  }
  const std::string dir = args[2];
  if (std::string(args[1]) == "keys") {
    absl::StatusOr<upshift::TokenKey> key = upshift::GenerateTokenKey(absl::GetFlag(FLAGS_kid));
    if (!key.ok()) {
      std::cerr << "devtoken: " << key.status() << "\n";
      return 2;
    }
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/signing.pem") << key->private_pem;
    std::filesystem::permissions(dir + "/signing.pem",
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::ofstream(dir + "/jwks.json") << key->jwks_json;
    std::ofstream(dir + "/kid") << absl::GetFlag(FLAGS_kid);
    return 0;
  }
  std::ifstream pem_in(dir + "/signing.pem"), kid_in(dir + "/kid");
  if (!pem_in || !kid_in || absl::GetFlag(FLAGS_subject).empty()) {
    std::cerr << "devtoken: mint needs DIR made by `devtoken keys DIR`, and --subject\n";
    return 2;
  }
  std::stringstream pem, kid;
  pem << pem_in.rdbuf();
  kid << kid_in.rdbuf();
  upshift::TokenClaims claims{absl::GetFlag(FLAGS_issuer),  absl::GetFlag(FLAGS_audience),
                              absl::GetFlag(FLAGS_subject), absl::GetFlag(FLAGS_tenant),
                              absl::GetFlag(FLAGS_scopes),  absl::InfinitePast(),
                              absl::Now() + absl::GetFlag(FLAGS_ttl)};
  absl::StatusOr<std::string> token = upshift::MintToken(pem.str(), kid.str(), claims);
  if (!token.ok()) {
    std::cerr << "devtoken: " << token.status() << "\n";
    return 2;
  }
  std::cout << *token << "\n";
  return 0;
}
