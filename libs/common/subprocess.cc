#include "libs/common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace upshift {
namespace {

// What a child inherits of the service's environment; everything else it is given explicitly.
constexpr const char* kInheritedEnvironment[] = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"};

std::string ReadTail(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  lseek(fd, 0, SEEK_SET);
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
  if (out.size() > 2000) out = out.substr(out.size() - 2000);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

absl::Status RunPipeline(const std::vector<Command>& commands, absl::Duration timeout) {
  if (commands.empty()) return absl::InvalidArgumentError("empty pipeline");
  std::vector<pid_t> pids;
  std::vector<int> stderr_fds;
  int prev_read = -1;
  for (size_t i = 0; i < commands.size(); ++i) {
    int pipefd[2] = {-1, -1};
    bool last = i + 1 == commands.size();
    if (!last && pipe2(pipefd, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
    char err_template[] = "/tmp/upshift-stderr-XXXXXX";
    int err_fd = mkstemp(err_template);
    if (err_fd < 0) return absl::InternalError("mkstemp failed");
    unlink(err_template);
    stderr_fds.push_back(err_fd);
    pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork failed");
    if (pid == 0) {
      // A worker killed with kill -9 must not leave its pg_dump or restore running on its own.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (prev_read >= 0) dup2(prev_read, STDIN_FILENO);
      if (!last) dup2(pipefd[1], STDOUT_FILENO);
      dup2(err_fd, STDERR_FILENO);
      // A minimal environment: the platform's secrets (UPSHIFT_*, and anything else the service
      // was given) never reach pg_dump or a vendor's tool; only what a program needs to run.
      std::vector<std::string> env_strings;
      for (const char* name : kInheritedEnvironment) {
        if (const char* value = std::getenv(name); value != nullptr && commands[i].env.count(name) == 0) {
          env_strings.push_back(absl::StrCat(name, "=", value));
        }
      }
      for (const auto& [k, v] : commands[i].env) env_strings.push_back(absl::StrCat(k, "=", v));
      std::vector<char*> envp;
      for (std::string& e : env_strings) envp.push_back(e.data());
      envp.push_back(nullptr);
      std::vector<char*> argv;
      for (const std::string& a : commands[i].argv) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execvpe(argv[0], argv.data(), envp.data());
      std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
      _exit(127);
    }
    pids.push_back(pid);
    if (prev_read >= 0) close(prev_read);
    if (!last) {
      close(pipefd[1]);
      prev_read = pipefd[0];
    }
  }
  absl::Time deadline = absl::Now() + timeout;
  std::vector<int> statuses(pids.size(), -1);
  size_t remaining = pids.size();
  bool timed_out = false;
  while (remaining > 0) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (statuses[i] != -1) continue;
      int st = 0;
      if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
        statuses[i] = st;
        --remaining;
      }
    }
    if (remaining == 0) break;
    if (!timed_out && absl::Now() > deadline) {
      timed_out = true;
      for (size_t i = 0; i < pids.size(); ++i) {
        if (statuses[i] == -1) kill(pids[i], SIGKILL);
      }
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::Status result;
  if (timed_out) {
    result = absl::DeadlineExceededError(
        absl::StrCat(commands.front().argv[0], " did not finish within ", absl::FormatDuration(timeout)));
  } else {
    for (size_t i = 0; i < pids.size(); ++i) {
      int st = statuses[i];
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) continue;
      std::string how = WIFEXITED(st) ? absl::StrCat("exit status ", WEXITSTATUS(st))
                                      : absl::StrCat("signal ", WTERMSIG(st));
      result = absl::InternalError(
          absl::StrCat(commands[i].argv[0], " failed (", how, "): ", ReadTail(stderr_fds[i])));
      break;
    }
  }
  for (int fd : stderr_fds) close(fd);
  return result;
}

}  // namespace upshift
