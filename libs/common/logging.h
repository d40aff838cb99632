#ifndef UPSHIFT_LIBS_COMMON_LOGGING_H_
#define UPSHIFT_LIBS_COMMON_LOGGING_H_

// Line-oriented logs on stderr (Abseil 20220623 has no absl/log). Thread-safe.

#include "absl/strings/string_view.h"

namespace upshift {

// Names the process in every line, e.g. "cloner". Call once from main.
void SetLogName(absl::string_view name);
void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_LOGGING_H_
