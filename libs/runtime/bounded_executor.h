#ifndef UPSHIFT_LIBS_RUNTIME_BOUNDED_EXECUTOR_H_
#define UPSHIFT_LIBS_RUNTIME_BOUNDED_EXECUTOR_H_

#include <functional>
#include <list>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace upshift {

// Runs tasks each on a thread of its own, at most `capacity` at once: per-record work that may last
// hours (an upgrade step) and so cannot share a fixed pool's threads without starving the others.
// A task over the cap is refused, never queued: the caller keeps it (a consumer keeps the record
// waiting, and pauses fetching). Thread-safe; the destructor waits for every task.
//
// Its use is on /metrics, by `name`: upshift_executor_tasks{executor} (running now),
// upshift_executor_capacity{executor}, upshift_executor_refused_total{executor}.
class BoundedExecutor {
 public:
  BoundedExecutor(std::string name, int capacity);
  ~BoundedExecutor();
  BoundedExecutor(const BoundedExecutor&) = delete;
  BoundedExecutor& operator=(const BoundedExecutor&) = delete;

  // Starts `task` on a thread of its own, or returns false (and starts nothing) at the cap.
  bool TrySubmit(std::function<void()> task);

  // Whether TrySubmit would start a task now. Only tasks ending make room, so a single submitter
  // that sees room keeps it until its own TrySubmit.
  bool HasRoom() const;

  int running() const;
  int capacity() const { return capacity_; }

 private:
  struct Task {
    std::thread thread;
    bool ended = false;
  };
  // Joins the threads of tasks that ended.
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Publish() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const int capacity_;
  mutable absl::Mutex mu_;
  std::list<Task> tasks_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_RUNTIME_BOUNDED_EXECUTOR_H_
