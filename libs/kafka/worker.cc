#include "libs/kafka/worker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/logging.h"

namespace upshift {

absl::StatusOr<KafkaOptions> MakeKafkaOptions(std::string brokers, const std::vector<std::string>& properties,
                                              std::string client_id) {
  absl::StatusOr<std::map<std::string, std::string>> parsed = ParseKafkaProperties(properties);
  if (!parsed.ok()) return parsed.status();
  return KafkaOptions{std::move(brokers), std::move(client_id), *std::move(parsed)};
}

int RunConsumer(const KafkaOptions& options, const std::string& group, const std::vector<std::string>& topics,
                KafkaProducer& producer, RecordHandler handler, const std::atomic<bool>& stop) {
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer =
      KafkaConsumer::Create(options, group, topics, &producer, std::move(handler));
  if (!consumer.ok()) {
    LogError(consumer.status().ToString());
    return 2;
  }
  LogInfo(absl::StrCat("consuming ", absl::StrJoin(topics, ", "), " in group ", group));
  (*consumer)->Run(stop);
  consumer->reset();
  producer.Flush(absl::Seconds(5));
  LogInfo("stopped");
  return 0;
}

}  // namespace upshift
