#include "libs/common/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/time/clock.h"

namespace upshift {
namespace {

// A signal handler may only set a flag; a thread turns it into the stop.
volatile sig_atomic_t signalled = 0;

StopToken& ProcessStop() {
  static StopToken* stop = new StopToken();
  return *stop;
}

void OnStopSignal(int) { signalled = 1; }

}  // namespace

void InstallStopSignals(absl::Duration grace) {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([] {
    while (!signalled && !ProcessStop().WaitFor(absl::Milliseconds(50))) {
    }
    ProcessStop().Stop();
  }).detach();
  std::thread([grace] {
    ProcessStop().WaitFor(absl::InfiniteDuration());
    absl::SleepFor(grace);
    static const char kMessage[] = "shutdown watchdog: still running after the grace period, exiting\n";
    (void)!write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    _exit(1);
  }).detach();
}

const StopToken& StopRequested() { return ProcessStop(); }

void RequestStop() { ProcessStop().Stop(); }

}  // namespace upshift
