#ifndef UPSHIFT_LIBS_COMMON_SUBPROCESS_H_
#define UPSHIFT_LIBS_COMMON_SUBPROCESS_H_

// Runs programs without a shell: arguments are passed as they are, never interpreted.

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace upshift {

struct Command {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  // The command's environment, besides PATH, HOME, LANG, LC_ALL, LC_CTYPE, TZ and TMPDIR, the only
  // variables inherited from the service (no UPSHIFT_* secret reaches a child).
  std::map<std::string, std::string> env;
};

// Runs `commands` as a pipeline (each one's stdout into the next one's stdin) and waits for all of
// them. OK when every command exits 0; INTERNAL naming the failing command, its exit status and
// the tail of its stderr otherwise; DEADLINE_EXCEEDED (after killing them all) past `timeout`.
absl::Status RunPipeline(const std::vector<Command>& commands, absl::Duration timeout);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_SUBPROCESS_H_
