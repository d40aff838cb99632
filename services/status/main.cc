// status: records upgrade states and database tags from upgrade.orders and upgrade.events,
// serves them over gRPC (StatusService), and publishes every change on upgrade.status.

#include <algorithm>
#include <fstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/catalog/catalog.h"
#include "libs/common/env_flags.h"
#include "libs/common/grpc_util.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/health.h"
#include "libs/common/signals.h"
#include "libs/pg/pg.h"
#include "libs/hosting/pg_hosting_server.h"
#include "libs/kafka/consumer.h"
#include "libs/auth/auth_flags.h"
#include "libs/common/tls_flags.h"
#include "libs/kafka/kafka_flags.h"
#include "libs/kafka/topics.h"
#include "libs/kafka/worker.h"
#include "services/status/change_hub.h"
#include "services/status/database_view.h"
#include "services/status/grpc_service.h"
#include "services/status/pg_status_store.h"
#include "services/status/recorder.h"
#include "libs/kafka/outbox_relay.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50052", "gRPC listen address (port 0: any free port)");
ABSL_FLAG(absl::Duration, health_interval, absl::Seconds(2), "How often health probes the databases and the broker");
ABSL_FLAG(std::string, port_file, "", "If set, the bound gRPC port is written there");
ABSL_FLAG(std::string, platform_db, "", "libpq connection string of the platform database");
ABSL_FLAG(std::string, hosting_db, "", "libpq connection string of the hosting server (no dbname)");
ABSL_FLAG(std::vector<std::string>, reserved_databases, {"upshift"},
          "Databases of the platform on the hosting server, never listed");
ABSL_FLAG(std::string, catalog, "", "Path of the migration catalog folder (for the version query)");
ABSL_FLAG(absl::Duration, stall_timeout, absl::Minutes(2),
          "An unfinished upgrade no worker reported on for this long is marked stalled (keep well above the "
          "workers' --heartbeat_interval)");
ABSL_FLAG(int, pool_size, 8, "PostgreSQL connections to the platform database");

ABSL_FLAG(int, max_watch_streams, 1000, "WatchUpgrade streams served at once; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_watch_streams_per_caller, 16, "WatchUpgrade streams one caller (token subject) may hold at once");

namespace upshift::status {
namespace {

struct Config {
  std::string listen, port_file, platform_db, hosting_db, catalog;
  std::vector<std::string> reserved;
  int pool_size;
};

Config ReadConfig() {
  return {absl::GetFlag(FLAGS_listen),      absl::GetFlag(FLAGS_port_file),
          absl::GetFlag(FLAGS_platform_db), absl::GetFlag(FLAGS_hosting_db), absl::GetFlag(FLAGS_catalog),
          absl::GetFlag(FLAGS_reserved_databases), absl::GetFlag(FLAGS_pool_size)};
}

// Marks stalled the upgrades no worker reported on for `timeout`, looking every quarter of it. Only
// once the broker has been reachable for a whole `timeout`: while it is away, silence proves nothing.
void SweepStalls(StatusStore& store, KafkaProducer& producer, absl::Duration timeout, ChangeHub& hub,
                 OutboxRelay& relay, const std::atomic<bool>& stop) {
  const absl::Duration every = std::clamp(timeout / 4, absl::Milliseconds(100), absl::Seconds(15));
  absl::Time reachable_since = absl::InfiniteFuture();
  while (!stop) {
    absl::Time now = absl::Now();
    if (!producer.CheckBroker(std::min(every, absl::Seconds(2))).ok()) {
      reachable_since = absl::InfiniteFuture();
    } else if (reachable_since == absl::InfiniteFuture()) {
      reachable_since = now;
    }
    if (now - reachable_since >= timeout) {
      absl::StatusOr<int> marked = store.MarkStalled(now - timeout);
      if (!marked.ok()) {
        LogWarning(absl::StrCat("stall sweep: ", marked.status().ToString()));
      } else if (*marked > 0) {
        LogWarning(absl::StrCat(*marked, " upgrade(s) stalled: no worker reported on them for ",
                                absl::FormatDuration(timeout)));
        hub.Notify();
        relay.Wake();
      }
    }
    absl::Time next = now + every;
    while (!stop && absl::Now() < next) absl::SleepFor(absl::Milliseconds(50));
  }
}

int Run(const Config& config, const std::atomic<bool>& stop) {
  absl::StatusOr<Catalog> catalog = Catalog::Load(config.catalog);
  if (!catalog.ok()) {
    LogError(absl::StrCat("cannot load the catalog: ", catalog.status().ToString()));
    return 2;
  }
  std::unique_ptr<PgStatusStore> store;
  if (!RetryUntilReady([&] {
        absl::StatusOr<std::unique_ptr<PgStatusStore>> opened = PgStatusStore::Open(config.platform_db, config.pool_size);
        if (opened.ok()) store = *std::move(opened);
        return opened.status();
      }, stop, "platform database")) {
    return 0;
  }
  PgHostingServer hosting({config.hosting_db, config.reserved, "", absl::Hours(6)});
  absl::StatusOr<KafkaOptions> kafka_options = KafkaOptionsFromFlags("status");
  if (!kafka_options.ok()) {
    LogError(kafka_options.status().ToString());
    return 2;
  }
  const KafkaOptions& kafka = *kafka_options;
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(kafka);
  if (!producer.ok()) {
    LogError(producer.status().ToString());
    return 2;
  }
  ChangeHub hub;
  DatabaseView view(hosting, *store, *catalog, config.reserved);
  // Changes reach upgrade.status through an outbox: recorded in the same transaction as the state.
  OutboxRelay relay(
      [&](int limit, const auto& publish, int* count) {
        return store->DrainChanges(
            limit, [&](const std::vector<PendingChange>& changes) { return publish(StatusRecords(changes, view)); },
            count);
      },
      **producer, absl::Seconds(1));
  Recorder recorder(*store, hub, [&relay] { relay.Wake(); });
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer = KafkaConsumer::Create(
      kafka, "upshift-status", {topics::kOrders, topics::kEvents}, producer->get(),
      [&recorder](const ConsumedRecord& r) { return recorder.Handle(r); }, {}, MaxInFlightFromFlags());
  if (!consumer.ok()) {
    LogError(consumer.status().ToString());
    return 2;
  }
  std::atomic<bool> stopping{false};
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = AuthenticatorFromFlags();
  if (!auth.ok()) {
    LogError(auth.status().ToString());
    return 2;
  }
  StreamSlots watches(absl::GetFlag(FLAGS_max_watch_streams), absl::GetFlag(FLAGS_max_watch_streams_per_caller));
  Queries queries(*store, view, watches, hub);
  StatusServiceImpl service(**auth, queries, stopping);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentialsFromFlags();
  if (!credentials.ok()) {
    LogError(credentials.status().ToString());
    return 2;
  }
  int port = 0;
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartGrpcServer(config.listen, {&service}, *credentials, &port);
  if (!server.ok()) {
    LogError(server.status().ToString());
    return 1;
  }
  if (!config.port_file.empty()) std::ofstream(config.port_file) << port << "\n";
  LogInfo(absl::StrCat("serving StatusService on port ", port));

  std::thread consumer_thread([&] { (*consumer)->Run(stopping); });
  std::thread relay_thread([&] { relay.Run(stopping); });
  std::thread stall_sweeper([&] { SweepStalls(*store, **producer, absl::GetFlag(FLAGS_stall_timeout), hub, relay, stopping); });
  std::thread health([&] {
    MonitorHealth(**server,
                  {{"platform database", [&] { return pg::PingServer(config.platform_db); }},
                   {"hosting server", [&] { return pg::PingServer(pg::ConnInfoFor(config.hosting_db, "postgres")); }},
                   {"kafka broker", [&] { return (*producer)->CheckBroker(absl::Seconds(2)); }, true}},
                  {upgrade::v1::StatusService::service_full_name()}, absl::GetFlag(FLAGS_health_interval), stop);
  });
  WaitForStopSignal();

  LogInfo("stopping");
  health.join();  // NOT_SERVING first
  stopping = true;
  hub.Notify();
  (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  consumer_thread.join();
  stall_sweeper.join();
  relay.Wake();
  relay_thread.join();
  (*producer)->Flush(absl::Seconds(5));
  LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace upshift::status

int main(int argc, char** argv) {
  upshift::ParseFlagsWithEnv(argc, argv);
  upshift::SetLogName("status");
  const std::atomic<bool>& stop = upshift::InstallStopSignals();
  return upshift::status::Run(upshift::status::ReadConfig(), stop);
}
