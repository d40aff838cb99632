#include "libs/common/deadline.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace upshift {
namespace {

thread_local absl::Time current_deadline = absl::InfiniteFuture();

}  // namespace

DeadlineScope::DeadlineScope(absl::Time deadline) : previous_(current_deadline) {
  current_deadline = std::min(deadline, previous_);
}

DeadlineScope::~DeadlineScope() { current_deadline = previous_; }

absl::Time DeadlineScope::Current() { return current_deadline; }

absl::Duration WithinCallDeadline(absl::Duration limit) {
  return std::min(limit, DeadlineScope::Current() - absl::Now());
}

}  // namespace upshift
