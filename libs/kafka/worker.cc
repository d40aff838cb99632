#include "libs/kafka/worker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include <thread>

#include "libs/common/grpc_util.h"
#include "libs/common/logging.h"
#include "libs/kafka/events.h"

namespace upshift {

absl::StatusOr<KafkaOptions> MakeKafkaOptions(std::string brokers, const std::vector<std::string>& properties,
                                              std::string client_id, const RecordKeyFiles& keys) {
  absl::StatusOr<std::map<std::string, std::string>> parsed = ParseKafkaProperties(properties);
  if (!parsed.ok()) return parsed.status();
  KafkaOptions options{std::move(brokers), client_id, *std::move(parsed)};
  if (keys.insecure) {
    LogWarning("--insecure_unsigned_records: records are written unsigned and consumed unchecked; anyone who "
               "can write to the broker can forge them. Never run so in production.");
    return options;
  }
  if (keys.signing_key.empty() || keys.trusted_keys.empty()) {
    return absl::InvalidArgumentError(
        "--record_signing_key and --record_trusted_keys are required (records are signed and checked); "
        "--insecure_unsigned_records turns that off");
  }
  absl::StatusOr<std::shared_ptr<const RecordSigner>> signer = RecordSigner::FromPemFile(client_id, keys.signing_key);
  if (!signer.ok()) return signer.status();
  absl::StatusOr<std::shared_ptr<const RecordVerifier>> verifier = RecordVerifier::FromDirectory(keys.trusted_keys);
  if (!verifier.ok()) return verifier.status();
  options.signer = *std::move(signer);
  options.verifier = *std::move(verifier);
  return options;
}

ProgressReport Heartbeats(KafkaProducer& producer, std::string source, absl::Duration every) {
  return {every, [&producer, source = std::move(source)](const ConsumedRecord& record) {
            if (absl::Status s = PublishHeartbeat(producer, record, source, absl::Now()); !s.ok()) {
              LogWarning(absl::StrCat("heartbeat: ", s.ToString()));
            }
          }};
}

int RunConsumer(const KafkaOptions& options, const std::string& group, const std::vector<std::string>& topics,
                KafkaProducer& producer, RecordHandler handler, ProgressReport progress, int max_in_flight,
                WorkerHealth health, const std::atomic<bool>& stop) {
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer = KafkaConsumer::Create(
      options, group, topics, &producer, std::move(handler), std::move(progress), max_in_flight);
  if (!consumer.ok()) {
    LogError(consumer.status().ToString());
    return 2;
  }
  int port = 0;
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartGrpcServer(health.listen, {}, health.credentials, &port);
  if (!server.ok()) {
    LogError(absl::StrCat("health server: ", server.status().ToString()));
    return 1;
  }
  health.probes.push_back({"kafka broker", [&producer] { return producer.CheckBroker(absl::Seconds(2)); }});
  std::thread monitor([&] { MonitorHealth(**server, health.probes, {}, health.interval, stop); });
  LogInfo(absl::StrCat("consuming ", absl::StrJoin(topics, ", "), " in group ", group, ", up to ", max_in_flight,
                      " at once; health on port ", port));
  (*consumer)->Run(stop);
  monitor.join();
  (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  consumer->reset();
  producer.Flush(absl::Seconds(5));
  LogInfo("stopped");
  return 0;
}

}  // namespace upshift
