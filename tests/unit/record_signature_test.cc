#include "libs/security/record_signature.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace upshift {
namespace {

class RecordSignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("upshift-sig-", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", getpid());
    std::filesystem::create_directories(dir_ / "trusted");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A new key pair for `service`: its private key file, and its public key appended to trusted/.
  std::string Provision(const std::string& service) {
    auto pair = GenerateSigningKey();
    EXPECT_TRUE(pair.ok()) << pair.status();
    std::string key = (dir_ / absl::StrCat(service, "-", ++keys_, ".key")).string();
    std::ofstream(key) << pair->first;
    std::ofstream(dir_ / "trusted" / absl::StrCat(service, ".pem"), std::ios::app) << pair->second;
    return key;
  }
  std::shared_ptr<const RecordSigner> Signer(const std::string& service, const std::string& key) {
    auto signer = RecordSigner::FromPemFile(service, key);
    EXPECT_TRUE(signer.ok()) << signer.status();
    return *signer;
  }
  std::shared_ptr<const RecordVerifier> Verifier() {
    auto verifier = RecordVerifier::FromDirectory((dir_ / "trusted").string());
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    return *verifier;
  }

  std::filesystem::path dir_;
  int keys_ = 0;
};

TEST_F(RecordSignatureTest, ASignatureHoldsForItsTopicKeyAndPayloadOnly) {
  auto cloner = Signer("cloner", Provision("cloner"));
  auto verifier = Verifier();
  std::string sig = cloner->Sign("upgrade.events", "acme", "payload");
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_TRUE(verifier->Verify("upgrade.events", "acme", "payload", "cloner", sig, {"cloner"}).ok());
  for (auto [topic, key, payload] : {std::tuple{"upgrade.orders", "acme", "payload"},
                                     std::tuple{"upgrade.events", "globex", "payload"},
                                     std::tuple{"upgrade.events", "acme", "payloae"},
                                     // The parts' boundaries are signed too.
                                     std::tuple{"upgrade.events", "acmep", "ayload"}}) {
    absl::Status s = verifier->Verify(topic, key, payload, "cloner", sig, {});
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << topic << " " << key << " " << payload;
  }
}

TEST_F(RecordSignatureTest, UnsignedUnknownAndUnallowedSignersAreRefusedSayingWhich) {
  auto cloner = Signer("cloner", Provision("cloner"));
  auto verifier = Verifier();
  std::string sig = cloner->Sign("t", "k", "p");
  absl::Status unsigned_record = verifier->Verify("t", "k", "p", "", "", {});
  EXPECT_EQ(unsigned_record.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(unsigned_record.message(), "not signed")) << unsigned_record;
  absl::Status unallowed = verifier->Verify("upgrade.orders", "k", "p", "cloner", sig, {"request"});
  EXPECT_EQ(unallowed.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(unallowed.message(), "signed by request, not by \"cloner\"")) << unallowed;
  absl::Status unknown = verifier->Verify("t", "k", "p", "migrator", sig, {});
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(unknown.message(), "not trusted")) << unknown;
}

TEST_F(RecordSignatureTest, AKeyOfAnotherServiceDoesNotPassForIt) {
  Provision("cloner");
  auto migrator = Signer("cloner", Provision("migrator"));  // the migrator's key, claiming to be the cloner
  EXPECT_EQ(Verifier()->Verify("t", "k", "p", "cloner", migrator->Sign("t", "k", "p"), {}).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(RecordSignatureTest, BothKeysOfARotationAreTrustedWhileBothAreListed) {
  auto old_key = Signer("request", Provision("request"));
  auto new_key = Signer("request", Provision("request"));  // appended to trusted/request.pem
  auto verifier = Verifier();
  EXPECT_TRUE(verifier->Verify("t", "k", "p", "request", old_key->Sign("t", "k", "p"), {}).ok());
  EXPECT_TRUE(verifier->Verify("t", "k", "p", "request", new_key->Sign("t", "k", "p"), {}).ok());
}

TEST_F(RecordSignatureTest, KeyFilesThatAreMissingOrNotKeysAreRefused) {
  EXPECT_EQ(RecordSigner::FromPemFile("x", (dir_ / "none.key").string()).status().code(), absl::StatusCode::kNotFound);
  std::ofstream(dir_ / "junk.key") << "not a key";
  EXPECT_EQ(RecordSigner::FromPemFile("x", (dir_ / "junk.key").string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RecordVerifier::FromDirectory((dir_ / "nowhere").string()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(RecordVerifier::FromDirectory((dir_ / "trusted").string()).status().code(),
            absl::StatusCode::kInvalidArgument);  // empty
  std::ofstream(dir_ / "trusted" / "cloner.pem") << "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n";
  EXPECT_EQ(RecordVerifier::FromDirectory((dir_ / "trusted").string()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace upshift
