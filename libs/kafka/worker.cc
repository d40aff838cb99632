#include "libs/kafka/worker.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"

#include "libs/common/logging.h"
#include "libs/kafka/events.h"

namespace upshift {

absl::Status CheckBrokerList(absl::string_view brokers) {
  if (brokers.empty()) return absl::InvalidArgumentError("--kafka_brokers is empty");
  for (absl::string_view broker : absl::StrSplit(brokers, ',')) {
    broker = absl::StripAsciiWhitespace(broker);
    absl::ConsumePrefix(&broker, "PLAINTEXT://") || absl::ConsumePrefix(&broker, "SSL://") ||
        absl::ConsumePrefix(&broker, "SASL_SSL://") || absl::ConsumePrefix(&broker, "SASL_PLAINTEXT://");
    size_t colon = broker.rfind(':');
    int port = 0;
    absl::string_view host = colon == absl::string_view::npos ? "" : broker.substr(0, colon);
    if (host.empty() || !absl::SimpleAtoi(broker.substr(colon + 1), &port) || port < 1 || port > 65535 ||
        host.find_first_of(" /@") != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kafka_brokers must be host:port[,host:port...], not \"", EscapeControl(brokers), "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<KafkaOptions> MakeKafkaOptions(std::string brokers, const std::vector<std::string>& properties,
                                              std::string client_id, const RecordKeyFiles& keys) {
  if (absl::Status s = CheckBrokerList(brokers); !s.ok()) return s;
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

HealthProbe BrokerProbe(KafkaProducer& producer, bool rpcs_survive) {
  return {"kafka broker", [&producer] { return producer.CheckBroker(absl::Seconds(2)); }, rpcs_survive};
}

}  // namespace upshift
