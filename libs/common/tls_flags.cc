#include "libs/common/tls_flags.h"

#include <mutex>

#include "absl/flags/flag.h"
#include "libs/common/logging.h"

ABSL_FLAG(std::string, tls_cert, "", "Required unless --insecure_plaintext: PEM certificate chain this process serves (and presents as a client, for mTLS)");
ABSL_FLAG(std::string, tls_key, "", "Required unless --insecure_plaintext: PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "", "Required unless --insecure_plaintext: PEM bundle of the CAs that sign the certificates this process accepts");
ABSL_FLAG(absl::Duration, tls_refresh_interval, absl::Seconds(60),
          "How often the TLS files are read again (rotation: replace the files)");
ABSL_FLAG(bool, insecure_plaintext, false, "No TLS on any gRPC server or client (development only; logged)");

namespace upshift {

TlsOptions TlsOptionsFromFlags() {
  TlsOptions options{absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key), absl::GetFlag(FLAGS_tls_ca),
                     absl::GetFlag(FLAGS_tls_refresh_interval), absl::GetFlag(FLAGS_insecure_plaintext)};
  static std::once_flag warned;  // once per process, however often the flags are read
  if (options.plaintext) {
    std::call_once(warned, [] {
      LogWarning("--insecure_plaintext: gRPC without TLS; anyone on the network path can read and change the calls. "
                 "Never run so in production.");
    });
  }
  return options;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFlags(bool require_client_certs) {
  return ServerCredentials(TlsOptionsFromFlags(), require_client_certs);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFromFlags() {
  return ChannelCredentials(TlsOptionsFromFlags());
}

}  // namespace upshift
