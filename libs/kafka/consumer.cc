#include "libs/kafka/consumer.h"

#include <librdkafka/rdkafkacpp.h>

#include <functional>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "libs/kafka/offset_tracker.h"
#include "libs/kafka/record_flow.h"
#include "libs/kafka/topics.h"
#include "libs/metrics/metrics.h"

namespace upshift {

namespace {

ConsumedRecord RecordOf(RdKafka::Message& msg) {
  ConsumedRecord r;
  r.topic = msg.topic_name();
  r.partition = msg.partition();
  r.offset = msg.offset();
  if (msg.key() != nullptr) r.key = *msg.key();
  if (msg.payload() != nullptr) r.payload.assign(static_cast<const char*>(msg.payload()), msg.len());
  if (RdKafka::Headers* headers = msg.headers(); headers != nullptr) {
    for (auto [name, field] : {std::pair{kSignerHeader, &r.signer}, std::pair{kSignatureHeader, &r.signature}}) {
      RdKafka::Headers::Header header = headers->get_last(name);
      if (header.err() == RdKafka::ERR_NO_ERROR && header.value() != nullptr) {
        field->assign(static_cast<const char*>(header.value()), header.value_size());
      }
    }
  }
  return r;
}

void Check(const char* what, RdKafka::ErrorCode code) {
  if (code != RdKafka::ERR_NO_ERROR) {
    LogWarning(absl::StrCat("kafka consumer: cannot ", what, ": ", RdKafka::err2str(code)));
  }
}

void Check(const char* what, RdKafka::Error* error) {
  if (error == nullptr) return;
  LogWarning(absl::StrCat("kafka consumer: cannot ", what, ": ", error->str()));
  delete error;
}

// Fetching is paused while the records waiting for a handler reach their bound (the consumer keeps
// polling meanwhile, to stay in its group). librdkafka keeps a partition's pause flag while the
// partition is not assigned: one paused and revoked before the wait ended (by a rebalance, or a
// session lost in a broker outage) would come back paused, and nothing would be fetched from it
// again. So this remembers what it paused, and each assignment sets the state of the partitions it
// adds: paused while holding, and otherwise resumed if they were left paused. Partitions never
// paused are never resumed: a resume restarts the partition's fetch, dropping what was in flight.
// Used on the polling thread only (the rebalance callback runs inside consume()).
class Pauses : public RdKafka::RebalanceCb {
 public:
  void set_consumer(RdKafka::KafkaConsumer* consumer) { consumer_ = consumer; }
  // Called with the partitions a rebalance takes away, before they go.
  void set_on_revoke(std::function<void(const std::vector<TopicPartition>&)> on_revoke) {
    on_revoke_ = std::move(on_revoke);
  }

  bool holding() const { return holding_; }

  // Whether the group gave this member an assignment (possibly empty) since it joined or last lost
  // its partitions. librdkafka 2.0.2 keeps the cooperative-sticky assignor's state only from then
  // on, and aborts in close() while it has none (librdkafka#4312, fixed in 2.2): close() is safe
  // only while this holds.
  bool assigned() const { return assigned_; }

  // Starts (or ends) holding: pauses (resumes) every assigned partition.
  void HoldAssigned(bool hold) {
    holding_ = hold;
    std::vector<RdKafka::TopicPartition*> partitions;
    if (consumer_->assignment(partitions) != RdKafka::ERR_NO_ERROR) return;
    Set(partitions, hold);
    RdKafka::TopicPartition::destroy(partitions);
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      assigned_ = true;
      if (cooperative) {
        Check("assign", consumer->incremental_assign(partitions));
      } else {
        Check("assign", consumer->assign(partitions));
      }
      Set(partitions, holding_);
      return;
    }
    std::vector<TopicPartition> revoked;
    if (cooperative) {
      for (RdKafka::TopicPartition* p : partitions) revoked.emplace_back(p->topic(), p->partition());
    } else {
      // Eager: everything assigned goes, whatever the list says.
      std::vector<RdKafka::TopicPartition*> assigned;
      if (consumer->assignment(assigned) == RdKafka::ERR_NO_ERROR) {
        for (RdKafka::TopicPartition* p : assigned) revoked.emplace_back(p->topic(), p->partition());
        RdKafka::TopicPartition::destroy(assigned);
      }
    }
    if (on_revoke_) on_revoke_(revoked);
    if (consumer->assignment_lost()) assigned_ = false;  // the assignor's state goes with them
    if (cooperative) {
      Check("unassign", consumer->incremental_unassign(partitions));
    } else {
      Check("unassign", consumer->unassign());
    }
  }

 private:
  void Set(const std::vector<RdKafka::TopicPartition*>& partitions, bool paused) {
    std::vector<RdKafka::TopicPartition*> changed;
    for (RdKafka::TopicPartition* p : partitions) {
      std::pair<std::string, int32_t> key(p->topic(), p->partition());
      if (paused ? paused_.insert(key).second : paused_.erase(key) > 0) changed.push_back(p);
    }
    if (changed.empty()) return;
    Check(paused ? "pause partitions" : "resume partitions",
          paused ? consumer_->pause(changed) : consumer_->resume(changed));
  }

  RdKafka::KafkaConsumer* consumer_ = nullptr;
  std::function<void(const std::vector<TopicPartition>&)> on_revoke_;
  bool holding_ = false;
  bool assigned_ = false;
  std::set<std::pair<std::string, int32_t>> paused_;
};

}  // namespace

// The broker's side of a consumer: librdkafka's polling, rebalances and offsets, around a RecordFlow
// that holds the at-least-once rules.
struct KafkaConsumer::Impl {
  std::string group_id;
  std::vector<std::string> topics;
  // The polling thread's own (the rebalance callback runs on it too).
  std::unique_ptr<RecordFlow> flow;
  Pauses pauses;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;  // declared last: it calls `pauses` until destroyed

  void StoreOffset(const TopicPartition& partition, int64_t next) {
    std::vector<RdKafka::TopicPartition*> offsets = {
        RdKafka::TopicPartition::create(partition.first, partition.second, next)};
    RdKafka::ErrorCode code = consumer->offsets_store(offsets);
    RdKafka::TopicPartition::destroy(offsets);
    if (code != RdKafka::ERR_NO_ERROR) {
      // Happens when the partition was revoked meanwhile: its new owner will see the records again.
      LogWarning(absl::StrCat("cannot store offset ", partition.first, "/", partition.second, "@", next, ": ",
                              RdKafka::err2str(code)));
    }
  }

  // Pauses fetching while enough records wait, and resumes it once half of them went.
  void Hold(bool stopping) {
    bool hold = stopping || flow->ShouldHold(pauses.holding());
    if (hold != pauses.holding()) pauses.HoldAssigned(hold);
  }

  std::optional<ConsumedRecord> Next(int timeout_ms) {
    std::unique_ptr<RdKafka::Message> msg(consumer->consume(timeout_ms));
    switch (msg->err()) {
      case RdKafka::ERR_NO_ERROR:
        return RecordOf(*msg);
      case RdKafka::ERR__TIMED_OUT:
      case RdKafka::ERR__PARTITION_EOF:
        return std::nullopt;
      default:
        LogWarning(absl::StrCat("kafka consumer: ", msg->errstr()));
        return std::nullopt;
    }
  }
};

absl::StatusOr<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Create(const KafkaOptions& options,
                                                                     const std::string& group_id,
                                                                     const std::vector<std::string>& topics,
                                                                     Publisher* dead_letters,
                                                                     RecordHandler handler,
                                                                     ProgressReport progress, int max_in_flight,
                                                                     std::function<bool(const ConsumedRecord&)> pass_over) {
  if (max_in_flight < 1) return absl::InvalidArgumentError("a consumer's max_in_flight must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->group_id = group_id;
  impl->topics = topics;
  Impl* raw = impl.get();
  RecordFlow::Options flow_options{group_id, max_in_flight, std::max<size_t>(100, 4 * static_cast<size_t>(max_in_flight)),
                                   std::move(progress), std::move(pass_over)};
  impl->flow = std::make_unique<RecordFlow>(
      std::move(flow_options), options.verifier, dead_letters, std::move(handler),
      [raw](const TopicPartition& partition, int64_t next) { raw->StoreOffset(partition, next); });
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  if (conf->set("rebalance_cb", &impl->pauses, err) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka consumer rebalance callback: ", err));
  }
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", options.brokers},
      {"client.id", options.client_id},
      {"group.id", group_id},
      {"enable.auto.offset.store", "false"},
      {"enable.auto.commit", "true"},
      {"auto.commit.interval.ms", "500"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      // A replica joining or leaving takes over only the partitions that must move, so the others'
      // work goes on undisturbed.
      {"partition.assignment.strategy", "cooperative-sticky"},
  };
  for (const auto& [k, v] : options.properties) props[k] = v;
  for (const auto& [k, v] : props) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("kafka consumer property ", k, ": ", err));
    }
  }
  impl->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl->consumer) return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", err));
  impl->pauses.set_consumer(impl->consumer.get());
  impl->pauses.set_on_revoke([raw](const std::vector<TopicPartition>& revoked) { raw->flow->Revoke(revoked); });
  RdKafka::ErrorCode code = impl->consumer->subscribe(topics);
  if (code != RdKafka::ERR_NO_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("kafka subscribe: ", RdKafka::err2str(code)));
  }
  return std::unique_ptr<KafkaConsumer>(new KafkaConsumer(std::move(impl)));
}

KafkaConsumer::KafkaConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaConsumer::~KafkaConsumer() = default;

void KafkaConsumer::Run(const StopToken& stop) {
  Impl& c = *impl_;
  // Handlers may run for hours (a long upgrade step). Each runs on a thread of its own while this one
  // keeps polling, so the consumer stays in its group whatever max.poll.interval.ms is.
  metrics::Family& in_flight = metrics::Default().Gauge(
      "upshift_consumer_records_in_flight", "Records at their handler in this replica, by consumer group", {"group"});
  metrics::Family& waiting = metrics::Default().Gauge(
      "upshift_consumer_records_waiting", "Records fetched and waiting for a handler in this replica, by consumer group",
      {"group"});
  while (!stop.stopped()) {
    c.flow->Turn(stop);
    c.Hold(false);
    in_flight.Set({c.group_id}, static_cast<double>(c.flow->running()));
    waiting.Set({c.group_id}, static_cast<double>(c.flow->waiting()));
    if (std::optional<ConsumedRecord> record = c.Next(c.flow->running() == 0 ? 100 : 10); record.has_value()) {
      c.flow->Receive(*std::move(record));
    }
  }
  // Stopping: nothing more starts; the handlers at work end (their retries stop), and their offsets
  // are stored, while polling goes on to keep the group membership.
  c.Hold(true);
  while (c.flow->running() > 0) {
    c.flow->Turn(stop);
    c.Next(10);
  }
  // A member stopped right after it started (a replica scaled down at once) may still be joining:
  // it waits, a bounded time, for the group's answer (see Pauses::assigned).
  const absl::Time joined_by = absl::Now() + absl::Seconds(15);
  while (!c.pauses.assigned() && absl::Now() < joined_by) c.Next(10);
  if (c.pauses.assigned()) {
    c.consumer->close();
  } else {
    // Leaving without close(): nothing of this member's was stored, and the group notices it gone
    // after session.timeout.ms, as after a crash.
    LogWarning(absl::StrCat("kafka consumer ", c.group_id,
                            ": the group gave no assignment before stopping; leaving without close"));
  }
}

}  // namespace upshift
