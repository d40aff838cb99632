#include "libs/kafka/consumer.h"

#include <librdkafka/rdkafkacpp.h>

#include <deque>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/time.h"
#include "libs/kafka/topics.h"
#include "upgrade/v1/events.pb.h"

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

// The consumer's partitions are paused while a handler runs (it keeps polling meanwhile). librdkafka
// keeps a partition's pause flag while the partition is not assigned: one paused during a handler and
// revoked before the handler ended (by a rebalance, or a session lost in a broker outage) would come
// back paused, and nothing would be fetched from it again. So this remembers what it paused, and each
// assignment sets the state of the partitions it adds: paused while a handler runs, and otherwise
// resumed if they were left paused. Partitions never paused are never resumed: a resume restarts
// the partition's fetch, dropping what was in flight. Used on the polling thread only (the
// rebalance callback runs inside consume()).
class Pauses : public RdKafka::RebalanceCb {
 public:
  void set_consumer(RdKafka::KafkaConsumer* consumer) { consumer_ = consumer; }

  // A handler starts (or ends) holding the partitions: pauses (resumes) every assigned partition.
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
      if (cooperative) {
        Check("assign", consumer->incremental_assign(partitions));
      } else {
        Check("assign", consumer->assign(partitions));
      }
      Set(partitions, holding_);
      return;
    }
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
  bool holding_ = false;
  std::set<std::pair<std::string, int32_t>> paused_;
};

}  // namespace

struct KafkaConsumer::Impl {
  std::string group_id;
  std::vector<std::string> topics;
  Publisher* dead_letters = nullptr;
  std::shared_ptr<const RecordVerifier> verifier;
  RecordHandler handler;
  ProgressReport progress;
  std::atomic<bool> handling{false};  // the handler is at work (not waiting to retry)
  Pauses pauses;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;  // declared last: it calls `pauses` until destroyed

  bool StoreOffset(const ConsumedRecord& r) {
    std::vector<RdKafka::TopicPartition*> offsets = {
        RdKafka::TopicPartition::create(r.topic, r.partition, r.offset + 1)};
    RdKafka::ErrorCode code = consumer->offsets_store(offsets);
    RdKafka::TopicPartition::destroy(offsets);
    if (code != RdKafka::ERR_NO_ERROR) {
      // Happens when the partition was revoked meanwhile: its new owner will see the record again.
      LogWarning(absl::StrCat("cannot store offset ", r.topic, "/", r.partition, "@", r.offset, ": ",
                              RdKafka::err2str(code)));
      return false;
    }
    return true;
  }

  absl::Status SendToDeadLetters(const ConsumedRecord& r, const absl::Status& reason) {
    upgrade::v1::DeadLetter letter;
    letter.set_origin_topic(r.topic);
    letter.set_partition(r.partition);
    letter.set_offset(r.offset);
    letter.set_key(r.key);
    letter.set_payload(r.payload);
    // No secret leaves in a reason (a libpq error may quote a connection string), and a reason is bounded.
    letter.set_reason(RedactSecrets(reason.ToString()).substr(0, 2000));
    letter.set_consumer_group(group_id);
    ToProto(absl::Now(), letter.mutable_occurred_at());
    return dead_letters->Publish(topics::kDeadLetters, r.key, letter.SerializeAsString());
  }

  // A record no trusted service signed for its topic is never handed to the handler.
  absl::Status Handle(const ConsumedRecord& r) {
    if (verifier != nullptr) {
      absl::Status verified = verifier->Verify(r.topic, r.key, r.payload, r.signer, r.signature, topics::SignersOf(r.topic));
      if (!verified.ok()) return verified;
    }
    return handler(r);
  }

  void Process(const ConsumedRecord& r, const std::atomic<bool>& stop) {
    for (int attempt = 0; !stop; ++attempt) {
      handling = true;
      absl::Status status = Handle(r);
      handling = false;
      if (status.ok()) {
        StoreOffset(r);
        return;
      }
      if (!IsRetryable(status)) {
        LogError(absl::StrCat("record ", r.topic, "/", r.partition, "@", r.offset,
                              " cannot be processed, sending it to the DLQ: ", status.ToString()));
        absl::Status sent = SendToDeadLetters(r, status);
        if (sent.ok()) {
          StoreOffset(r);
          return;
        }
        status = sent;
      }
      absl::Duration wait = Backoff(attempt);
      LogWarning(absl::StrCat("record ", r.topic, "/", r.partition, "@", r.offset, " will be retried in ",
                              absl::FormatDuration(wait), ": ", status.ToString()));
      absl::Time until = absl::Now() + wait;
      while (!stop && absl::Now() < until) absl::SleepFor(absl::Milliseconds(50));
    }
  }
};

absl::StatusOr<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Create(const KafkaOptions& options,
                                                                     const std::string& group_id,
                                                                     const std::vector<std::string>& topics,
                                                                     Publisher* dead_letters,
                                                                     RecordHandler handler,
                                                                     ProgressReport progress) {
  auto impl = std::make_unique<Impl>();
  impl->group_id = group_id;
  impl->topics = topics;
  impl->dead_letters = dead_letters;
  impl->verifier = options.verifier;
  impl->handler = std::move(handler);
  impl->progress = std::move(progress);
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
  RdKafka::ErrorCode code = impl->consumer->subscribe(topics);
  if (code != RdKafka::ERR_NO_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("kafka subscribe: ", RdKafka::err2str(code)));
  }
  return std::unique_ptr<KafkaConsumer>(new KafkaConsumer(std::move(impl)));
}

KafkaConsumer::KafkaConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaConsumer::~KafkaConsumer() = default;

void KafkaConsumer::Run(const std::atomic<bool>& stop) {
  // Records fetched while another was being handled (before the pause took effect): handled next, in
  // the order they came.
  std::deque<ConsumedRecord> pending;
  auto next = [&](int timeout_ms) -> std::optional<ConsumedRecord> {
    std::unique_ptr<RdKafka::Message> msg(impl_->consumer->consume(timeout_ms));
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
  };
  while (!stop) {
    std::optional<ConsumedRecord> record;
    if (!pending.empty()) {
      record = std::move(pending.front());
      pending.pop_front();
    } else {
      record = next(100);
    }
    if (!record.has_value()) continue;
    // The handler may run for hours (a long upgrade step). It runs on its own thread while this one
    // keeps polling, with the partitions paused, so the consumer stays in its group whatever
    // max.poll.interval.ms is.
    std::atomic<bool> done{false};
    std::thread worker([&] {
      impl_->Process(*record, stop);
      done = true;
    });
    bool paused = false;
    absl::Time started = absl::Now();
    absl::Time reported = started;
    while (!done) {
      if (impl_->progress.report && absl::Now() - reported >= impl_->progress.every) {
        reported = absl::Now();
        if (impl_->handling) impl_->progress.report(*record);
      }
      if (!paused && absl::Now() - started > absl::Milliseconds(200)) {
        impl_->pauses.HoldAssigned(true);
        paused = true;
      }
      if (!paused) {
        absl::SleepFor(absl::Milliseconds(5));
        continue;
      }
      if (std::optional<ConsumedRecord> more = next(100); more.has_value()) {
        pending.push_back(*std::move(more));  // fetched before the pause took effect
      }
    }
    worker.join();
    if (paused) impl_->pauses.HoldAssigned(false);
  }
  impl_->consumer->close();
}

}  // namespace upshift
