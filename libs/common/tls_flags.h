#ifndef UPSHIFT_LIBS_COMMON_TLS_FLAGS_H_
#define UPSHIFT_LIBS_COMMON_TLS_FLAGS_H_

// The TLS flags every service and upgradectl have, defined once: --tls_cert, --tls_key, --tls_ca,
// --tls_refresh_interval, --insecure_plaintext.

#include "libs/common/tls.h"

namespace upshift {

// The TLS options from the flags; logs a warning when --insecure_plaintext turns TLS off.
TlsOptions TlsOptionsFromFlags();

// ServerCredentials and ChannelCredentials of TlsOptionsFromFlags().
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFlags(bool require_client_certs = false);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFromFlags();

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_TLS_FLAGS_H_
