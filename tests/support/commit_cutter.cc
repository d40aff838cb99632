#include "tests/support/commit_cutter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace upshift::testing {
namespace {

// The simple-protocol query libpqxx ends a transaction with: 'Q', its length (4 + 7), "COMMIT\0".
constexpr absl::string_view kCommit("Q\0\0\0\x0b" "COMMIT\0", 12);

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CommitCutter>> CommitCutter::Start(int server_port) {
  std::unique_ptr<CommitCutter> cutter(new CommitCutter());
  cutter->server_port_ = server_port;
  cutter->listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (cutter->listener_ < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(cutter->listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(cutter->listener_, 16) != 0 ||
      ::getsockname(cutter->listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("listen: ", std::strerror(errno)));
  }
  cutter->port_ = ntohs(addr.sin_port);
  CommitCutter* raw = cutter.get();
  cutter->acceptor_ = std::thread([raw] { raw->Accept(); });
  return cutter;
}

CommitCutter::~CommitCutter() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  if (listener_ >= 0) ::close(listener_);
  std::lock_guard<std::mutex> lock(mu_);
  for (std::thread& t : relays_) t.join();
}

void CommitCutter::Arm(Cut cut) { armed_ = static_cast<int>(cut); }

void CommitCutter::Accept() {
  while (!stop_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    relays_.emplace_back([this, client] { Relay(client); });
  }
}

void CommitCutter::Relay(int client) {
  int server = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(server_port_));
  if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(server);
    ::close(client);
    return;
  }
  char buf[16384];
  bool cut_after_reply = false;  // the COMMIT went on; the server's next bytes end the connection
  while (!stop_) {
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(fds, 2, 50) <= 0) continue;
    if (fds[0].revents != 0) {
      ssize_t n = ::recv(client, buf, sizeof(buf), 0);
      if (n <= 0) break;
      const absl::string_view sent(buf, static_cast<size_t>(n));
      if (armed_ >= 0 && absl::StrContains(sent, kCommit)) {
        const Cut cut = static_cast<Cut>(armed_.exchange(-1));
        ++cuts_;
        if (cut == Cut::kBeforeCommit) break;
        cut_after_reply = true;
      }
      if (!WriteAll(server, buf, static_cast<size_t>(n))) break;
    }
    if (fds[1].revents != 0) {
      ssize_t n = ::recv(server, buf, sizeof(buf), 0);
      if (n <= 0 || cut_after_reply) break;
      if (!WriteAll(client, buf, static_cast<size_t>(n))) break;
    }
  }
  ::close(server);
  ::close(client);
}

}  // namespace upshift::testing
