#ifndef UPSHIFT_LIBS_COMMON_SIGNALS_H_
#define UPSHIFT_LIBS_COMMON_SIGNALS_H_

#include <atomic>

#include "absl/time/time.h"

namespace upshift {

// Installs SIGTERM and SIGINT handlers; the returned flag becomes true at the first one. Call once, from main.
const std::atomic<bool>& InstallStopSignals();

// Sleeps until a stop signal arrived (checking every `tick`).
void WaitForStopSignal(absl::Duration tick = absl::Milliseconds(100));

// Ends the process with exit code 1 if it is still running `grace` after this call: the last word
// when a library hangs during shutdown.
void StartShutdownWatchdog(absl::Duration grace);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_SIGNALS_H_
