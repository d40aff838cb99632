// migrator: runs the catalog's upgrade plan inside each test copy, then neutralizes it.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/catalog/catalog.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/common/signals.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/topics.h"
#include "services/migrator/migrator.h"
#include "services/migrator/pg_migration_target.h"

ABSL_FLAG(std::string, kafka_brokers, "127.0.0.1:9092", "Kafka bootstrap servers");
ABSL_FLAG(std::vector<std::string>, kafka_properties, {},
          "Extra librdkafka properties as key=value,... (security, timeouts, debug)");
ABSL_FLAG(std::string, hosting_db, "", "libpq connection string of the hosting server (no dbname)");
ABSL_FLAG(std::string, catalog, "", "Path of the migration catalog folder");

namespace upshift::migrator {
namespace {

struct Config {
  std::string kafka_brokers, hosting_db, catalog;
};

int Run(const Config& config, const std::atomic<bool>& stop) {
  absl::StatusOr<Catalog> catalog = Catalog::Load(config.catalog);
  if (!catalog.ok()) {
    LogError(absl::StrCat("cannot load the catalog: ", catalog.status().ToString()));
    return 2;
  }
  PgMigrationTarget target(config.hosting_db);
  absl::StatusOr<std::map<std::string, std::string>> kafka_properties =
      ParseKafkaProperties(absl::GetFlag(FLAGS_kafka_properties));
  if (!kafka_properties.ok()) {
    LogError(kafka_properties.status().ToString());
    return 2;
  }
  KafkaOptions kafka{config.kafka_brokers, "migrator", *kafka_properties};
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(kafka);
  if (!producer.ok()) {
    LogError(producer.status().ToString());
    return 2;
  }
  Migrator migrator(*catalog, target, **producer, SystemClock());
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer =
      KafkaConsumer::Create(kafka, "upshift-migrator", {topics::kEvents}, producer->get(),
                            [&migrator](const ConsumedRecord& r) { return migrator.Handle(r); });
  if (!consumer.ok()) {
    LogError(consumer.status().ToString());
    return 2;
  }
  LogInfo(absl::StrCat("catalog ", catalog->application(), " loaded; consuming upgrade.events"));
  (*consumer)->Run(stop);
  StartShutdownWatchdog(absl::Seconds(20));
  consumer->reset();
  (*producer)->Flush(absl::Seconds(5));
  LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace upshift::migrator

int main(int argc, char** argv) {
  upshift::ParseFlagsWithEnv(argc, argv);
  upshift::SetLogName("migrator");
  const std::atomic<bool>& stop = upshift::InstallStopSignals();
  return upshift::migrator::Run({absl::GetFlag(FLAGS_kafka_brokers), absl::GetFlag(FLAGS_hosting_db),
                                 absl::GetFlag(FLAGS_catalog)},
                                stop);
}
