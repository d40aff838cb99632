#ifndef UPSHIFT_LIBS_COMMON_SIGNALS_H_
#define UPSHIFT_LIBS_COMMON_SIGNALS_H_

#include <atomic>

#include "absl/time/time.h"

namespace upshift {

// Installs SIGTERM and SIGINT handlers; the returned flag becomes true at the first one. From then
// on the process has `grace` to stop by itself before a watchdog ends it with exit code 1 (the last
// word when a library hangs on close). Call once, from main.
const std::atomic<bool>& InstallStopSignals(absl::Duration grace = absl::Seconds(20));

// The flag InstallStopSignals returns.
const std::atomic<bool>& StopRequested();

// Starts the stop as a signal would (a service whose task failed), watchdog included.
void RequestStop();

// Sleeps until a stop signal arrived (checking every `tick`).
void WaitForStopSignal(absl::Duration tick = absl::Milliseconds(100));

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_SIGNALS_H_
