#include "tests/support/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace upshift::testing {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(const Options& options) {
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_user = !options.run_as.empty() && geteuid() == 0;
  if (switch_user) {
    passwd* pw = getpwnam(options.run_as.c_str());
    if (pw == nullptr) return absl::NotFoundError(absl::StrCat("no user ", options.run_as));
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    if (!options.log_path.empty()) {
      int fd = open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
    }
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, STDIN_FILENO);
    if (switch_user) {
      if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
    }
    // After the user switch, which clears it: the child dies with the test, whatever happens.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);
    for (const auto& [k, v] : options.env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "cannot exec %s\n", argv[0]);
    _exit(127);
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, options.log_path));
}

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::Running() {
  if (reaped_) return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int ChildProcess::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return status_;
}

int ChildProcess::Stop(absl::Duration grace, int signal) {
  if (!Running()) return status_;
  kill(pid_, signal);
  if (Wait(grace) == -1 && Running()) Kill();
  return status_;
}

void ChildProcess::Signal(int signal) {
  if (Running()) kill(pid_, signal);
}

void ChildProcess::Kill() {
  if (!Running()) return;
  kill(pid_, SIGKILL);
  int st = 0;
  waitpid(pid_, &st, 0);
  reaped_ = true;
  status_ = st;
}

std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

absl::Status RunCommand(const ChildProcess::Options& options, absl::Duration timeout) {
  ChildProcess::Options opts = options;
  std::string log;
  if (opts.log_path.empty()) {
    char path[] = "/tmp/upshift-cmd-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    chmod(path, 0666);
    opts.log_path = log = path;
  }
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start(opts);
  if (!child.ok()) return child.status();
  int st = (*child)->Wait(timeout);
  absl::Status result;
  if (st == -1) {
    (*child)->Kill();
    result = absl::DeadlineExceededError(absl::StrCat(absl::StrJoin(options.argv, " "), " timed out"));
  } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    result = absl::InternalError(absl::StrCat(absl::StrJoin(options.argv, " "), " failed: ", Tail(opts.log_path)));
  }
  if (!log.empty()) unlink(log.c_str());
  return result;
}

}  // namespace upshift::testing
