#ifndef UPSHIFT_LIBS_SECURITY_RECORD_SIGNATURE_H_
#define UPSHIFT_LIBS_SECURITY_RECORD_SIGNATURE_H_

// Signatures on the records the services write to Kafka: a consumer acts only on a record that a
// service allowed on its topic signed, so write access to the broker alone cannot forge one.
// Ed25519 (RFC 8032) through OpenSSL: each service holds its own private key, and consumers hold
// only public keys, so no consumer can forge another service's records.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace upshift {

// Signs records as one service. Implementations are immutable and thread-safe.
class RecordSigner {
 public:
  // Signs with the service's Ed25519 private key. `signer`: the service's name, which consumers look
  // its public keys up by. NOT_FOUND: no such file; INVALID_ARGUMENT: not an Ed25519 private key in PEM.
  static absl::StatusOr<std::shared_ptr<const RecordSigner>> FromPemFile(std::string signer, const std::string& path);
  virtual ~RecordSigner() = default;

  // The name the records are signed as.
  virtual const std::string& signer() const = 0;

  // The signature of a record: over its topic, key and payload together, so that it cannot be moved
  // to another topic or given another key.
  virtual std::string Sign(absl::string_view topic, absl::string_view key, absl::string_view payload) const = 0;
};

// Checks records against the public keys of the services that may sign them. Immutable and thread-safe.
class RecordVerifier {
 public:
  // `dir` holds a file `<signer>.pem` per service, with one or more Ed25519 public keys in PEM (more
  // than one while a key is rotated). NOT_FOUND: no such directory; INVALID_ARGUMENT: a file that
  // holds no public key, or something else.
  static absl::StatusOr<std::shared_ptr<const RecordVerifier>> FromDirectory(const std::string& dir);
  ~RecordVerifier();

  // OK when `signature` is `signer`'s over the record and `signer` is one of `allowed` (any trusted
  // signer when `allowed` is empty). UNAUTHENTICATED saying which it is not: unsigned, an unknown or
  // unallowed signer, a signature that does not match.
  absl::Status Verify(absl::string_view topic, absl::string_view key, absl::string_view payload,
                      absl::string_view signer, absl::string_view signature,
                      const std::vector<std::string>& allowed) const;

  struct Keys;

 private:
  explicit RecordVerifier(std::unique_ptr<Keys> keys);
  std::unique_ptr<Keys> keys_;
};

// A new Ed25519 key pair in PEM: {private key, public key}. INTERNAL if OpenSSL fails.
absl::StatusOr<std::pair<std::string, std::string>> GenerateSigningKey();

}  // namespace upshift

#endif  // UPSHIFT_LIBS_SECURITY_RECORD_SIGNATURE_H_
