// migrator: runs the catalog's upgrade plan inside each test copy, then neutralizes it.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/catalog/catalog.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/common/signals.h"
#include "libs/gate/grpc_gate.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "libs/pg/pg.h"
#include "services/migrator/migrator.h"
#include "services/migrator/pg_migration_target.h"

ABSL_FLAG(std::string, health_listen, "0.0.0.0:50062", "Address of the grpc.health.v1 server (port 0: any free port)");
ABSL_FLAG(absl::Duration, health_interval, absl::Seconds(2), "How often health probes the database and the broker");
ABSL_FLAG(std::string, kafka_brokers, "127.0.0.1:9092", "Kafka bootstrap servers");
ABSL_FLAG(std::vector<std::string>, kafka_properties, {},
          "Extra librdkafka properties as key=value,... (security, timeouts, debug)");
ABSL_FLAG(std::string, record_signing_key, "",
          "PEM file of this service's Ed25519 private key: every record it writes is signed with it");
ABSL_FLAG(std::string, record_trusted_keys, "",
          "Directory of the services' Ed25519 public keys (<service>.pem): a record not signed by a service "
          "allowed on its topic goes to the DLQ unread");
ABSL_FLAG(bool, insecure_unsigned_records, false,
          "Write records unsigned and consume them unchecked (development only; logged as a warning)");
ABSL_FLAG(std::string, hosting_db, "", "libpq connection string of the hosting server (no dbname)");
ABSL_FLAG(std::string, catalog, "", "Path of the migration catalog folder");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(10),
          "How often a heartbeat is sent while an upgrade is worked on, and a Production upgrade's lease "
          "renewed while its plan runs (keep well below status's --stall_timeout and the cloner's "
          "--migration_lease)");
ABSL_FLAG(std::string, request_addr, "127.0.0.1:50051", "Address of the request service (its UpgradeGate)");

namespace upshift::migrator {
namespace {

int Run(const std::atomic<bool>& stop) {
  absl::StatusOr<KafkaOptions> kafka =
      MakeKafkaOptions(absl::GetFlag(FLAGS_kafka_brokers), absl::GetFlag(FLAGS_kafka_properties), "migrator",
                       {absl::GetFlag(FLAGS_record_signing_key), absl::GetFlag(FLAGS_record_trusted_keys),
                        absl::GetFlag(FLAGS_insecure_unsigned_records)});
  absl::StatusOr<Catalog> catalog = Catalog::Load(absl::GetFlag(FLAGS_catalog));
  for (const absl::Status& s : {kafka.status(), catalog.status()}) {
    if (!s.ok()) {
      LogError(s.ToString());
      return 2;
    }
  }
  PgMigrationTarget target(absl::GetFlag(FLAGS_hosting_db));
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(*kafka);
  if (!producer.ok()) {
    LogError(producer.status().ToString());
    return 2;
  }
  LogInfo(absl::StrCat("catalog ", catalog->application(), " loaded"));
  GrpcGate gate(absl::GetFlag(FLAGS_request_addr), absl::Seconds(10));
  Migrator migrator(*catalog, target, **producer, gate, SystemClock(), absl::GetFlag(FLAGS_heartbeat_interval));
  std::string hosting_db = absl::GetFlag(FLAGS_hosting_db);
  WorkerHealth health{absl::GetFlag(FLAGS_health_listen),
                      {{"hosting server", [&] { return pg::PingServer(pg::ConnInfoFor(hosting_db, "postgres")); }}},
                      absl::GetFlag(FLAGS_health_interval)};
  return RunConsumer(*kafka, "upshift-migrator", {topics::kEvents}, **producer,
                     [&migrator](const ConsumedRecord& r) { return migrator.Handle(r); },
                     Heartbeats(**producer, "migrator", absl::GetFlag(FLAGS_heartbeat_interval)), std::move(health), stop);
}

}  // namespace
}  // namespace upshift::migrator

int main(int argc, char** argv) {
  upshift::ParseFlagsWithEnv(argc, argv);
  upshift::SetLogName("migrator");
  return upshift::migrator::Run(upshift::InstallStopSignals());
}
