#include "libs/common/signals.h"

#include <signal.h>
#include <unistd.h>

#include <thread>

#include "absl/time/clock.h"

namespace upshift {
namespace {

std::atomic<bool> stop_requested{false};

void OnStopSignal(int) { stop_requested.store(true); }

}  // namespace

const std::atomic<bool>& InstallStopSignals(absl::Duration grace) {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([grace] {
    WaitForStopSignal();
    absl::SleepFor(grace);
    static const char kMessage[] = "shutdown watchdog: still running after the grace period, exiting\n";
    (void)!write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    _exit(1);
  }).detach();
  return stop_requested;
}

const std::atomic<bool>& StopRequested() { return stop_requested; }

void RequestStop() { stop_requested.store(true); }

void WaitForStopSignal(absl::Duration tick) {
  while (!stop_requested.load()) absl::SleepFor(tick);
}

}  // namespace upshift
