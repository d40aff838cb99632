#ifndef UPSHIFT_LIBS_KAFKA_OFFSET_TRACKER_H_
#define UPSHIFT_LIBS_KAFKA_OFFSET_TRACKER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace upshift {

// A partition of a topic.
using TopicPartition = std::pair<std::string, int32_t>;

// Which offset a consumer may store for each partition while its records finish out of order: one
// past every record received and finished, so never beyond the lowest unfinished one. A crash then
// loses nothing and repeats only what was unfinished (and, at most, what finished after it).
//
// A record is a Ticket from Received. A revoked partition is forgotten; the tickets of its records
// still at work go stale, and store nothing when they finish: the partition's next owner, perhaps
// this consumer again, starts from the last stored offset. Not thread-safe.
class OffsetTracker {
 public:
  struct Ticket {
    TopicPartition partition;
    int64_t offset = 0;
    uint64_t epoch = 0;  // which assignment of the partition the record was received in
  };

  // A record was received. Offsets of a partition come in increasing order within one assignment.
  Ticket Received(const TopicPartition& partition, int64_t offset);

  // The record of `ticket` finished (handled, or sent to the dead letters). Returns the offset to
  // store now when the partition's storable offset advanced; nothing when it did not, or when the
  // ticket is stale.
  std::optional<int64_t> Finished(const Ticket& ticket);

  // The partition was revoked (or lost): its unfinished records' tickets go stale.
  void Forget(const TopicPartition& partition);

  // Whether `ticket` was received in the partition's current assignment.
  bool Current(const Ticket& ticket) const;

  // Records received and not finished, over every partition.
  size_t Unfinished() const;

 private:
  struct Partition {
    uint64_t epoch = 0;
    std::set<int64_t> unfinished;
    int64_t next = -1;    // one past the highest offset received; -1 before the first
    int64_t stored = -1;  // the offset last returned to store, or the first received
  };
  std::map<TopicPartition, Partition> partitions_;
  uint64_t epochs_ = 0;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_OFFSET_TRACKER_H_
