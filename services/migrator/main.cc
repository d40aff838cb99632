// migrator: runs the catalog's upgrade plan inside each test copy, then neutralizes it.

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/catalog/catalog.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/common/signals.h"
#include "libs/common/tls_flags.h"
#include "libs/gate/claim_flags.h"
#include "libs/gate/grpc_gate.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "libs/pg/pg.h"
#include "services/migrator/migrator.h"
#include "services/migrator/pg_migration_target.h"

ABSL_FLAG(std::string, health_listen, "0.0.0.0:50062", "Address of the grpc.health.v1 server (port 0: any free port)");
ABSL_FLAG(absl::Duration, health_interval, absl::Seconds(2), "How often health probes the database and the broker");
ABSL_FLAG(std::string, hosting_db, "", "libpq connection string of the hosting server (no dbname)");
ABSL_FLAG(std::string, catalog, "", "Path of the migration catalog folder");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(10),
          "How often a heartbeat is sent while an upgrade is worked on, and a Production upgrade's lease "
          "renewed while its plan runs (keep well below status's --stall_timeout and the cloner's "
          "--migration_lease)");
ABSL_FLAG(std::string, gate_addr, "127.0.0.1:50053", "Address of request's UpgradeGate listener (mTLS)");

namespace upshift::migrator {
namespace {

int Run(const std::atomic<bool>& stop) {
  absl::StatusOr<KafkaOptions> kafka = KafkaOptionsFromFlags("migrator");
  absl::StatusOr<Catalog> catalog = Catalog::Load(absl::GetFlag(FLAGS_catalog));
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> serving = ServerCredentialsFromFlags();
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> calling = ChannelCredentialsFromFlags();
  absl::StatusOr<ClaimOptions> claims = ClaimOptionsFromFlags("migrator");
  if (claims.ok()) claims->stopping = &stop;
  for (const absl::Status& s : {kafka.status(), catalog.status(), serving.status(), calling.status(), claims.status()}) {
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
  GrpcGate request_gate(absl::GetFlag(FLAGS_gate_addr), absl::Seconds(10), *calling);
  CachingGate gate(request_gate);
  Migrator migrator(*catalog, target, **producer, gate, SystemClock(), absl::GetFlag(FLAGS_heartbeat_interval),
                    *claims);
  LogInfo(absl::StrCat("claims plans as ", claims->holder));
  std::string hosting_db = absl::GetFlag(FLAGS_hosting_db);
  WorkerHealth health{absl::GetFlag(FLAGS_health_listen),
                      *serving,
                      {{"hosting server", [&] { return pg::PingServer(pg::ConnInfoFor(hosting_db, "postgres")); }}},
                      absl::GetFlag(FLAGS_health_interval)};
  return RunConsumer(*kafka, "upshift-migrator", {topics::kEvents}, **producer,
                     [&migrator](const ConsumedRecord& r) { return migrator.Handle(r); },
                     Heartbeats(**producer, "migrator", absl::GetFlag(FLAGS_heartbeat_interval)), MaxInFlightFromFlags(),
                     std::move(health), stop);
}

}  // namespace
}  // namespace upshift::migrator

int main(int argc, char** argv) {
  upshift::ParseFlagsWithEnv(argc, argv);
  upshift::SetLogName("migrator");
  return upshift::migrator::Run(upshift::InstallStopSignals());
}
