#include "libs/common/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>

#include "absl/strings/str_cat.h"

namespace upshift {
namespace {

absl::Status Readable(const std::string& path, const char* what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("TLS needs ", what, " (or --insecure_plaintext)"));
  std::ifstream in(path);
  if (!in || in.peek() == std::ifstream::traits_type::eof()) {
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  }
  return absl::OkStatus();
}

unsigned int RefreshSeconds(const TlsOptions& options) {
  return static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(options.refresh_interval)));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsOptions& options,
                                                                          bool require_client_certs) {
  if (options.plaintext) return grpc::InsecureServerCredentials();
  for (auto [path, what] : {std::pair{&options.cert_file, "a certificate (--tls_cert)"},
                            std::pair{&options.key_file, "a private key (--tls_key)"}}) {
    if (absl::Status s = Readable(*path, what); !s.ok()) return s;
  }
  if (require_client_certs) {
    if (absl::Status s = Readable(options.ca_file, "a CA bundle (--tls_ca)"); !s.ok()) return s;
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.key_file, options.cert_file, require_client_certs ? options.ca_file : "", RefreshSeconds(options));
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (require_client_certs) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsOptions& options) {
  if (options.plaintext) return grpc::InsecureChannelCredentials();
  if (absl::Status s = Readable(options.ca_file, "a CA bundle (--tls_ca)"); !s.ok()) return s;
  const bool identity = !options.cert_file.empty() || !options.key_file.empty();
  if (identity) {
    for (auto [path, what] : {std::pair{&options.cert_file, "a certificate (--tls_cert)"},
                              std::pair{&options.key_file, "a private key (--tls_key)"}}) {
      if (absl::Status s = Readable(*path, what); !s.ok()) return s;
    }
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      identity ? options.key_file : "", identity ? options.cert_file : "", options.ca_file, RefreshSeconds(options));
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(provider);
  tls.watch_root_certs();
  if (identity) tls.watch_identity_key_cert_pairs();
  tls.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(tls);
}

}  // namespace upshift
