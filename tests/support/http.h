#ifndef UPSHIFT_TESTS_SUPPORT_HTTP_H_
#define UPSHIFT_TESTS_SUPPORT_HTTP_H_

#include <string>

#include "absl/status/statusor.h"

namespace upshift::testing {

// GET https://`address``path`, the server's certificate checked against `ca_file` (and its name
// against the host: 127.0.0.1 is in the tests' certificates); with an empty `ca_file`, plain HTTP.
// The body on status 200; UNAVAILABLE when the server cannot be reached or the handshake fails,
// INTERNAL on another status.
absl::StatusOr<std::string> HttpGet(const std::string& address, const std::string& path, const std::string& ca_file);

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_SUPPORT_HTTP_H_
