#include "tests/support/wait.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace upshift::testing {

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

namespace {

// Whether a server could bind `port` on 127.0.0.1 now.
bool Bindable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // as gRPC and PostgreSQL bind
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// The first port the kernel hands out to outgoing connections (ip_local_port_range).
int FirstEphemeralPort() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  if (!(in >> low) || low < 2048) low = 32768;
  return low;
}

}  // namespace

int FreePort() {
  // A port of the ephemeral range can be taken by any client socket (a service's connection to
  // PostgreSQL or the broker) between this call and the server's bind; one below that range only by
  // another explicit bind. So ports are drawn below it, and never the same one twice in a process.
  static absl::Mutex mu(absl::kConstInit);
  static std::set<int>* given = new std::set<int>();
  static std::mt19937* random = new std::mt19937(std::random_device{}());
  const int high = FirstEphemeralPort();
  const int low = std::max(1024, high - 16384);
  absl::MutexLock lock(&mu);
  std::uniform_int_distribution<int> pick(low, high - 1);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int port = pick(*random);
    if (given->count(port) == 0 && Bindable(port)) {
      given->insert(port);
      return port;
    }
  }
  std::abort();  // sixteen thousand ports all taken: nothing here can run
}

std::string MakeTempDir(const std::string& prefix) {
  std::string path = "/tmp/" + prefix + ".XXXXXX";
  char* made = mkdtemp(path.data());
  if (made == nullptr) std::abort();
  chmod(made, 0755);
  return made;
}

}  // namespace upshift::testing
