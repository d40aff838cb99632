#include "libs/common/concurrent.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace upshift {

void ForEachConcurrently(size_t n, size_t parallel, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < std::min(n, std::max<size_t>(parallel, 1)); ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
}

Semaphore::Hold Semaphore::Acquire() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(+[](int* free) { return *free > 0; }, &free_));
  --free_;
  ++taken_;
  return Hold(*this);
}

std::optional<Semaphore::Hold> Semaphore::AcquireWithin(absl::Duration wait) {
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithTimeout(absl::Condition(+[](int* free) { return *free > 0; }, &free_), wait)) {
    return std::nullopt;
  }
  --free_;
  ++taken_;
  return Hold(*this);
}

int Semaphore::taken() const {
  absl::MutexLock lock(&mu_);
  return taken_;
}

void Semaphore::Release() {
  absl::MutexLock lock(&mu_);
  ++free_;
  --taken_;
}

}  // namespace upshift
