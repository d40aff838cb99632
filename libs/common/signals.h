#ifndef UPSHIFT_LIBS_COMMON_SIGNALS_H_
#define UPSHIFT_LIBS_COMMON_SIGNALS_H_

#include "absl/time/time.h"
#include "libs/common/stop_token.h"

namespace upshift {

// Installs SIGTERM and SIGINT handlers; the process's stop (StopRequested) is set at the first one.
// From then on the process has `grace` to stop by itself before a watchdog ends it with exit code 1
// (the last word when a library hangs on close). Call once, from main.
void InstallStopSignals(absl::Duration grace = absl::Seconds(20));

// The process's stop: set by a stop signal or RequestStop.
const StopToken& StopRequested();

// Starts the stop as a signal would (a service whose task failed), watchdog included.
void RequestStop();

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_SIGNALS_H_
