#include "libs/runtime/bounded_executor.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "libs/metrics/metrics.h"

namespace upshift {

namespace {

metrics::Family& TasksGauge() {
  static metrics::Family& family =
      metrics::Default().Gauge("upshift_executor_tasks", "Tasks running now, by executor", {"executor"});
  return family;
}

metrics::Family& CapacityGauge() {
  static metrics::Family& family = metrics::Default().Gauge(
      "upshift_executor_capacity", "The most tasks an executor runs at once, by executor", {"executor"});
  return family;
}

metrics::Family& RefusedCounter() {
  static metrics::Family& family = metrics::Default().Counter(
      "upshift_executor_refused_total", "Tasks an executor refused at its cap (their caller kept them), by executor",
      {"executor"});
  return family;
}

}  // namespace

BoundedExecutor::BoundedExecutor(std::string name, int capacity)
    : name_(std::move(name)), capacity_(std::max(capacity, 1)) {
  CapacityGauge().Set({name_}, capacity_);
  TasksGauge().Set({name_}, 0);
}

BoundedExecutor::~BoundedExecutor() {
  std::list<Task> tasks;
  {
    absl::MutexLock lock(&mu_);
    tasks.swap(tasks_);
  }
  for (Task& task : tasks) task.thread.join();
}

bool BoundedExecutor::TrySubmit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  Reap();
  if (running_ >= capacity_) {
    RefusedCounter().Increment({name_});
    return false;
  }
  ++running_;
  Publish();
  Task& slot = tasks_.emplace_back();
  slot.thread = std::thread([this, &slot, task = std::move(task)] {
    task();
    absl::MutexLock lock(&mu_);
    slot.ended = true;
    --running_;
    Publish();
  });
  return true;
}

bool BoundedExecutor::HasRoom() const {
  absl::MutexLock lock(&mu_);
  return running_ < capacity_;
}

int BoundedExecutor::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

void BoundedExecutor::Reap() {
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (!it->ended) {
      ++it;
      continue;
    }
    it->thread.join();
    it = tasks_.erase(it);
  }
}

void BoundedExecutor::Publish() const { TasksGauge().Set({name_}, running_); }

}  // namespace upshift
