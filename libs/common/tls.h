#ifndef UPSHIFT_LIBS_COMMON_TLS_H_
#define UPSHIFT_LIBS_COMMON_TLS_H_

// TLS for every gRPC server and client, from PEM files that are reloaded when they change, so a
// certificate is rotated by replacing its files (cert-manager does so in Kubernetes).

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift {

struct TlsOptions {
  std::string cert_file;  // PEM chain of this process's certificate (a server's; a client's for mTLS)
  std::string key_file;   // its private key
  std::string ca_file;    // PEM bundle of the CAs this process trusts: servers' for a client, clients' for mTLS
  // How often the files are read again.
  absl::Duration refresh_interval = absl::Seconds(60);
  // No TLS at all: an explicit choice (--insecure_plaintext), never the default.
  bool plaintext = false;
};

// A server's credentials: TLS with cert_file and key_file; with `require_client_certs`, only clients
// presenting a certificate that ca_file's CAs signed get through (mTLS). INVALID_ARGUMENT / NOT_FOUND
// when a needed file is not given or cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsOptions& options,
                                                                          bool require_client_certs = false);

// A client's credentials: the server's certificate is checked against ca_file (and its name against
// the address dialled); cert_file and key_file, when given, are presented (mTLS).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsOptions& options);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_TLS_H_
