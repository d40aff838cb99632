#ifndef UPSHIFT_LIBS_COMMON_STREAM_SLOTS_H_
#define UPSHIFT_LIBS_COMMON_STREAM_SLOTS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace upshift {

// Bounds long-lived calls (WatchUpgrade streams): at most `total` at once, and at most
// `per_caller` of one caller, so that no caller can hold every thread of a server. Thread-safe.
class StreamSlots {
 public:
  StreamSlots(int total, int per_caller) : total_(total), per_caller_(per_caller) {}

  // Held for as long as the stream runs; gives its slot back when destroyed.
  class Slot {
   public:
    Slot(StreamSlots& slots, std::string caller) : slots_(slots), caller_(std::move(caller)) {}
    ~Slot() { slots_.Release(caller_); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    StreamSlots& slots_;
    const std::string caller_;
  };

  // A slot for one more stream of `caller`. RESOURCE_EXHAUSTED saying which bound is reached.
  absl::StatusOr<std::unique_ptr<Slot>> Take(const std::string& caller);

 private:
  void Release(const std::string& caller);

  const int total_;
  const int per_caller_;
  absl::Mutex mu_;
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> by_caller_ ABSL_GUARDED_BY(mu_);
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_STREAM_SLOTS_H_
