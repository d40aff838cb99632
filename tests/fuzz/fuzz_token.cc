// libFuzzer target: a bearer token as request and status check it, against a JWKS of a key made
// at start. Nothing the fuzzer makes can carry that key's signature, so nothing may pass.

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "libs/auth/token_minter.h"
#include "libs/auth/token_verifier.h"

namespace {

const upshift::TokenVerifier* verifier = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  absl::StatusOr<upshift::TokenKey> key = upshift::GenerateTokenKey("fuzz-key");
  if (!key.ok()) std::abort();
  const std::string jwks = std::filesystem::temp_directory_path() / ("upshift-fuzz-jwks-" + std::to_string(getpid()));
  std::ofstream(jwks) << key->jwks_json;
  absl::StatusOr<std::unique_ptr<upshift::TokenVerifier>> made =
      upshift::TokenVerifier::Create({jwks, "https://idp.fuzz", "upshift"});
  if (!made.ok()) std::abort();
  verifier = made->release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string token(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<upshift::Principal> principal = verifier->Verify(token, absl::Now());
  if (principal.ok()) std::abort();  // a token not signed with the key was accepted
  if (principal.status().code() != absl::StatusCode::kUnauthenticated) std::abort();
  return 0;
}
