#ifndef UPSHIFT_LIBS_METRICS_METRICS_SERVER_H_
#define UPSHIFT_LIBS_METRICS_METRICS_SERVER_H_

// Serves a registry at GET /metrics over HTTPS (or HTTP, by explicit choice), for Prometheus. The
// HTTP server is cpp-httplib's (Debian's libcpp-httplib), not one of ours.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "libs/common/tls.h"
#include "libs/metrics/metrics.h"

namespace httplib {
class Server;
}

namespace upshift::metrics {

class MetricsServer {
 public:
  // Listens on `listen` (host:port; port 0 picks a free one). With `tls.plaintext` unset, serves
  // HTTPS with tls.cert_file and tls.key_file, read again when they change (rotation); clients need
  // no certificate (a NetworkPolicy says who may scrape). UNAVAILABLE when the port cannot be bound,
  // INVALID_ARGUMENT / NOT_FOUND when the address or the files are wrong.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen, const TlsOptions& tls,
                                                              Registry& registry);
  ~MetricsServer();  // stops serving

  int port() const { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<TlsOptions> tls_;  // the files read at each handshake; its address outlives the server
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace upshift::metrics

#endif  // UPSHIFT_LIBS_METRICS_METRICS_SERVER_H_
