// The consumer's at-least-once rules (RecordFlow) without a broker: records handed in by hand, a
// scripted handler on the executor's threads, offsets and dead letters observed as they are stored.
#include "libs/kafka/record_flow.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/kafka/topics.h"
#include "libs/metrics/metrics.h"
#include "tests/unit/fakes.h"
#include "upgrade/v1/events.pb.h"

namespace upshift {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using upshift::testing::FakePublisher;

const TopicPartition kP0{"upgrade.events", 0};
const TopicPartition kP1{"upgrade.events", 1};

ConsumedRecord Record(const TopicPartition& p, int64_t offset, std::string key) {
  ConsumedRecord r;
  r.topic = p.first;
  r.partition = p.second;
  r.offset = offset;
  r.key = std::move(key);
  r.payload = "payload of " + std::to_string(offset);
  return r;
}

// The handler's script: what each offset answers (OK unless told), which offsets wait for a release,
// and what was seen. Thread-safe: the flow calls it from its executor's threads.
class Script {
 public:
  RecordHandler Handler() {
    return [this](const ConsumedRecord& r) { return Handle(r); };
  }

  // The offset's next answers, in order (then OK).
  void Answer(int64_t offset, std::vector<absl::Status> answers) {
    absl::MutexLock lock(&mu_);
    answers_[offset] = std::move(answers);
  }
  // The offset's handler waits for Release.
  void Hold(int64_t offset) {
    absl::MutexLock lock(&mu_);
    held_[offset] = false;
  }
  void Release(int64_t offset) {
    absl::MutexLock lock(&mu_);
    held_[offset] = true;
  }
  void ReleaseAll() {
    absl::MutexLock lock(&mu_);
    for (auto& [offset, released] : held_) released = true;
  }

  std::vector<int64_t> handled() const {
    absl::MutexLock lock(&mu_);
    return handled_;
  }
  int attempts(int64_t offset) const {
    absl::MutexLock lock(&mu_);
    auto it = attempts_.find(offset);
    return it == attempts_.end() ? 0 : it->second;
  }
  int at_work() const {
    absl::MutexLock lock(&mu_);
    return at_work_;
  }
  int most_at_work() const {
    absl::MutexLock lock(&mu_);
    return most_at_work_;
  }
  // The most records of one key that were at work at once.
  int most_at_work_per_key() const {
    absl::MutexLock lock(&mu_);
    return most_per_key_;
  }

 private:
  absl::Status Handle(const ConsumedRecord& r) {
    absl::MutexLock lock(&mu_);
    ++attempts_[r.offset];
    ++at_work_;
    most_at_work_ = std::max(most_at_work_, at_work_);
    most_per_key_ = std::max(most_per_key_, ++per_key_[r.key]);
    if (auto it = held_.find(r.offset); it != held_.end()) {
      mu_.Await(absl::Condition(&it->second));
    }
    --at_work_;
    --per_key_[r.key];
    std::vector<absl::Status>& answers = answers_[r.offset];
    if (!answers.empty()) {
      absl::Status answer = answers.front();
      answers.erase(answers.begin());
      return answer;
    }
    handled_.push_back(r.offset);
    return absl::OkStatus();
  }

  mutable absl::Mutex mu_;
  std::map<int64_t, std::vector<absl::Status>> answers_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, bool> held_ ABSL_GUARDED_BY(mu_);  // offset -> released
  std::vector<int64_t> handled_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int> attempts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> per_key_ ABSL_GUARDED_BY(mu_);
  int at_work_ ABSL_GUARDED_BY(mu_) = 0;
  int most_at_work_ ABSL_GUARDED_BY(mu_) = 0;
  int most_per_key_ ABSL_GUARDED_BY(mu_) = 0;
};

class RecordFlowTest : public ::testing::Test {
 protected:
  RecordFlow& Make(const std::string& group, int max_in_flight, size_t max_waiting = 100) {
    flow_ = std::make_unique<RecordFlow>(
        RecordFlow::Options{group, max_in_flight, max_waiting, {}}, nullptr, &dead_letters_, script_.Handler(),
        [this](const TopicPartition& p, int64_t next) { stored_.push_back({p, next}); });
    return *flow_;
  }

  // Turns the flow (as the consumer's loop does) until `done`, for at most 20 s.
  template <typename Done>
  bool TurnUntil(RecordFlow& flow, Done done) {
    const absl::Time limit = absl::Now() + absl::Seconds(20);
    while (absl::Now() < limit) {
      flow.Turn(stop_);
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return false;
  }

  // Ends every handler still at work before the flow goes (as the consumer's Run does), even when a
  // test failed midway.
  void TearDown() override {
    stop_.Stop();
    script_.ReleaseAll();
    flow_.reset();
  }

  Script script_;
  FakePublisher dead_letters_;
  StopToken stop_;
  std::vector<std::pair<TopicPartition, int64_t>> stored_;  // on the test's thread only: Turn stores
  std::unique_ptr<RecordFlow> flow_;
};

TEST_F(RecordFlowTest, AnOffsetIsStoredOnlyUpToTheLowestUnfinishedRecord) {
  RecordFlow* flow = &Make("offsets", 4);
  script_.Hold(0);
  flow->Receive(Record(kP0, 0, "acme"));
  flow->Receive(Record(kP0, 1, "globex"));
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 1; }));  // 1 ended; 0 is at work
  EXPECT_THAT(script_.handled(), ElementsAre(1));
  EXPECT_THAT(stored_, IsEmpty());  // storing 2 would lose 0 to a crash now
  script_.Release(0);
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 0; }));
  EXPECT_THAT(stored_, ElementsAre(std::pair{kP0, int64_t{2}}));
}

TEST_F(RecordFlowTest, RecordsOfOneKeyRunOneAtATimeInOrderWhileOtherKeysRunBeside) {
  RecordFlow* flow = &Make("keys", 4);
  script_.Hold(0);
  flow->Receive(Record(kP0, 0, "acme"));
  flow->Receive(Record(kP0, 1, "acme"));
  flow->Receive(Record(kP1, 0 + 2, "globex"));
  // globex runs while acme's first record waits; acme's second waits for its first. The flow has
  // reaped globex (and stored its offset) once only acme's first is at work: a handler that ended
  // after a turn's reaping is stored in a later turn.
  ASSERT_TRUE(TurnUntil(*flow, [&] { return script_.handled().size() == 1 && flow->running() == 1; }));
  EXPECT_THAT(script_.handled(), ElementsAre(2));
  EXPECT_EQ(script_.attempts(1), 0);
  script_.Release(0);
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 0 && flow->waiting() == 0; }));
  EXPECT_THAT(script_.handled(), ElementsAre(2, 0, 1));
  EXPECT_EQ(script_.most_at_work_per_key(), 1);
  EXPECT_THAT(stored_, ElementsAre(std::pair{kP1, int64_t{3}}, std::pair{kP0, int64_t{1}}, std::pair{kP0, int64_t{2}}));
}

// A worker's heartbeats of a database whose record waits (its server away) do not pile up behind
// that record: passed over on arrival, they never count towards holding the fetch, and the
// partition's offset still waits for the record at work.
TEST_F(RecordFlowTest, RecordsPassedOverAreDoneOnArrivalAndNeverWaitBehindTheirKey) {
  flow_ = std::make_unique<RecordFlow>(
      RecordFlow::Options{"pass", 4, 3, {}, [](const ConsumedRecord& r) { return r.payload == "heartbeat"; }},
      nullptr, &dead_letters_, script_.Handler(),
      [this](const TopicPartition& p, int64_t next) { stored_.push_back({p, next}); });
  RecordFlow* flow = flow_.get();
  script_.Hold(0);
  flow->Receive(Record(kP0, 0, "acme"));
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 1; }));
  for (int64_t offset = 1; offset <= 10; ++offset) {
    ConsumedRecord beat = Record(kP0, offset, "acme");
    beat.payload = "heartbeat";
    flow->Receive(beat);
  }
  flow->Receive(Record(kP0, 11, "globex"));
  EXPECT_EQ(flow->waiting(), 1u);
  EXPECT_FALSE(flow->ShouldHold(false)) << "ten heartbeats behind a waiting record hold nothing";
  ASSERT_TRUE(TurnUntil(*flow, [&] { return script_.handled().size() == 1; }));
  EXPECT_THAT(script_.handled(), ElementsAre(11));
  EXPECT_THAT(stored_, IsEmpty()) << "offset 0 is still at work";
  script_.Release(0);
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 0; }));
  EXPECT_THAT(script_.handled(), ElementsAre(11, 0));
  ASSERT_FALSE(stored_.empty());
  EXPECT_EQ(stored_.back(), (std::pair{kP0, int64_t{12}}));
}

TEST_F(RecordFlowTest, ARetryableFailureIsRetriedAndAPermanentOneGoesToTheDeadLetters) {
  RecordFlow* flow = &Make("failures", 2);
  script_.Answer(0, {absl::UnavailableError("database restarting")});
  script_.Answer(1, {absl::InvalidArgumentError("malformed order")});
  flow->Receive(Record(kP0, 0, "acme"));
  flow->Receive(Record(kP0, 1, "globex"));
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 0 && flow->waiting() == 0; }));
  EXPECT_EQ(script_.attempts(0), 2);  // failed once, then handled
  EXPECT_EQ(script_.attempts(1), 1);  // never retried
  EXPECT_THAT(script_.handled(), ElementsAre(0));
  ASSERT_EQ(dead_letters_.records.size(), 1u);
  EXPECT_EQ(dead_letters_.records[0].topic, topics::kDeadLetters);
  EXPECT_EQ(dead_letters_.records[0].key, "globex");
  upgrade::v1::DeadLetter letter;
  ASSERT_TRUE(letter.ParseFromString(dead_letters_.records[0].payload));
  EXPECT_EQ(letter.offset(), 1);
  EXPECT_EQ(letter.payload(), "payload of 1");
  EXPECT_EQ(letter.consumer_group(), "failures");
  EXPECT_THAT(letter.reason(), HasSubstr("malformed order"));
  EXPECT_EQ(stored_.back(), (std::pair{kP0, int64_t{2}}));
}

TEST_F(RecordFlowTest, ARecordWhoseDeadLetterCannotBeSentIsRetriedAndNotStored) {
  RecordFlow* flow = &Make("dlq-down", 1);
  dead_letters_.fail_with = absl::UnavailableError("broker down");
  script_.Answer(0, {absl::InvalidArgumentError("bad"), absl::InvalidArgumentError("bad"),
                     absl::InvalidArgumentError("bad")});
  flow->Receive(Record(kP0, 0, "acme"));
  ASSERT_TRUE(TurnUntil(*flow, [&] { return script_.attempts(0) >= 2; }));
  EXPECT_THAT(stored_, IsEmpty());
  EXPECT_THAT(dead_letters_.records, IsEmpty());
}

TEST_F(RecordFlowTest, ARevokedPartitionDropsItsWaitingRecordsStopsRetryingAndStoresNothing) {
  RecordFlow* flow = &Make("revoked", 1);
  script_.Answer(0, std::vector<absl::Status>(1000, absl::UnavailableError("not yet")));
  flow->Receive(Record(kP0, 0, "acme"));
  flow->Receive(Record(kP0, 1, "acme"));
  ASSERT_TRUE(TurnUntil(*flow, [&] { return script_.attempts(0) >= 1; }));
  flow->Revoke({kP0});
  EXPECT_EQ(flow->waiting(), 0u);  // its next owner receives offset 1 again
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 0; }));  // the retries stopped
  EXPECT_LT(script_.attempts(0), 1000);
  EXPECT_EQ(script_.attempts(1), 0);
  EXPECT_THAT(stored_, IsEmpty());
}

TEST_F(RecordFlowTest, StoppingAbandonsAFailingRecordWithoutStoringItsOffset) {
  RecordFlow* flow = &Make("stopping", 1);
  script_.Answer(0, std::vector<absl::Status>(1000, absl::UnavailableError("not yet")));
  flow->Receive(Record(kP0, 0, "acme"));
  flow->Receive(Record(kP0, 1, "globex"));
  ASSERT_TRUE(TurnUntil(*flow, [&] { return script_.attempts(0) >= 1; }));
  stop_.Stop();
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 0; }));
  EXPECT_EQ(script_.attempts(1), 0);  // nothing starts once stopped
  EXPECT_THAT(stored_, IsEmpty());
}

TEST_F(RecordFlowTest, HandlersAreCappedAtMaxInFlightTheRestWaitAndTheMetricsShowTheCap) {
  RecordFlow* flow = &Make("capped", 2, /*max_waiting=*/2);
  for (int64_t offset = 0; offset < 4; ++offset) {
    script_.Hold(offset);
    flow->Receive(Record(kP0, offset, "tenant" + std::to_string(offset)));
  }
  ASSERT_TRUE(TurnUntil(*flow, [&] { return script_.at_work() == 2; }));
  EXPECT_EQ(flow->running(), 2u);
  EXPECT_EQ(flow->waiting(), 2u);
  EXPECT_TRUE(flow->ShouldHold(false));  // the consumer pauses fetching
  std::string exposed = metrics::Default().Expose();
  EXPECT_THAT(exposed, HasSubstr("upshift_executor_tasks{executor=\"consumer:capped\"} 2\n"));
  EXPECT_THAT(exposed, HasSubstr("upshift_executor_capacity{executor=\"consumer:capped\"} 2\n"));
  for (int64_t offset = 0; offset < 4; ++offset) script_.Release(offset);
  ASSERT_TRUE(TurnUntil(*flow, [&] { return flow->running() == 0 && flow->waiting() == 0; }));
  EXPECT_EQ(script_.most_at_work(), 2);
  EXPECT_FALSE(flow->ShouldHold(true));
  EXPECT_EQ(stored_.back(), (std::pair{kP0, int64_t{4}}));
}

TEST(BoundedExecutor, RefusesATaskAtItsCapCountsItAndMakesRoomWhenOneEnds) {
  BoundedExecutor executor("unit-capped", 1);
  absl::Notification release, second_ran;
  ASSERT_TRUE(executor.TrySubmit([&] { release.WaitForNotification(); }));
  EXPECT_FALSE(executor.HasRoom());
  EXPECT_FALSE(executor.TrySubmit([] {}));
  EXPECT_THAT(metrics::Default().Expose(), HasSubstr("upshift_executor_refused_total{executor=\"unit-capped\"} 1\n"));
  release.Notify();
  const absl::Time limit = absl::Now() + absl::Seconds(20);
  while (!executor.HasRoom() && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(executor.TrySubmit([&] { second_ran.Notify(); }));
  EXPECT_TRUE(second_ran.WaitForNotificationWithTimeout(absl::Seconds(20)));
}

}  // namespace
}  // namespace upshift
