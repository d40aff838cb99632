#include "libs/common/stream_slots.h"

#include "absl/strings/str_cat.h"

namespace upshift {

absl::StatusOr<std::unique_ptr<StreamSlots::Slot>> StreamSlots::Take(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  if (in_use_ >= total_) {
    return absl::ResourceExhaustedError(absl::StrCat("the server already holds ", total_, " streams; try again later"));
  }
  int& mine = by_caller_[caller];
  if (mine >= per_caller_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a caller may hold ", per_caller_, " streams at once; end one before opening another"));
  }
  ++mine;
  ++in_use_;
  return std::make_unique<Slot>(*this, caller);
}

void StreamSlots::Release(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  --in_use_;
  if (--by_caller_[caller] == 0) by_caller_.erase(caller);
}

}  // namespace upshift
