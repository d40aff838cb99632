#include "tests/support/http.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace upshift::testing {

absl::StatusOr<std::string> HttpGet(const std::string& address, const std::string& path, const std::string& ca_file) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("not host:port: ", address));
  }
  const std::string host = address.substr(0, colon);
  auto get = [&](httplib::ClientImpl& client) -> absl::StatusOr<std::string> {
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(10, 0);
    httplib::Result result = client.Get(path.c_str());
    if (!result) {
      return absl::UnavailableError(absl::StrCat("GET ", address, path, ": ", httplib::to_string(result.error())));
    }
    if (result->status != 200) {
      return absl::InternalError(absl::StrCat("GET ", address, path, ": status ", result->status));
    }
    return result->body;
  };
  if (ca_file.empty()) {
    httplib::ClientImpl client(host, port);
    return get(client);
  }
  httplib::SSLClient client(host, port);
  client.set_ca_cert_path(ca_file.c_str());
  client.enable_server_certificate_verification(true);
  return get(client);
}

}  // namespace upshift::testing
