// The Kafka adapters against the devbroker process, over TCP.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/producer.h"
#include "libs/kafka/topics.h"
#include "libs/security/record_signature.h"
#include "tests/support/servers.h"
#include "tests/component/environment.h"
#include "tests/support/wait.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::testing {
namespace {

// A consumer loop on its own thread, stopped and joined when this goes away.
class RunningConsumer {
 public:
  RunningConsumer(const std::string& group, const std::vector<std::string>& topics, Publisher* dlq,
                  RecordHandler handler, ProgressReport progress = {},
                  std::shared_ptr<const RecordVerifier> verifier = nullptr,
                  const std::map<std::string, std::string>& properties = {}) {
    KafkaOptions options{Broker().bootstrap(), "test", LocalKafkaProperties()};
    for (const auto& [k, v] : properties) options.properties[k] = v;
    options.verifier = std::move(verifier);
    auto c = KafkaConsumer::Create(options, group, topics, dlq, std::move(handler), std::move(progress));
    EXPECT_TRUE(c.ok()) << c.status();
    consumer_ = *std::move(c);
    thread_ = std::thread([this] { consumer_->Run(stop_); });
  }
  ~RunningConsumer() { Stop(); }
  void Stop() {
    stop_.Stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  StopToken stop_;
  std::unique_ptr<KafkaConsumer> consumer_;
  std::thread thread_;
};

std::unique_ptr<KafkaProducer> Producer(std::shared_ptr<const RecordSigner> signer = nullptr) {
  KafkaOptions options{Broker().bootstrap(), "test", {}};
  options.signer = std::move(signer);
  auto p = KafkaProducer::Create(options, absl::Seconds(10));
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

std::shared_ptr<const RecordSigner> SignerOf(const std::string& dir, const std::string& service) {
  auto signer = RecordSigner::FromPemFile(service, absl::StrCat(dir, "/", service, ".key"));
  EXPECT_TRUE(signer.ok()) << signer.status();
  return signer.ok() ? *signer : nullptr;
}

// Only records that a service allowed on their topic signed reach the handler; the others go to
// the DLQ unread, each with the reason.
TEST(Kafka, OnlyRecordsSignedByAServiceAllowedOnTheTopicReachTheHandler) {
  const std::string keys = MakeTempDir("upshift-record-keys");
  const std::string rogue = MakeTempDir("upshift-rogue-keys");
  ASSERT_TRUE(WriteRecordKeys(keys, {"request", "cloner"}).ok());
  ASSERT_TRUE(WriteRecordKeys(rogue, {"request"}).ok());  // a key nobody trusts, claiming to be request
  auto verifier = RecordVerifier::FromDirectory(keys + "/trusted");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto as_request = Producer(SignerOf(keys, "request"));
  auto as_cloner = Producer(SignerOf(keys, "cloner"));
  auto as_rogue = Producer(SignerOf(rogue, "request"));
  auto unsigned_producer = Producer();
  std::string key = absl::StrCat("signed_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(as_request->Publish(topics::kOrders, key, "from request").ok());
  ASSERT_TRUE(as_cloner->Publish(topics::kOrders, key, "from the cloner, which may not write orders").ok());
  ASSERT_TRUE(as_rogue->Publish(topics::kOrders, key, "forged").ok());
  ASSERT_TRUE(unsigned_producer->Publish(topics::kOrders, key, "unsigned").ok());
  ASSERT_TRUE(as_request->Publish(topics::kOrders, key, "last").ok());

  std::mutex mu;
  std::vector<std::string> handled, signers;
  std::map<std::string, std::string> dead;  // payload -> reason
  RunningConsumer dlq_reader(absl::StrCat("dlq-", NewUpgradeId()), {topics::kDeadLetters}, nullptr,
                             [&](const ConsumedRecord& r) {
                               upgrade::v1::DeadLetter d;
                               std::lock_guard<std::mutex> lock(mu);
                               if (d.ParseFromString(r.payload) && d.key() == key) dead[d.payload()] = d.reason();
                               return absl::OkStatus();
                             });
  RunningConsumer consumer(
      absl::StrCat("g-", NewUpgradeId()), {topics::kOrders}, as_request.get(),
      [&](const ConsumedRecord& r) {
        std::lock_guard<std::mutex> lock(mu);
        if (r.key == key) {
          handled.push_back(r.payload);
          signers.push_back(r.signer);
        }
        return absl::OkStatus();
      },
      {}, *verifier);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return handled.size() == 2 && dead.size() == 3;
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(handled, (std::vector<std::string>{"from request", "last"}));
  EXPECT_EQ(signers, (std::vector<std::string>{"request", "request"}));
  EXPECT_NE(dead["unsigned"].find("not signed"), std::string::npos) << dead["unsigned"];
  EXPECT_NE(dead["forged"].find("valid signature"), std::string::npos) << dead["forged"];
  const std::string& moved = dead["from the cloner, which may not write orders"];
  EXPECT_NE(moved.find("signed by request, not by \"cloner\""), std::string::npos) << moved;
}

TEST(Kafka, RecordsOfOneKeyArriveInOrder) {
  auto producer = Producer();
  std::string key = absl::StrCat("db_", NewUpgradeId().substr(0, 8));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(producer->Publish(topics::kStatus, key, absl::StrCat(i)).ok());
  }
  std::mutex mu;
  std::vector<std::string> seen;
  RunningConsumer consumer(absl::StrCat("g-", NewUpgradeId()), {topics::kStatus}, producer.get(),
                           [&](const ConsumedRecord& r) {
                             std::lock_guard<std::mutex> lock(mu);
                             if (r.key == key) seen.push_back(r.payload);
                             return absl::OkStatus();
                           });
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() == 20;
  }));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(seen[i], absl::StrCat(i));
}

TEST(Kafka, ATransientFailureIsRetriedUntilItSucceeds) {
  auto producer = Producer();
  std::string key = absl::StrCat("retry_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(producer->Publish(topics::kEvents, key, "payload").ok());
  std::atomic<int> attempts{0};
  std::atomic<bool> done{false};
  RunningConsumer consumer(absl::StrCat("g-", NewUpgradeId()), {topics::kEvents}, producer.get(),
                           [&](const ConsumedRecord& r) {
                             if (r.key != key) return absl::OkStatus();
                             if (++attempts < 3) return absl::UnavailableError("database restarting");
                             done = true;
                             return absl::OkStatus();
                           });
  ASSERT_TRUE(WaitFor([&] { return done.load(); }));
  EXPECT_EQ(attempts.load(), 3);
}

// Progress is reported while the handler works, not while a failed attempt waits to be retried.
TEST(Kafka, ProgressIsReportedWhileTheHandlerWorks) {
  auto producer = Producer();
  std::string key = absl::StrCat("progress_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(producer->Publish(topics::kEvents, key, "long work").ok());
  std::atomic<int> attempts{0}, reports_while_failing{0}, reports_while_working{0};
  std::atomic<bool> done{false};
  RunningConsumer consumer(
      absl::StrCat("g-", NewUpgradeId()), {topics::kEvents}, producer.get(),
      [&](const ConsumedRecord& r) {
        if (r.key != key) return absl::OkStatus();
        if (++attempts <= 4) return absl::UnavailableError("failing at once, then backing off");
        absl::SleepFor(absl::Milliseconds(800));
        done = true;
        return absl::OkStatus();
      },
      {absl::Milliseconds(50), [&](const ConsumedRecord& r) {
         if (r.key != key || r.payload != "long work") return;
         ++(attempts <= 4 ? reports_while_failing : reports_while_working);
       }});
  ASSERT_TRUE(WaitFor([&] { return done.load(); }));
  EXPECT_EQ(reports_while_failing, 0);
  EXPECT_GE(reports_while_working, 4);
}

TEST(Kafka, APoisonRecordGoesToTheDeadLetterTopicWithItsOrigin) {
  auto producer = Producer();
  std::string key = absl::StrCat("poison_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(producer->Publish(topics::kOrders, key, "not a protobuf").ok());
  std::string group = absl::StrCat("g-", NewUpgradeId());
  std::mutex mu;
  std::vector<upgrade::v1::DeadLetter> letters;
  RunningConsumer dlq_reader(absl::StrCat("dlq-", NewUpgradeId()), {topics::kDeadLetters}, nullptr,
                             [&](const ConsumedRecord& r) {
                               upgrade::v1::DeadLetter d;
                               if (d.ParseFromString(r.payload) && d.key() == key) {
                                 std::lock_guard<std::mutex> lock(mu);
                                 letters.push_back(d);
                               }
                               return absl::OkStatus();
                             });
  std::atomic<int> calls{0};
  RunningConsumer consumer(group, {topics::kOrders}, producer.get(), [&](const ConsumedRecord& r) {
    if (r.key != key) return absl::OkStatus();
    ++calls;
    return absl::InvalidArgumentError("not an upgrade.v1.Event");
  });
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !letters.empty();
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(letters[0].origin_topic(), topics::kOrders);
  EXPECT_EQ(letters[0].payload(), "not a protobuf");
  EXPECT_EQ(letters[0].consumer_group(), group);
  EXPECT_NE(letters[0].reason().find("not an upgrade.v1.Event"), std::string::npos);
  EXPECT_GE(letters[0].offset(), 0);
  EXPECT_EQ(calls.load(), 1);  // handled once, not retried
}

TEST(Kafka, ARecordWhoseWorkDidNotFinishIsDeliveredAgainToTheGroup) {
  auto producer = Producer();
  std::string key = absl::StrCat("again_", NewUpgradeId().substr(0, 8));
  std::string group = absl::StrCat("g-", NewUpgradeId());
  ASSERT_TRUE(producer->Publish(topics::kEvents, key, "work").ok());
  std::atomic<bool> tried{false};
  {
    RunningConsumer first(group, {topics::kEvents}, producer.get(), [&](const ConsumedRecord& r) {
      if (r.key == key) tried = true;
      return r.key == key ? absl::UnavailableError("worker stops before finishing") : absl::OkStatus();
    });
    ASSERT_TRUE(WaitFor([&] { return tried.load(); }));
  }  // stopped with the record unfinished: its offset was not stored
  std::atomic<bool> done{false};
  RunningConsumer second(group, {topics::kEvents}, producer.get(), [&](const ConsumedRecord& r) {
    if (r.key == key) done = true;
    return absl::OkStatus();
  });
  EXPECT_TRUE(WaitFor([&] { return done.load(); }));
}

// A partition revoked while a long handler has the partitions paused, and assigned back after the
// handler ended, must be fetched again. (librdkafka keeps the pause flag of unassigned partitions.)
// A second member joining takes half the partitions away during the handler; leaving, it gives them
// back once the handler is done.
TEST(Kafka, PartitionsTakenAwayDuringALongHandlerAreFetchedWhenTheyComeBack) {
  auto producer = Producer();
  std::string run = NewUpgradeId().substr(0, 8);
  std::string group = absl::StrCat("g-", run);
  std::string long_key = absl::StrCat("long_", run);
  std::mutex mu;
  std::set<std::string> handled_by_first, handled_by_second;
  auto handled = [&](const std::set<std::string>& by) {
    std::lock_guard<std::mutex> lock(mu);
    return by.size();
  };
  // Keys spread over every partition (their partitioner is librdkafka's; 16 keys miss one of four
  // partitions with a probability below 1 %).
  auto publish_batch = [&](const std::string& batch) {
    for (int i = 0; i < 16; ++i) {
      ASSERT_TRUE(producer->Publish(topics::kEvents, absl::StrCat(batch, "_", run, "_", i), batch).ok());
    }
  };
  std::atomic<bool> in_long_handler{false}, release{false};
  RunningConsumer first(group, {topics::kEvents}, producer.get(), [&](const ConsumedRecord& r) {
    if (r.key == long_key) {
      in_long_handler = true;
      while (!release) absl::SleepFor(absl::Milliseconds(10));
    } else if (r.key.find(run) != std::string::npos) {
      std::lock_guard<std::mutex> lock(mu);
      handled_by_first.insert(r.key);
    }
    return absl::OkStatus();
  });
  // Released on every way out, before `first` is destroyed: a failed expectation below ends the
  // test instead of leaving the first member's handler, and so its destructor, waiting forever.
  absl::Cleanup release_on_exit = [&] { release = true; };
  ASSERT_TRUE(producer->Publish(topics::kEvents, long_key, "long").ok());
  ASSERT_TRUE(WaitFor([&] { return in_long_handler.load(); }));
  {
    RunningConsumer second(group, {topics::kEvents}, producer.get(), [&](const ConsumedRecord& r) {
      if (r.key.find(run) != std::string::npos && r.key != long_key) {
        std::lock_guard<std::mutex> lock(mu);
        handled_by_second.insert(r.key);
      }
      return absl::OkStatus();
    });
    publish_batch("during");
    // The second member has some partitions once it handles records; the first has the others, paused.
    // (The group needs two rebalances for that, the revocation and the reassignment; a loaded
    // machine can take a while.)
    ASSERT_TRUE(WaitFor([&] { return handled(handled_by_second) > 0; }, absl::Seconds(90)));
    release = true;
    ASSERT_TRUE(WaitFor([&] { return handled(handled_by_first) + handled(handled_by_second) >= 16; }));
  }  // the second member leaves: the first gets every partition back
  {
    std::lock_guard<std::mutex> lock(mu);
    handled_by_first.clear();
  }
  publish_batch("after");
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return std::count_if(handled_by_first.begin(), handled_by_first.end(),
                         [](const std::string& k) { return k.rfind("after_", 0) == 0; }) == 16;
  })) << handled(handled_by_first) << " of 16 records handled after the rebalance";
}

// A member stopped before its first assignment, or in the middle of a rebalance, leaves cleanly.
// (librdkafka 2.0.2 aborts in close() when a cooperative-sticky member has not yet been given an
// assignment, librdkafka#4312: a replica scaled down seconds after it started.)
TEST(Kafka, AMemberStoppedBeforeItsFirstAssignmentLeavesCleanly) {
  auto producer = Producer();
  std::string group = absl::StrCat("g-", NewUpgradeId());
  std::atomic<int> handled{0};
  auto count = [&](const ConsumedRecord&) {
    ++handled;
    return absl::OkStatus();
  };
  // The members already in the group notice a rebalance only at their next heartbeat: a newcomer
  // waits that long between its first answer from the group and its assignment. Stopped then, it
  // has joined but holds no assignment. The lifetimes sweep the join; the abort needs a SyncGroup
  // refused by a concurrent join, so before the fix about one run in three aborted here (the fault
  // suite's ScaleDownMidWork met it in CI).
  RunningConsumer first(group, {topics::kEvents}, producer.get(), count);
  RunningConsumer second(group, {topics::kEvents}, producer.get(), count);
  for (int lifetime_ms = 0; lifetime_ms < 1500; lifetime_ms += 100) {
    RunningConsumer brief(group, {topics::kEvents}, producer.get(), count);
    RunningConsumer brief2(group, {topics::kEvents}, producer.get(), count);
    absl::SleepFor(absl::Milliseconds(lifetime_ms));
  }  // each stopped: an abort would end this test binary
  // The group still works: a record published now is handled by a member that stayed.
  const int before = handled.load();
  ASSERT_TRUE(producer->Publish(topics::kEvents, absl::StrCat("after_", NewUpgradeId()), "x").ok());
  EXPECT_TRUE(WaitFor([&] { return handled.load() > before; }, absl::Seconds(30)));
}

TEST(Kafka, PublishFailsWhenNoBrokerAnswers) {
  auto p = KafkaProducer::Create({"127.0.0.1:" + std::to_string(FreePort()), "test", {}}, absl::Seconds(2));
  ASSERT_TRUE(p.ok());
  absl::Status s = (*p)->Publish(topics::kOrders, "k", "v");
  EXPECT_TRUE(s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kDeadlineExceeded) << s;
}

}  // namespace
}  // namespace upshift::testing
