#include "services/request/config.h"

#include "absl/flags/flag.h"
#include "libs/common/tls_flags.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address (port 0: any free port)");
ABSL_FLAG(std::string, gate_listen, "0.0.0.0:50053",
          "Listen address of UpgradeGate, for the workers only: mTLS, clients need a certificate of --tls_ca");
ABSL_FLAG(std::string, port_file, "", "If set, the bound gRPC port is written there");
ABSL_FLAG(std::string, platform_db, "", "Required: libpq connection string of the platform database");
ABSL_FLAG(std::vector<std::string>, reserved_databases, {"upshift"},
          "Databases of the platform on the hosting server, never upgraded");
ABSL_FLAG(std::string, catalog, "", "Required: path of the migration catalog folder");
ABSL_FLAG(int, pool_size, 8, "PostgreSQL connections to the platform database");
ABSL_FLAG(absl::Duration, max_test_age, absl::Hours(24 * 30),
          "A Production upgrade needs a successful Test to the same version at most this old");
ABSL_FLAG(int, orders_per_tenant_per_hour, 60,
          "Orders and checks one tenant may make per hour on this replica (operators are not limited; 0: no limit)");
ABSL_FLAG(int, order_burst_per_tenant, 10, "Orders and checks one tenant may make at once before the hourly rate applies");
ABSL_FLAG(int, reads_per_tenant_per_minute, 120,
          "GetUpgradeOptions calls (each reads the customer's database) one tenant may make per minute on this "
          "replica (operators are not limited; 0: no limit)");
ABSL_FLAG(int, read_burst_per_tenant, 20, "GetUpgradeOptions calls one tenant may make at once before the rate applies");
ABSL_FLAG(int, max_database_reads, 8,
          "Reads inside customer databases (the version query) this replica runs at once; more wait up to 2 s, "
          "then get RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, database_read_timeout, absl::Seconds(5),
          "How long one read inside a customer database may take, lock waits included (then DEADLINE_EXCEEDED)");
ABSL_FLAG(std::vector<std::string>, gate_cloner_names, (std::vector<std::string>{"cloner", "upshift-cloner"}),
          "Names (a certificate's CN or DNS SAN) of the cloner's client certificate: the gate serves it the cloner's work only");
ABSL_FLAG(std::vector<std::string>, gate_migrator_names, (std::vector<std::string>{"migrator", "upshift-migrator"}),
          "Names (a certificate's CN or DNS SAN) of the migrator's client certificate: the gate serves it the migrator's work only");
ABSL_FLAG(std::vector<std::string>, gate_status_names, (std::vector<std::string>{"status", "upshift-status"}),
          "Names (a certificate's CN or DNS SAN) of status's client certificate: the gate lets it read orders only");
ABSL_FLAG(std::vector<std::string>, gate_notifier_names, (std::vector<std::string>{"notifier", "upshift-notifier"}),
          "Names (a certificate's CN or DNS SAN) of the notifier's client certificate: the gate lets it read orders only");
ABSL_FLAG(absl::Duration, test_copy_extension, absl::Hours(24 * 30),
          "How far one ExtendTestCopy pushes a test copy's expiry (past the later of now and its current expiry)");
ABSL_FLAG(absl::Duration, audit_retention, absl::Hours(24 * 365),
          "How long the audit trail keeps a record (pruned hourly, in batches)");
ABSL_FLAG(absl::Duration, order_retention, absl::Hours(24 * 90),
          "How long an ended order and its claims are kept (a Test's, from when its copy is gone); after "
          "that its request_id may be used again");
ABSL_FLAG(double, max_offline_factor, 3,
          "A Production upgrade ordered without max_offline may stay offline this many times its estimated "
          "downtime (and at least --max_offline_floor); past it, the plan stops and the database is restored");
ABSL_FLAG(absl::Duration, max_offline_floor, absl::Minutes(5),
          "The least default bound on a Production upgrade's offline window (see --max_offline_factor)");
ABSL_FLAG(absl::Duration, outbox_poll_interval, absl::Seconds(1),
          "How often the outbox is checked besides after each admission (orders of other replicas)");
ABSL_FLAG(absl::Duration, restore_point_retention, absl::Hours(24 * 7),
          "How long the cloner keeps a successful Production upgrade's restore point (set both the same): a "
          "RevertUpgrade is admitted only within it");
ABSL_FLAG(absl::Duration, schedule_interval, absl::Seconds(1),
          "How often scheduled upgrades are looked at: a scheduled upgrade starts at most this long after its "
          "not_before");
ABSL_FLAG(absl::Duration, reminder_before, absl::Hours(24),
          "How long before a scheduled upgrade's start its customer is reminded (not when it was scheduled "
          "within this lead)");
ABSL_FLAG(absl::Duration, rollout_interval, absl::Seconds(1),
          "How often running rollouts are driven: what their upgrades became, their next wave, their next orders");

namespace upshift::request {

absl::StatusOr<Config> ConfigFromFlags() {
  Config config{absl::GetFlag(FLAGS_listen),      absl::GetFlag(FLAGS_gate_listen), absl::GetFlag(FLAGS_port_file),
          absl::GetFlag(FLAGS_platform_db), absl::GetFlag(FLAGS_catalog),
          absl::GetFlag(FLAGS_reserved_databases), absl::GetFlag(FLAGS_pool_size),
          absl::GetFlag(FLAGS_outbox_poll_interval), absl::GetFlag(FLAGS_max_test_age),
          absl::GetFlag(FLAGS_test_copy_extension), absl::GetFlag(FLAGS_orders_per_tenant_per_hour),
          absl::GetFlag(FLAGS_order_burst_per_tenant), absl::GetFlag(FLAGS_reads_per_tenant_per_minute),
          absl::GetFlag(FLAGS_read_burst_per_tenant), absl::GetFlag(FLAGS_max_database_reads),
          absl::GetFlag(FLAGS_database_read_timeout),
          {absl::GetFlag(FLAGS_audit_retention), absl::GetFlag(FLAGS_order_retention)},
          TlsOptionsFromFlags().plaintext,
          {absl::GetFlag(FLAGS_gate_cloner_names), absl::GetFlag(FLAGS_gate_migrator_names),
           absl::GetFlag(FLAGS_gate_status_names), absl::GetFlag(FLAGS_gate_notifier_names)}};
  config.max_offline_factor = absl::GetFlag(FLAGS_max_offline_factor);
  config.max_offline_floor = absl::GetFlag(FLAGS_max_offline_floor);
  config.restore_point_retention = absl::GetFlag(FLAGS_restore_point_retention);
  config.schedule_interval = absl::GetFlag(FLAGS_schedule_interval);
  config.reminder_before = absl::GetFlag(FLAGS_reminder_before);
  config.rollout_interval = absl::GetFlag(FLAGS_rollout_interval);
  if (config.schedule_interval <= absl::ZeroDuration() || config.reminder_before <= absl::ZeroDuration() ||
      config.rollout_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--schedule_interval, --reminder_before and --rollout_interval must be longer than 0");
  }
  if (config.restore_point_retention <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--restore_point_retention must be longer than 0");
  }
  if (!(config.max_offline_factor >= 1) || config.max_offline_floor <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--max_offline_factor must be 1 or more and --max_offline_floor longer than 0");
  }
  if (config.max_database_reads < 1 || config.database_read_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--max_database_reads must be 1 or more and --database_read_timeout longer than 0");
  }
  return config;
}

}  // namespace upshift::request
