#ifndef UPSHIFT_LIBS_COMMON_BATCHES_H_
#define UPSHIFT_LIBS_COMMON_BATCHES_H_

#include <functional>

#include "absl/status/statusor.h"

namespace upshift {

// Calls `step` (which handles at most `batch` rows, in a transaction of its own, and returns how
// many it handled) until one comes back short of `batch`. Returns the total; the first error stops it.
// For retention: many short transactions instead of one long one beside the live traffic.
absl::StatusOr<int> UntilShortBatch(const std::function<absl::StatusOr<int>()>& step, int batch);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_BATCHES_H_
