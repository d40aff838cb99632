#ifndef UPSHIFT_LIBS_COMMON_CONCURRENT_H_
#define UPSHIFT_LIBS_COMMON_CONCURRENT_H_

#include <cstddef>
#include <functional>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace upshift {

// Calls fn(0), ..., fn(n - 1) on at most `parallel` threads, the caller's among them, and returns
// once every call returned. The calls start in index order; `fn` must not throw.
void ForEachConcurrently(size_t n, size_t parallel, const std::function<void(size_t)>& fn);

// A counting semaphore: at most `n` holders at once. Thread-safe.
class Semaphore {
 public:
  explicit Semaphore(int n) : free_(n) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Held from Acquire until destroyed.
  class Hold {
   public:
    explicit Hold(Semaphore& s) : s_(&s) {}
    Hold(Hold&& other) noexcept : s_(other.s_) { other.s_ = nullptr; }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    Hold& operator=(Hold&&) = delete;
    ~Hold() {
      if (s_ != nullptr) s_->Release();
    }

   private:
    Semaphore* s_;
  };

  // Waits until a place is free, and takes it.
  Hold Acquire();
  // The same, waiting at most `wait`: nullopt when no place came free by then.
  std::optional<Hold> AcquireWithin(absl::Duration wait);
  // Places taken now.
  int taken() const;

 private:
  void Release();

  mutable absl::Mutex mu_;
  int free_ ABSL_GUARDED_BY(mu_);
  int taken_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_CONCURRENT_H_
