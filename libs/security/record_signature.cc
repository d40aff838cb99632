#include "libs/security/record_signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace upshift {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

constexpr size_t kSignatureSize = 64;

// What is signed: a version tag, then each part with its length, so that no two records share it.
std::string SignedBytes(absl::string_view topic, absl::string_view key, absl::string_view payload) {
  std::string out = "upshift-record-v1";
  for (absl::string_view part : {topic, key, payload}) {
    absl::StrAppend(&out, "|", part.size(), ":", part);
  }
  return out;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string PemOf(EVP_PKEY* key, bool private_key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (private_key) {
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio.get(), key);
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size);
}

// A service's Ed25519 private key.
class Ed25519Signer final : public RecordSigner {
 public:
  Ed25519Signer(std::string signer, Pkey key) : signer_(std::move(signer)), key_(std::move(key)) {}
  const std::string& signer() const override { return signer_; }
  std::string Sign(absl::string_view topic, absl::string_view key, absl::string_view payload) const override;

 private:
  std::string signer_;
  Pkey key_;
};

}  // namespace

struct RecordVerifier::Keys {
  std::map<std::string, std::vector<Pkey>, std::less<>> by_signer;
};

absl::StatusOr<std::shared_ptr<const RecordSigner>> RecordSigner::FromPemFile(std::string signer,
                                                                             const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) return pem.status();
  Bio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds no Ed25519 private key in PEM"));
  }
  return std::make_shared<const Ed25519Signer>(std::move(signer), std::move(key));
}

std::string Ed25519Signer::Sign(absl::string_view topic, absl::string_view key, absl::string_view payload) const {
  std::string message = SignedBytes(topic, key, payload);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::string signature(kSignatureSize, '\0');
  size_t size = signature.size();
  // Ed25519 hashes the message itself: no digest is given.
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return "";  // cannot happen with a valid key; an empty signature is refused by every consumer
  }
  signature.resize(size);
  return signature;
}

RecordVerifier::RecordVerifier(std::unique_ptr<Keys> keys) : keys_(std::move(keys)) {}
RecordVerifier::~RecordVerifier() = default;

absl::StatusOr<std::shared_ptr<const RecordVerifier>> RecordVerifier::FromDirectory(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) return absl::NotFoundError(absl::StrCat("no directory ", dir));
  auto keys = std::make_unique<Keys>();
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::filesystem::path& path = entry.path();
    if (path.extension() != ".pem" || !entry.is_regular_file()) continue;
    absl::StatusOr<std::string> pem = ReadFile(path.string());
    if (!pem.ok()) return pem.status();
    Bio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
    std::vector<Pkey>& signer_keys = keys->by_signer[path.stem().string()];
    while (EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)) {
      signer_keys.emplace_back(key);
      if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        return absl::InvalidArgumentError(absl::StrCat(path.string(), " holds a key that is not Ed25519"));
      }
    }
    if (signer_keys.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), " holds no public key in PEM"));
    }
  }
  if (error) return absl::NotFoundError(absl::StrCat("cannot list ", dir, ": ", error.message()));
  if (keys->by_signer.empty()) return absl::InvalidArgumentError(absl::StrCat(dir, " holds no <signer>.pem file"));
  return std::shared_ptr<const RecordVerifier>(new RecordVerifier(std::move(keys)));
}

absl::Status RecordVerifier::Verify(absl::string_view topic, absl::string_view key, absl::string_view payload,
                                    absl::string_view signer, absl::string_view signature,
                                    const std::vector<std::string>& allowed) const {
  if (signer.empty() || signature.empty()) {
    return absl::UnauthenticatedError(absl::StrCat("record on ", topic, " is not signed"));
  }
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), signer) == allowed.end()) {
    return absl::UnauthenticatedError(absl::StrCat("records on ", topic, " are signed by ", absl::StrJoin(allowed, " or "),
                                                   ", not by \"", absl::CHexEscape(signer.substr(0, 64)), "\""));
  }
  auto it = keys_->by_signer.find(signer);
  if (it == keys_->by_signer.end()) {
    return absl::UnauthenticatedError(
        absl::StrCat("record on ", topic, " is signed by \"", absl::CHexEscape(signer.substr(0, 64)), "\", whose key is not trusted"));
  }
  std::string message = SignedBytes(topic, key, payload);
  for (const Pkey& pkey : it->second) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1) {
      return absl::OkStatus();
    }
  }
  return absl::UnauthenticatedError(
      absl::StrCat("record on ", topic, " does not carry a valid signature of ", signer));
}

absl::StatusOr<std::pair<std::string, std::string>> GenerateSigningKey() {
  EVP_PKEY* generated = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (generated == nullptr) return absl::InternalError("OpenSSL could not generate an Ed25519 key");
  Pkey key(generated);
  return std::make_pair(PemOf(key.get(), true), PemOf(key.get(), false));
}

}  // namespace upshift
