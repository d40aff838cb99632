#include "libs/kafka/offset_tracker.h"

namespace upshift {

OffsetTracker::Ticket OffsetTracker::Received(const TopicPartition& partition, int64_t offset) {
  auto [it, added] = partitions_.try_emplace(partition);
  Partition& p = it->second;
  if (added) {
    p.epoch = ++epochs_;
    p.stored = offset;  // where reading began: no earlier offset is ever worth storing
  }
  p.unfinished.insert(offset);
  if (offset + 1 > p.next) p.next = offset + 1;
  return {partition, offset, p.epoch};
}

std::optional<int64_t> OffsetTracker::Finished(const Ticket& ticket) {
  if (!Current(ticket)) return std::nullopt;
  Partition& p = partitions_.at(ticket.partition);
  p.unfinished.erase(ticket.offset);
  int64_t storable = p.unfinished.empty() ? p.next : *p.unfinished.begin();
  if (storable <= p.stored) return std::nullopt;
  p.stored = storable;
  return storable;
}

void OffsetTracker::Forget(const TopicPartition& partition) { partitions_.erase(partition); }

bool OffsetTracker::Current(const Ticket& ticket) const {
  auto it = partitions_.find(ticket.partition);
  return it != partitions_.end() && it->second.epoch == ticket.epoch;
}

size_t OffsetTracker::Unfinished() const {
  size_t n = 0;
  for (const auto& [partition, p] : partitions_) n += p.unfinished.size();
  return n;
}

}  // namespace upshift
