#include "services/cloner/config.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/common/tls_flags.h"
#include "libs/gate/claim_flags.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/worker.h"

ABSL_FLAG(std::string, health_listen, "0.0.0.0:50061", "Address of the grpc.health.v1 server (port 0: any free port)");
ABSL_FLAG(std::string, platform_db, "", "Required: libpq connection string of the platform database");
ABSL_FLAG(std::string, gate_addr, "127.0.0.1:50053", "Address of request's UpgradeGate listener (mTLS)");
ABSL_FLAG(std::vector<std::string>, reserved_databases, {"upshift"}, "Databases of the platform, never touched");
ABSL_FLAG(std::string, clone_method, "auto",
          "auto (template, or dump/restore while the source is in use), template, or dump");
ABSL_FLAG(std::string, template_strategy, "auto",
          "CREATE DATABASE strategy: file_copy, wal_log, or auto (wal_log below --file_copy_from_mb on disk)");
ABSL_FLAG(int64_t, file_copy_from_mb, 128, "With --template_strategy=auto: databases this large are copied with file_copy");
ABSL_FLAG(std::string, pg_bin_dir, "", "Directory of pg_dump and pg_restore (default: PATH)");
ABSL_FLAG(absl::Duration, restore_point_retention, absl::Hours(24 * 7),
          "How long the restore point of a successful Production upgrade is kept");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Seconds(30),
          "How often expired restore points and stalled Production upgrades are looked for");
ABSL_FLAG(absl::Duration, applied_events_retention, absl::Hours(24 * 90),
          "How long the ids of the events the cloner acted on are kept, so that a replay changes nothing");
ABSL_FLAG(int, max_test_copies, 5, "Test copies kept per database; making one more drops the oldest");
ABSL_FLAG(absl::Duration, test_copy_ttl, absl::Hours(24 * 30), "A test copy is dropped this long after it was made");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(10),
          "How often a heartbeat is sent while an upgrade is worked on (keep well below status's --stall_timeout)");
ABSL_FLAG(int, max_concurrent_copies, 2,
          "Test and check copies made at once by this replica (each reads and writes a whole database on the "
          "hosting server); at most --max_in_flight");
ABSL_FLAG(absl::Duration, migration_lease, absl::Minutes(10),
          "A Production upgrade whose migrator sent no heartbeat for this long is rolled back");

namespace upshift::cloner {

absl::StatusOr<Config> ConfigFromFlags() {
  absl::StatusOr<KafkaOptions> kafka = KafkaOptionsFromFlags("cloner");
  if (!kafka.ok()) return kafka.status();
  Config c{*kafka,
           absl::GetFlag(FLAGS_platform_db),
           {"", absl::GetFlag(FLAGS_reserved_databases), absl::GetFlag(FLAGS_pg_bin_dir),
            absl::Hours(6)},
           {},
           absl::GetFlag(FLAGS_sweep_interval),
           absl::GetFlag(FLAGS_gate_addr)};
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> serving = ServerCredentialsFromFlags();
  if (!serving.ok()) return serving.status();
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> calling = ChannelCredentialsFromFlags();
  if (!calling.ok()) return calling.status();
  c.serving = *std::move(serving);
  c.calling = *std::move(calling);
  c.health_listen = absl::GetFlag(FLAGS_health_listen);
  c.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  c.options.restore_point_retention = absl::GetFlag(FLAGS_restore_point_retention);
  c.options.migration_lease = absl::GetFlag(FLAGS_migration_lease);
  c.options.max_test_copies = absl::GetFlag(FLAGS_max_test_copies);
  c.options.test_copy_ttl = absl::GetFlag(FLAGS_test_copy_ttl);
  c.options.applied_events_retention = absl::GetFlag(FLAGS_applied_events_retention);
  c.options.reserved = absl::GetFlag(FLAGS_reserved_databases);
  absl::StatusOr<ClaimOptions> claims = ClaimOptionsFromFlags("cloner");
  if (!claims.ok()) return claims.status();
  c.options.claims = *std::move(claims);
  c.options.max_concurrent_copies = absl::GetFlag(FLAGS_max_concurrent_copies);
  if (c.options.max_concurrent_copies < 1) return absl::InvalidArgumentError("--max_concurrent_copies must be at least 1");
  // Each record at work may hold a session to the maintenance database, and the sweeper one more.
  c.hosting.admin_sessions = MaxInFlightFromFlags() + 1;
  if (c.options.max_test_copies < 1) return absl::InvalidArgumentError("--max_test_copies must be at least 1");
  std::string method = absl::GetFlag(FLAGS_clone_method);
  if (method == "auto") {
    c.options.method = CloneMethod::kAuto;
  } else if (method == "template") {
    c.options.method = CloneMethod::kTemplate;
  } else if (method == "dump") {
    c.options.method = CloneMethod::kDump;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--clone_method must be auto, template or dump, not ", method));
  }
  c.options.template_strategy = absl::GetFlag(FLAGS_template_strategy);
  if (c.options.template_strategy != "file_copy" && c.options.template_strategy != "wal_log" &&
      c.options.template_strategy != "auto") {
    return absl::InvalidArgumentError("--template_strategy must be auto, file_copy or wal_log");
  }
  if (absl::GetFlag(FLAGS_file_copy_from_mb) < 0) return absl::InvalidArgumentError("--file_copy_from_mb must be >= 0");
  c.options.file_copy_from_bytes = absl::GetFlag(FLAGS_file_copy_from_mb) << 20;
  return c;
}

}  // namespace upshift::cloner
