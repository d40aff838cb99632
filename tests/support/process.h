#ifndef UPSHIFT_TESTS_SUPPORT_PROCESS_H_
#define UPSHIFT_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift::testing {

// A child process of the test. It dies with the test (PR_SET_PDEATHSIG), and is stopped when this
// object goes away.
class ChildProcess {
 public:
  struct Options {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;  // added to the test's environment
    std::string log_path;                    // stdout and stderr; empty: inherited
    std::string run_as;                      // user to run as when the test runs as root; empty: same user
  };

  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const Options& options);
  ~ChildProcess();

  // SIGTERM (or `signal`), then SIGKILL after `grace`. Returns the wait status (-1 if already reaped).
  int Stop(absl::Duration grace = absl::Seconds(20), int signal = 15);
  // SIGKILL at once, and reap.
  void Kill();
  // Sends `signal` (e.g. SIGSTOP to freeze the process, SIGCONT to thaw it) and returns.
  void Signal(int signal);
  // Waits for the process to exit by itself. Returns the wait status, or -1 after `timeout`.
  int Wait(absl::Duration timeout);
  bool Running();
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  bool reaped_ = false;
  int status_ = -1;
};

// Runs a command to completion (as `run_as` when root). OK when it exits 0; INTERNAL with its
// output otherwise.
absl::Status RunCommand(const ChildProcess::Options& options, absl::Duration timeout = absl::Minutes(5));

// The last `bytes` of a file (for failure messages).
std::string Tail(const std::string& path, size_t bytes = 4000);

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_SUPPORT_PROCESS_H_
