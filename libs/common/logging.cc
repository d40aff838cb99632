#include "libs/common/logging.h"

#include <cstdio>
#include <mutex>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace upshift {
namespace {

std::mutex log_mu;
std::string& LogName() {
  static std::string* name = new std::string("upshift");
  return *name;
}

void Write(char level, absl::string_view message) {
  std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::lock_guard<std::mutex> lock(log_mu);
  std::fprintf(stderr, "%c %s %s: %.*s\n", level, when.c_str(), LogName().c_str(), static_cast<int>(message.size()),
               message.data());
}

}  // namespace

void SetLogName(absl::string_view name) {
  std::lock_guard<std::mutex> lock(log_mu);
  LogName() = std::string(name);
}
void LogInfo(absl::string_view message) { Write('I', message); }
void LogWarning(absl::string_view message) { Write('W', message); }
void LogError(absl::string_view message) { Write('E', message); }

}  // namespace upshift
