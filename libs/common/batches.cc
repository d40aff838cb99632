#include "libs/common/batches.h"

namespace upshift {

absl::StatusOr<int> UntilShortBatch(const std::function<absl::StatusOr<int>()>& step, int batch) {
  int total = 0;
  for (;;) {
    absl::StatusOr<int> n = step();
    if (!n.ok()) return n.status();
    total += *n;
    if (*n < batch) return total;
  }
}

}  // namespace upshift
