#include "libs/common/concurrent.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace upshift {
namespace {

TEST(ForEachConcurrently, CallsEveryIndexOnceWithAtMostTheGivenThreadsAtOnce) {
  std::vector<std::atomic<int>> calls(20);
  std::atomic<int> running{0}, most{0};
  std::mutex mu;
  std::condition_variable cv;
  ForEachConcurrently(calls.size(), 3, [&](size_t i) {
    int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    // The first three calls meet: three threads run at once (a bounded wait, not a sleep).
    std::unique_lock<std::mutex> lock(mu);
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return most.load() >= 3 || i >= 3; });
    lock.unlock();
    ++calls[i];
    --running;
  });
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i].load(), 1) << i;
  EXPECT_EQ(most.load(), 3);
}

TEST(ForEachConcurrently, NothingToDoReturnsAtOnce) {
  int calls = 0;
  ForEachConcurrently(0, 4, [&](size_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace upshift
