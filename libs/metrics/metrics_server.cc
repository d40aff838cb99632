#include "libs/metrics/metrics_server.h"

#include <httplib.h>
#include <openssl/ssl.h>

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace upshift::metrics {
namespace {

// At every handshake the certificate and key are read from their files, so a rotated pair (cert-manager
// writes new files) is served from the next scrape on.
int UseCurrentCertificate(SSL* ssl, void* arg) {
  const TlsOptions& tls = *static_cast<const TlsOptions*>(arg);
  return SSL_use_certificate_chain_file(ssl, tls.cert_file.c_str()) == 1 &&
         SSL_use_PrivateKey_file(ssl, tls.key_file.c_str(), SSL_FILETYPE_PEM) == 1 && SSL_check_private_key(ssl) == 1;
}

absl::Status CheckPair(const TlsOptions& tls) {
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError("the metrics server needs --tls_cert and --tls_key (or --insecure_plaintext)");
  }
  for (const std::string& file : {tls.cert_file, tls.key_file}) {
    std::error_code error;  // e.g. a folder this user may not enter: said, not thrown
    if (!std::filesystem::exists(file, error)) {
      return absl::NotFoundError(absl::StrCat("cannot read ", file, ": ", error ? error.message() : "no such file"));
    }
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  bool ok = SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) == 1 &&
            SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) == 1 &&
            SSL_CTX_check_private_key(ctx) == 1;
  SSL_CTX_free(ctx);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use ", tls.cert_file, " and ", tls.key_file, " as a certificate and its key"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen, const TlsOptions& tls,
                                                                     Registry& registry) {
  size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("metrics address must be host:port, not \"", listen, "\""));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  if (tls.plaintext) {
    server->server_ = std::make_unique<httplib::Server>();
  } else {
    if (absl::Status s = CheckPair(tls); !s.ok()) return s;
    server->tls_ = std::make_unique<TlsOptions>(tls);
    const TlsOptions* files = server->tls_.get();
    server->server_ = std::make_unique<httplib::SSLServer>([files](SSL_CTX& ctx) {
      SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
      SSL_CTX_set_cert_cb(&ctx, UseCurrentCertificate, const_cast<TlsOptions*>(files));
      return true;
    });
  }
  httplib::Server& http = *server->server_;
  http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  // cpp-httplib's default adds SO_REUSEPORT, with which a second process would share a taken port
  // without a word: only SO_REUSEADDR here.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  http.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry.Expose(), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (port == 0) {
    server->port_ = http.bind_to_any_port(host);
    if (server->port_ < 0) return absl::UnavailableError(absl::StrCat("metrics server cannot listen on ", listen));
  } else {
    if (!http.bind_to_port(host, port)) {
      return absl::UnavailableError(absl::StrCat("metrics server cannot listen on ", listen, " (port taken?)"));
    }
    server->port_ = port;
  }
  server->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // Until it runs, stop() would not reach it (cpp-httplib 0.11 has no wait_until_ready).
  for (int i = 0; i < 500 && !http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return server;
}

MetricsServer::~MetricsServer() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace upshift::metrics
