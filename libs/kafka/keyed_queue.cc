#include "libs/kafka/keyed_queue.h"

#include <algorithm>

namespace upshift {

std::optional<QueuedRecord> KeyedQueue::Next() {
  // The first record of a key that is not at work is also the first waiting record of its key.
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (busy_.count(it->record.key) > 0) continue;
    QueuedRecord next = std::move(*it);
    waiting_.erase(it);
    busy_.insert(next.record.key);
    return next;
  }
  return std::nullopt;
}

size_t KeyedQueue::Drop(const TopicPartition& partition) {
  size_t before = waiting_.size();
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(),
                                [&](const QueuedRecord& r) { return r.ticket.partition == partition; }),
                 waiting_.end());
  return before - waiting_.size();
}

}  // namespace upshift
