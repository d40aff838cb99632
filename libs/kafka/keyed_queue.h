#ifndef UPSHIFT_LIBS_KAFKA_KEYED_QUEUE_H_
#define UPSHIFT_LIBS_KAFKA_KEYED_QUEUE_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <set>
#include <string>

#include "libs/kafka/consumer.h"
#include "libs/kafka/offset_tracker.h"

namespace upshift {

// A received record waiting for, or at, its handler.
struct QueuedRecord {
  ConsumedRecord record;
  OffsetTracker::Ticket ticket;
};

// Records waiting to be handled, in the order they came, handed out so that records of one key (a
// database) never run at once and run in the order they came, while records of different keys
// run side by side. Not thread-safe.
class KeyedQueue {
 public:
  void Add(QueuedRecord record) { waiting_.push_back(std::move(record)); }

  // The first waiting record whose key is not at work, and which no earlier waiting record of its
  // key precedes; its key is at work from then until Done. Nothing when every key is busy.
  std::optional<QueuedRecord> Next();

  // The record of `key` handed out by Next finished.
  void Done(const std::string& key) { busy_.erase(key); }

  // Drops the waiting records of `partition` (revoked: its next owner receives them again).
  // Records already handed out are not affected. Returns how many were dropped.
  size_t Drop(const TopicPartition& partition);

  size_t waiting() const { return waiting_.size(); }
  size_t busy() const { return busy_.size(); }

 private:
  std::deque<QueuedRecord> waiting_;
  std::set<std::string> busy_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_KEYED_QUEUE_H_
