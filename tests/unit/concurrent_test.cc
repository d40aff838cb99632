#include "libs/common/concurrent.h"
#include "libs/common/deadline.h"
#include "libs/common/stop_token.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
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

namespace upshift {
namespace {

TEST(DeadlineScope, TheInnermostSoonestDeadlineBoundsWhatRunsBelowIt) {
  EXPECT_EQ(DeadlineScope::Current(), absl::InfiniteFuture());
  EXPECT_EQ(WithinCallDeadline(absl::Seconds(5)), absl::Seconds(5));
  {
    DeadlineScope call(absl::Now() + absl::Seconds(1));
    EXPECT_LE(WithinCallDeadline(absl::Seconds(5)), absl::Seconds(1));
    EXPECT_GT(WithinCallDeadline(absl::Seconds(5)), absl::ZeroDuration());
    {
      DeadlineScope later(absl::Now() + absl::Hours(1));  // a later one does not extend the call's
      EXPECT_LE(WithinCallDeadline(absl::Seconds(5)), absl::Seconds(1));
    }
    DeadlineScope passed(absl::Now() - absl::Seconds(1));
    EXPECT_LE(WithinCallDeadline(absl::Seconds(5)), absl::ZeroDuration());
  }
  EXPECT_EQ(DeadlineScope::Current(), absl::InfiniteFuture());
}

}  // namespace
}  // namespace upshift

namespace upshift {
namespace {

TEST(StopToken, AWaitEndsWhenTheStopIsSetAndAStopIsSetOnce) {
  StopToken stop;
  EXPECT_FALSE(stop.stopped());
  EXPECT_FALSE(stop.WaitFor(absl::Milliseconds(1)));  // not stopped: the wait runs out
  std::thread stopper([&] {
    stop.Stop();
    stop.Stop();  // a second stop does nothing
  });
  EXPECT_TRUE(stop.WaitFor(absl::InfiniteDuration()));  // would never end without the stop
  stopper.join();
  EXPECT_TRUE(stop.stopped());
  EXPECT_TRUE(stop.WaitFor(absl::ZeroDuration()));
}

}  // namespace
}  // namespace upshift
