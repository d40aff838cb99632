#include "libs/kafka/producer.h"

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "libs/common/stop_token.h"

namespace upshift {
namespace {

// One Publish call's wait for its records' delivery reports.
struct BatchWaiter {
  absl::Mutex mu;
  int pending ABSL_GUARDED_BY(mu) = 0;
  absl::Status status ABSL_GUARDED_BY(mu);

  void Done(const absl::Status& s) {
    absl::MutexLock lock(&mu);
    if (!s.ok() && status.ok()) status = s;
    --pending;
  }
  bool AllReported() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return pending == 0; }
};

class DeliveryReports final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    auto* waiter = static_cast<BatchWaiter*>(message.msg_opaque());
    if (waiter == nullptr) return;
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      waiter->Done(absl::OkStatus());
    } else {
      waiter->Done(absl::UnavailableError(absl::StrCat("kafka delivery to ", message.topic_name(),
                                                       " failed: ", RdKafka::err2str(message.err()))));
    }
  }
};

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseKafkaProperties(const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> out;
  for (const std::string& pair : pairs) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("kafka property \"", pair, "\" is not key=value"));
    }
    out[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return out;
}

struct KafkaProducer::Impl {
  DeliveryReports reports;
  std::unique_ptr<RdKafka::Producer> producer;
  StopToken stop;
  std::thread poller;
  absl::Duration delivery_timeout;
  std::shared_ptr<const RecordSigner> signer;

  ~Impl() {
    stop.Stop();
    if (poller.joinable()) poller.join();
    if (producer) producer->flush(5000);
  }
};

absl::StatusOr<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(const KafkaOptions& options,
                                                                     absl::Duration delivery_timeout) {
  auto impl = std::make_unique<Impl>();
  impl->delivery_timeout = delivery_timeout;
  impl->signer = options.signer;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", options.brokers},
      {"client.id", options.client_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "1"},
      {"message.timeout.ms", std::to_string(absl::ToInt64Milliseconds(delivery_timeout))},
  };
  for (const auto& [k, v] : options.properties) props[k] = v;
  for (const auto& [k, v] : props) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("kafka producer property ", k, ": ", err));
    }
  }
  if (conf->set("dr_cb", &impl->reports, err) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(err);
  }
  impl->producer.reset(RdKafka::Producer::create(conf.get(), err));
  if (!impl->producer) return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", err));
  Impl* raw = impl.get();
  impl->poller = std::thread([raw] {
    while (!raw->stop.stopped()) raw->producer->poll(100);
  });
  return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(impl)));
}

KafkaProducer::KafkaProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaProducer::~KafkaProducer() = default;

absl::Status KafkaProducer::Publish(const std::vector<OutgoingRecord>& records) {
  if (records.empty()) return absl::OkStatus();
  BatchWaiter waiter;
  {
    absl::MutexLock lock(&waiter.mu);
    waiter.pending = static_cast<int>(records.size());
  }
  int produced = 0;
  for (const OutgoingRecord& r : records) {
    RdKafka::ErrorCode code;
    for (;;) {
      // librdkafka owns the headers once the record is queued; until then they are ours to free.
      std::unique_ptr<RdKafka::Headers> headers;
      if (impl_->signer != nullptr) {
        headers.reset(RdKafka::Headers::create());
        std::string signature = impl_->signer->Sign(r.topic, r.key, r.payload);
        headers->add(kSignerHeader, impl_->signer->signer());
        headers->add(kSignatureHeader, signature.data(), signature.size());
      }
      code = impl_->producer->produce(r.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                      const_cast<char*>(r.payload.data()), r.payload.size(), r.key.data(),
                                      r.key.size(), 0, headers.get(), &waiter);
      if (code == RdKafka::ERR_NO_ERROR) headers.release();
      if (code != RdKafka::ERR__QUEUE_FULL) break;
      impl_->producer->poll(50);
    }
    if (code != RdKafka::ERR_NO_ERROR) {
      waiter.Done(absl::UnavailableError(absl::StrCat("kafka produce to ", r.topic, ": ", RdKafka::err2str(code))));
      // Records not handed to librdkafka will never report; account for them now.
      for (size_t rest = produced + 1; rest < records.size(); ++rest) waiter.Done(absl::OkStatus());
      break;
    }
    ++produced;
  }
  absl::MutexLock lock(&waiter.mu);
  const absl::Condition reported(&waiter, &BatchWaiter::AllReported);
  // librdkafka reports every produced record within message.timeout.ms; the margin covers the poller.
  if (!waiter.mu.AwaitWithTimeout(reported, impl_->delivery_timeout + absl::Seconds(5))) {
    // Cannot return while librdkafka may still touch `waiter`: wait for the reports without limit.
    waiter.mu.Await(reported);
    return absl::DeadlineExceededError("kafka delivery timed out");
  }
  return waiter.status;
}

absl::Status KafkaProducer::CheckBroker(absl::Duration timeout) {
  RdKafka::Metadata* metadata = nullptr;
  RdKafka::ErrorCode code =
      impl_->producer->metadata(/*all_topics=*/false, nullptr, &metadata, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  delete metadata;
  if (code != RdKafka::ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("kafka broker: ", RdKafka::err2str(code)));
  }
  return absl::OkStatus();
}

void KafkaProducer::Flush(absl::Duration timeout) {
  impl_->producer->flush(static_cast<int>(absl::ToInt64Milliseconds(timeout)));
}

}  // namespace upshift
