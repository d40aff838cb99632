#include "libs/kafka/offset_tracker.h"

#include <gtest/gtest.h>

#include "libs/kafka/keyed_queue.h"

namespace upshift {
namespace {

const TopicPartition kP0{"upgrade.events", 0};
const TopicPartition kP1{"upgrade.events", 1};

TEST(OffsetTracker, StoresOnlyUpToTheLowestUnfinishedRecordWhenRecordsFinishOutOfOrder) {
  OffsetTracker t;
  OffsetTracker::Ticket a = t.Received(kP0, 10);
  OffsetTracker::Ticket b = t.Received(kP0, 11);
  OffsetTracker::Ticket c = t.Received(kP0, 12);
  EXPECT_EQ(t.Unfinished(), 3u);
  // 12 and 11 finish first: 10 is still at work, so nothing past it may be stored.
  EXPECT_EQ(t.Finished(c), std::nullopt);
  EXPECT_EQ(t.Finished(b), std::nullopt);
  // 10 finishes: everything received is done, so the next offset to read is stored.
  EXPECT_EQ(t.Finished(a), 13);
  EXPECT_EQ(t.Unfinished(), 0u);
  // Finishing a record twice changes nothing.
  EXPECT_EQ(t.Finished(a), std::nullopt);
}

TEST(OffsetTracker, AdvancesStepByStepAndKeepsPartitionsApart) {
  OffsetTracker t;
  OffsetTracker::Ticket a = t.Received(kP0, 0);
  OffsetTracker::Ticket b = t.Received(kP0, 1);
  OffsetTracker::Ticket c = t.Received(kP0, 2);
  OffsetTracker::Ticket other = t.Received(kP1, 7);
  EXPECT_EQ(t.Finished(a), 1);  // 1 is the lowest unfinished
  EXPECT_EQ(t.Finished(other), 8);
  EXPECT_EQ(t.Finished(c), std::nullopt);
  EXPECT_EQ(t.Finished(b), 3);
}

TEST(OffsetTracker, ARecordBeingRetriedHoldsItsPartitionsOffsetUntilItSucceeds) {
  OffsetTracker t;
  OffsetTracker::Ticket failing = t.Received(kP0, 5);
  OffsetTracker::Ticket later = t.Received(kP0, 6);
  EXPECT_EQ(t.Finished(later), std::nullopt);
  // Its handler fails, retryably, again and again: nothing is stored meanwhile, so a crash now
  // delivers offset 5 again (and 6, which is idempotent to repeat).
  OffsetTracker::Ticket next = t.Received(kP0, 7);
  EXPECT_EQ(t.Finished(next), std::nullopt);
  EXPECT_EQ(t.Unfinished(), 1u);
  EXPECT_EQ(t.Finished(failing), 8);  // it succeeded at last
}

TEST(OffsetTracker, ARevokeMidWorkMakesTheRunningRecordsStoreNothingEvenWhenThePartitionComesBack) {
  OffsetTracker t;
  OffsetTracker::Ticket running = t.Received(kP0, 20);
  OffsetTracker::Ticket done = t.Received(kP0, 21);
  OffsetTracker::Ticket elsewhere = t.Received(kP1, 3);
  EXPECT_EQ(t.Finished(done), std::nullopt);
  t.Forget(kP0);  // revoked while 20 runs
  EXPECT_FALSE(t.Current(running));
  EXPECT_TRUE(t.Current(elsewhere));
  EXPECT_EQ(t.Unfinished(), 1u);
  // The partition comes back (to this consumer) and is read again from the stored offset, 20.
  OffsetTracker::Ticket again = t.Received(kP0, 20);
  EXPECT_TRUE(t.Current(again));
  // The record of the old assignment ends: its ticket is stale, and it neither stores an offset
  // nor finishes the new assignment's record.
  EXPECT_EQ(t.Finished(running), std::nullopt);
  EXPECT_EQ(t.Unfinished(), 2u);
  EXPECT_EQ(t.Finished(again), 21);
  EXPECT_EQ(t.Finished(elsewhere), 4);
}

QueuedRecord Record(const TopicPartition& p, int64_t offset, const std::string& key, OffsetTracker& t) {
  QueuedRecord r;
  r.record.topic = p.first;
  r.record.partition = p.second;
  r.record.offset = offset;
  r.record.key = key;
  r.ticket = t.Received(p, offset);
  return r;
}

TEST(KeyedQueue, RunsDifferentKeysSideBySideAndEachKeysRecordsOneAtATimeInOrder) {
  OffsetTracker t;
  KeyedQueue q;
  q.Add(Record(kP0, 0, "acme", t));
  q.Add(Record(kP0, 1, "acme", t));
  q.Add(Record(kP0, 2, "globex", t));
  q.Add(Record(kP1, 0, "initech", t));
  std::optional<QueuedRecord> first = q.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->record.key, "acme");
  EXPECT_EQ(first->record.offset, 0);
  // acme's second record waits behind its first; the others go past it.
  std::optional<QueuedRecord> second = q.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->record.key, "globex");
  std::optional<QueuedRecord> third = q.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->record.key, "initech");
  EXPECT_FALSE(q.Next().has_value());
  EXPECT_EQ(q.busy(), 3u);
  EXPECT_EQ(q.waiting(), 1u);
  q.Done("acme");
  std::optional<QueuedRecord> fourth = q.Next();
  ASSERT_TRUE(fourth.has_value());
  EXPECT_EQ(fourth->record.key, "acme");
  EXPECT_EQ(fourth->record.offset, 1);
}

TEST(KeyedQueue, DropsTheWaitingRecordsOfARevokedPartitionOnly) {
  OffsetTracker t;
  KeyedQueue q;
  q.Add(Record(kP0, 0, "acme", t));
  q.Add(Record(kP0, 1, "acme", t));
  q.Add(Record(kP1, 0, "globex", t));
  std::optional<QueuedRecord> running = q.Next();  // acme@0 at work
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(q.Drop(kP0), 1u);  // acme@1 dropped; acme@0 keeps running
  EXPECT_EQ(q.waiting(), 1u);
  std::optional<QueuedRecord> next = q.Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->record.key, "globex");
  // The partition comes back and acme@1 is received again: it still waits for acme@0, which
  // belongs to the old assignment but still runs, so one database's records never overlap.
  q.Add(Record(kP0, 1, "acme", t));
  EXPECT_FALSE(q.Next().has_value());
  q.Done("acme");
  ASSERT_TRUE(q.Next().has_value());
}

}  // namespace
}  // namespace upshift
