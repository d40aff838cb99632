#ifndef UPSHIFT_TESTS_SUPPORT_WAIT_H_
#define UPSHIFT_TESTS_SUPPORT_WAIT_H_

#include <functional>

#include "absl/time/time.h"

namespace upshift::testing {

// Polls `condition` every 20 ms until it holds (true) or `timeout` passes (false).
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(30));

// A free TCP port on 127.0.0.1, below the range the kernel gives outgoing connections (so no client
// socket takes it before the server binds it), never the same twice in one process.
int FreePort();

// A new empty directory under /tmp, readable by every user (PostgreSQL runs as `postgres`).
std::string MakeTempDir(const std::string& prefix);

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_SUPPORT_WAIT_H_
