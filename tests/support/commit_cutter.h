#ifndef UPSHIFT_TESTS_SUPPORT_COMMIT_CUTTER_H_
#define UPSHIFT_TESTS_SUPPORT_COMMIT_CUTTER_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace upshift::testing {

// A TCP proxy in front of PostgreSQL that cuts a connection at its transaction's COMMIT, once
// armed: how a test makes a commit's outcome unknown to the client. It reads the plain protocol
// (connect through it with sslmode=disable). Connections are relayed as they are until armed, and
// after the one cut.
class CommitCutter {
 public:
  enum class Cut {
    kBeforeCommit,  // the COMMIT never reaches the server: the transaction is rolled back
    kAfterCommit,   // the server commits and answers; the answer never reaches the client
  };

  // Listens on a free loopback port, relaying to 127.0.0.1:`server_port`.
  static absl::StatusOr<std::unique_ptr<CommitCutter>> Start(int server_port);
  ~CommitCutter();

  int port() const { return port_; }
  // The next COMMIT a client sends is cut this way.
  void Arm(Cut cut);
  // How many commits were cut so far.
  int cuts() const { return cuts_; }

 private:
  CommitCutter() = default;
  void Accept();
  void Relay(int client);

  int server_port_ = 0;
  int port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> armed_{-1};  // a Cut, or -1
  std::atomic<int> cuts_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> relays_;
};

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_SUPPORT_COMMIT_CUTTER_H_
