#include "services/status/change_hub.h"

namespace upshift::status {

void ChangeHub::Notify() {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  cv_.notify_all();
}

uint64_t ChangeHub::generation() {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

uint64_t ChangeHub::Wait(uint64_t seen, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return generation_ != seen; });
  return generation_;
}

}  // namespace upshift::status
