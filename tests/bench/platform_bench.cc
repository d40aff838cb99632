// The platform's figures, each measured side by side with its baseline in the same run on the same
// servers, printed as a Markdown table (tests/bench/run; tests/bench/README.md keeps the latest).
// It asserts nothing: a figure that misses its target says so in the table.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/catalog/catalog.h"
#include "libs/common/textproto.h"
#include "libs/common/time.h"
#include "libs/kafka/topics.h"
#include "tests/support/platform.h"
#include "tests/support/wait.h"
#include "upgrade/v1/events.pb.h"

ABSL_FLAG(int, sequential_upgrades, 100, "Tiny Test upgrades run one after the other (orchestration overhead)");
ABSL_FLAG(int, clients, 32, "Concurrent RequestUpgrade clients");
ABSL_FLAG(int, orders_per_client, 8, "Orders each client sends, each of a database of its own");
ABSL_FLAG(absl::Duration, pgbench_time, absl::Seconds(10), "How long pgbench runs");
ABSL_FLAG(int, concurrent_upgrades, 200, "Tiny Test upgrades ordered at once, with 1 and then 2 migrator replicas");
ABSL_FLAG(int, big_partners, 720000, "Partners of the generated large database (720000: about 1 GB)");
ABSL_FLAG(int, bank_accounts, 33000,
          "Accounts of the generated bank-like database (rows bank; 33000: about 150 MB, 220000: about 1 GB)");
ABSL_FLAG(int, clone_rounds, 3, "How many times each party copies the large database (the row gives the medians)");
ABSL_FLAG(std::string, keep_logs, "", "If set, the services' logs are copied into this directory at the end");
ABSL_FLAG(int, fetch_wait_ms, 10,
          "fetch.wait.max.ms of every consumer (the services' and the bench's): how long the devbroker holds a "
          "fetch that finds nothing, even when a record arrives meanwhile (a real broker answers at once)");
ABSL_FLAG(std::vector<std::string>, rows, {},
          "Only these groups of rows (orchestration, big, bank, scaling, concurrency, admission, security); all when empty");

namespace upshift::bench {
namespace {

using namespace upgrade::v1;
using testing::Context;
using testing::Platform;

// What --fetch_wait_ms sets, besides testing::LocalKafkaProperties().
std::map<std::string, std::string> ConsumerProperties() {
  return {{"fetch.wait.max.ms", absl::StrCat(absl::GetFlag(FLAGS_fetch_wait_ms))}};
}

struct Row {
  std::string figure, measured, baseline, ratio, target, verdict;
};

std::string Ms(absl::Duration d) { return absl::StrFormat("%.1f ms", absl::ToDoubleMilliseconds(d)); }

absl::Duration Percentile(std::vector<absl::Duration> v, double p) {
  if (v.empty()) return absl::ZeroDuration();
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

std::string SourceDirCatalog() { return testing::SourceDir() + "/deploy/catalogs/sample_erp"; }

std::string Verdict(bool met) { return met ? "met" : "missed"; }

// Resident and peak resident memory of a process, in MB, from /proc.
std::pair<double, double> MemoryOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  double rss = 0, hwm = 0;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) rss = std::stod(line.substr(6)) / 1024.0;
    if (absl::StartsWith(line, "VmHWM:")) hwm = std::stod(line.substr(6)) / 1024.0;
  }
  return {rss, hwm};
}

const std::vector<std::string> kServices = {"request", "status", "cloner", "migrator", "notifier"};

grpc::Status Order(Platform& platform, const std::string& db, Upgrade* accepted, Purpose purpose = PURPOSE_TEST,
                   const std::string& target = "18.0") {
  RequestUpgradeRequest req;
  req.set_database(db);
  req.set_target_version(target);
  req.set_notify_email(absl::StrCat("owner+", db, "@example.com"));
  req.set_purpose(purpose);
  RequestUpgradeResponse resp;
  grpc::Status s = platform.requests().RequestUpgrade(Context().get(), req, &resp);
  *accepted = resp.upgrade();
  return s;
}

// Orders an upgrade of `purpose` and follows it to its end: the final record, or nothing (and why on
// stderr) when it was refused or did not succeed. With `seen`, every record WatchUpgrade sent.
std::optional<Upgrade> UpgradeToTheEnd(Platform& platform, const std::string& db, Purpose purpose,
                                       const std::string& target = "18.0", std::vector<Upgrade>* seen = nullptr) {
  Upgrade accepted;
  grpc::Status s;
  if (purpose == PURPOSE_CHECK) {
    CheckUpgradeRequest req;
    req.set_database(db);
    req.set_target_version(target);
    CheckUpgradeResponse resp;
    s = platform.requests().CheckUpgrade(Context().get(), req, &resp);
    accepted = resp.upgrade();
  } else {
    s = Order(platform, db, &accepted, purpose, target);
  }
  if (!s.ok()) {
    std::cerr << "order refused: " << s.error_message() << "\n";
    return std::nullopt;
  }
  WatchUpgradeRequest wreq;
  wreq.set_upgrade_id(accepted.upgrade_id());
  auto ctx = Context(absl::Minutes(30));
  auto reader = platform.status().WatchUpgrade(ctx.get(), wreq);
  Upgrade u;
  while (reader->Read(&u)) {
    if (seen != nullptr) seen->push_back(u);
  }
  reader->Finish();
  if (u.state() != STATE_SUCCEEDED) {
    std::cerr << "the upgrade of " << db << " (" << Purpose_Name(purpose) << ") ended " << State_Name(u.state()) << ": "
              << u.error() << "\n";
    return std::nullopt;
  }
  return u;
}

// The plan's steps alone, as its report timed them (a Test's neutralization is not one).
absl::Duration StepsAlone(const IntegrityReport& report) {
  int64_t ms = 0;
  for (const StepReport& step : report.steps()) {
    if (step.hop() != "neutralize") ms += step.duration_ms();
  }
  return absl::Milliseconds(ms);
}

bool HasTag(const Database& d, Tag tag) { return std::count(d.tags().begin(), d.tags().end(), tag) > 0; }

// When each stage of one upgrade ended, by the bench's clock (sent, answered, seen) and by the
// workers' events (occurred_at): all processes run on this machine and share its clock.
struct Timeline {
  std::string id;
  absl::Time sent, answered, tagged, seen;
  absl::Time clone_started, clone_succeeded, migration_started, succeeded;
  absl::Duration copy, plan;  // the work, as the workers timed it
  bool Complete() const {
    return clone_started != absl::InfinitePast() && clone_succeeded != absl::InfinitePast() &&
           migration_started != absl::InfinitePast() && succeeded != absl::InfinitePast();
  }
};

// Reads the workers' side of each timeline from upgrade.events; false if some never showed up.
bool FillFromEvents(testing::TopicTap& tap, std::vector<Timeline>& lines) {
  std::map<std::string, Timeline*> by_id;
  for (Timeline& t : lines) by_id[t.id] = &t;
  return testing::WaitFor([&] {
    for (const ConsumedRecord& r : tap.Records()) {
      Event e;
      if (r.topic != topics::kEvents || !e.ParseFromString(r.payload)) continue;
      auto it = by_id.find(e.order().upgrade_id());
      if (it == by_id.end()) continue;
      Timeline& t = *it->second;
      absl::Time at = FromProto(e.occurred_at());
      if (e.has_clone_started()) t.clone_started = at;
      if (e.has_clone_succeeded()) {
        t.clone_succeeded = at;
        t.copy = FromProto(e.clone_succeeded().duration());
      }
      if (e.has_migration_started()) t.migration_started = at;
      if (e.has_succeeded()) {
        t.succeeded = at;
        t.plan = FromProto(e.succeeded().migrate_duration());
      }
    }
    return std::all_of(lines.begin(), lines.end(), [](const Timeline& t) { return t.Complete(); });
  });
}

Timeline Unstarted() {
  Timeline t;
  t.clone_started = t.clone_succeeded = t.migration_started = t.succeeded = absl::InfinitePast();
  return t;
}

// Orchestration overhead: order -> STATE_SUCCEEDED as a client sees it, less the work itself (the
// copy with its check, as the cloner timed it, and the plan, as the migrator timed it). One upgrade
// runs first, untimed: it lets every consumer join its group and every connection open.
void Orchestration(Platform& platform, testing::TopicTap& tap, std::vector<Row>& rows, std::vector<Row>& stages) {
  const int n = absl::GetFlag(FLAGS_sequential_upgrades);
  std::vector<Timeline> lines;
  std::vector<absl::Duration> polls;  // each GetDatabase call of the red tag's poll
  for (int i = -1; i < n; ++i) {
    std::string db = i < 0 ? "orch_warmup" : absl::StrCat("orch_", i);
    if (!platform.postgres().Exec("postgres", absl::StrCat("CREATE DATABASE ", db, " TEMPLATE benchtiny")).ok()) return;
    Timeline t = Unstarted();
    t.sent = absl::Now();
    Upgrade accepted;
    if (grpc::Status s = Order(platform, db, &accepted); !s.ok()) {
      std::cerr << "order refused: " << s.error_message() << "\n";
      return;
    }
    t.answered = absl::Now();
    t.id = accepted.upgrade_id();
    // The red tag, as the database manager would poll it.
    for (;;) {
      GetDatabaseRequest req;
      req.set_name(db);
      Database d;
      const absl::Time called = absl::Now();
      const bool ok = platform.status().GetDatabase(Context().get(), req, &d).ok();
      if (i >= 0) polls.push_back(absl::Now() - called);
      if (ok && HasTag(d, TAG_UPGRADE_IN_PROGRESS)) break;
      if (absl::Now() - t.sent > absl::Seconds(30)) break;
    }
    t.tagged = absl::Now();
    WatchUpgradeRequest wreq;
    wreq.set_upgrade_id(accepted.upgrade_id());
    auto ctx = Context(absl::Minutes(2));
    auto reader = platform.status().WatchUpgrade(ctx.get(), wreq);
    Upgrade u;
    State state = STATE_UNSPECIFIED;
    while (reader->Read(&u)) state = u.state();
    reader->Finish();
    t.seen = absl::Now();
    if (state != STATE_SUCCEEDED) {
      std::cerr << db << " ended " << State_Name(state) << "\n";
      return;
    }
    if (i >= 0) lines.push_back(t);
  }
  if (!FillFromEvents(tap, lines)) {
    std::cerr << "some upgrades' work was never seen on upgrade.events\n";
    return;
  }
  std::vector<absl::Duration> overhead, tagged, total, works;
  std::map<std::string, std::vector<absl::Duration>> stage;
  for (const Timeline& t : lines) {
    total.push_back(t.seen - t.sent);
    works.push_back(t.copy + t.plan);
    overhead.push_back(total.back() - works.back());
    tagged.push_back(t.tagged - t.sent);
    stage["1. RequestUpgrade answered (admission)"].push_back(t.answered - t.sent);
    stage["2. answered → the cloner starts the copy (outbox relay, Kafka hop, cloner's checks)"].push_back(t.clone_started - t.answered);
    stage["3. copy started → CloneSucceeded, less the copy (cloner's bookkeeping)"].push_back(t.clone_succeeded - t.clone_started - t.copy);
    stage["4. CloneSucceeded → the migrator starts (Kafka hop, BEGIN_MIGRATION checkpoint)"].push_back(t.migration_started - t.clone_succeeded);
    stage["5. plan started → UpgradeSucceeded, less the plan (FINISH checkpoint)"].push_back(t.succeeded - t.migration_started - t.plan);
    stage["6. UpgradeSucceeded → the client sees SUCCEEDED (Kafka hop, status, WatchUpgrade)"].push_back(t.seen - t.succeeded);
  }
  absl::Duration p50 = Percentile(overhead, 0.5), p99 = Percentile(overhead, 0.99);
  rows.push_back({absl::StrCat("orchestration overhead over ", total.size(), " sequential tiny Tests (order to SUCCEEDED less the copy and the plan)"),
                  absl::StrCat("p50 ", Ms(p50), ", p99 ", Ms(p99)),
                  absl::StrCat("whole upgrade p50 ", Ms(Percentile(total, 0.5)), "; work p50 ", Ms(Percentile(works, 0.5))),
                  "—", "p50 ≤ 50 ms, p99 ≤ 200 ms", Verdict(p50 <= absl::Milliseconds(50) && p99 <= absl::Milliseconds(200))});
  absl::Duration t50 = Percentile(tagged, 0.5);
  rows.push_back({"order to TAG_UPGRADE_IN_PROGRESS visible in GetDatabase", absl::StrCat("p50 ", Ms(t50), ", p99 ", Ms(Percentile(tagged, 0.99))),
                  "—", "—", "p50 ≤ 20 ms", Verdict(t50 <= absl::Milliseconds(20))});
  for (const auto& [name, v] : stage) {
    stages.push_back({name, absl::StrCat("p50 ", Ms(Percentile(v, 0.5)), ", p99 ", Ms(Percentile(v, 0.99)))});
  }
  if (!polls.empty()) {
    stages.push_back({"one GetDatabase call of the red tag's poll (TLS channel kept, token, status's reads), for scale",
                      absl::StrCat("p50 ", Ms(Percentile(polls, 0.5)), ", p99 ", Ms(Percentile(polls, 0.99)), "; ",
                                   absl::StrFormat("%.1f", static_cast<double>(polls.size()) / lines.size()),
                                   " calls per order")});
  }
}

// One Kafka hop on the broker the platform uses, with the services' client settings: a record
// published (and acknowledged, as the services publish) until a consumer in a group of its own has
// it. Every step of an upgrade crosses such hops; this is their floor. On upgrade.dlq, which no
// service consumes, under a key no record of the platform has.
void KafkaHop(Platform& platform, std::vector<Row>& stages) {
  absl::StatusOr<std::unique_ptr<testing::TopicTap>> tap =
      testing::TopicTap::Start(platform.broker().bootstrap(), {topics::kDeadLetters}, ConsumerProperties());
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer =
      KafkaProducer::Create({platform.broker().bootstrap(), "bench-hop", testing::LocalKafkaProperties()});
  if (!tap.ok() || !producer.ok()) return;
  std::vector<absl::Duration> hops;
  for (int i = -1; i < 50; ++i) {  // the first one waits for the group to form: not counted
    absl::Time start = absl::Now();
    if (!(*producer)->Publish(topics::kDeadLetters, "upshift-bench-hop", absl::StrCat("bench hop ", i)).ok()) return;
    // Looked at every 0.2 ms: WaitFor's 20 ms would hide the hop.
    while (static_cast<int>((*tap)->Records().size()) < i + 2) {
      if (absl::Now() - start > absl::Seconds(30)) return;
      absl::SleepFor(absl::Microseconds(200));
    }
    if (i >= 0) hops.push_back(absl::Now() - start);
  }
  stages.push_back({"one Kafka hop alone on the same broker (published, acknowledged, consumed), for scale",
                    absl::StrCat("p50 ", Ms(Percentile(hops, 0.5)), ", p99 ", Ms(Percentile(hops, 0.99)))});
}

// Runs `call` from `clients` threads, each with a channel (and connection) of its own, `per_client`
// times each; returns each call's latency and the wall time.
template <typename Stub>
std::pair<std::vector<absl::Duration>, absl::Duration> Hammer(
    const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials, int clients,
    int per_client,
    const std::function<grpc::Status(Stub&, int client, int i)>& call, int* failures) {
  std::vector<std::unique_ptr<Stub>> stubs;
  for (int c = 0; c < clients; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(std::make_unique<Stub>(grpc::CreateCustomChannel(address, credentials, args)));
  }
  std::mutex mu;
  std::vector<absl::Duration> latencies;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  absl::Time start = absl::Now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::vector<absl::Duration> mine;
      for (int i = 0; i < per_client; ++i) {
        absl::Time t = absl::Now();
        if (!call(*stubs[c], c, i).ok()) ++failed;
        mine.push_back(absl::Now() - t);
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (std::thread& t : threads) t.join();
  *failures = failed;
  return {latencies, absl::Now() - start};
}

// pgbench running the durable transaction of one admission (advisory lock, the active-orders
// query, the order and its outbox record) with `clients` clients; returns transactions per second.
double Pgbench(Platform& platform, const std::string& script, const std::string& db, int clients, bool reconnect,
               const std::string& user = "postgres", const std::string& password = "");

double PgbenchCeiling(Platform& platform, int clients) {
  const std::string dir = testing::MakeTempDir("upshift-bench-pgbench");
  for (const char* sql : {"CREATE SCHEMA IF NOT EXISTS bench",
                          "CREATE TABLE IF NOT EXISTS bench.orders (LIKE request.orders INCLUDING ALL)",
                          "CREATE TABLE IF NOT EXISTS bench.outbox (LIKE request.outbox INCLUDING ALL)"}) {
    if (absl::Status s = platform.postgres().Exec("upshift", sql); !s.ok()) {
      std::cerr << s << "\n";
      return 0;
    }
  }
  // A database of its own each time: request.orders allows one active order per database, and
  // numbers drawn from 9e18 do not collide within a run.
  std::ofstream(dir + "/admit.sql")
      << "\\set n random(1, 9000000000000000000)\n"
         "BEGIN;\n"
         "SELECT pg_advisory_xact_lock(hashtext('upshift.request.admit'), hashtext('db' || :n));\n"
         "SELECT upgrade_id, purpose FROM bench.orders WHERE database = 'db' || :n AND outcome = 'active';\n"
         "INSERT INTO bench.orders (upgrade_id, database, from_version, target_version, purpose, notify_email, "
         "request_id, test_database, created_at, restore_point, estimated_downtime_ms) VALUES "
         "(gen_random_uuid()::text, 'db' || :n, '16.0', '18.0', 1, 'owner+db' || :n || '@example.com', "
         "gen_random_uuid()::text, 'db' || :n || '_test_0f8fad5b', now(), NULL, 0);\n"
         "INSERT INTO bench.outbox (topic, key, payload) VALUES ('upgrade.orders', 'db' || :n, "
         "decode(repeat('ab', 300), 'hex'));\n"
         "COMMIT;\n";
  return Pgbench(platform, dir + "/admit.sql", "upshift", clients, false);
}

// pgbench running `script` in `db` with `clients` clients (with `-C`, a new connection for each
// transaction); returns transactions per second, 0 if it failed.
double Pgbench(Platform& platform, const std::string& script, const std::string& db, int clients, bool reconnect,
               const std::string& user, const std::string& password) {
  const std::string log = script + "." + user + ".log";
  std::vector<std::string> argv = {testing::PgBinDir() + "/pgbench", "-n", "-M", "extended", "-c",
                                   std::to_string(clients), "-j", "2", "-T",
                                   std::to_string(absl::ToInt64Seconds(absl::GetFlag(FLAGS_pgbench_time))), "-f",
                                   script, "-h", "127.0.0.1", "-p", std::to_string(platform.postgres().port()), "-U",
                                   user, db};
  if (reconnect) argv.insert(argv.begin() + 1, "-C");
  std::map<std::string, std::string> env;
  if (!password.empty()) env["PGPASSWORD"] = password;
  absl::Status ran = testing::RunCommand({argv, env, log, ""}, absl::Minutes(2));
  std::string out = testing::Tail(log, 1 << 16);
  if (!ran.ok()) {
    std::cerr << "pgbench: " << ran << "\n" << out << "\n";
    return 0;
  }
  size_t at = out.find("tps = ");
  return at == std::string::npos ? 0 : std::stod(out.substr(at + 6));
}

void Admission(Platform& platform, std::vector<Row>& rows) {
  const int clients = absl::GetFlag(FLAGS_clients), per = absl::GetFlag(FLAGS_orders_per_client);
  // Only request and status run: the admission path, not the work the orders start.
  for (const char* worker : {"cloner", "migrator", "notifier"}) platform.service(worker).Stop();
  for (int c = 0; c < clients; ++c) {
    for (int i = 0; i < per; ++i) {
      if (!platform.postgres()
               .Exec("postgres", absl::StrCat("CREATE DATABASE adm_", c, "_", i, " TEMPLATE benchtiny STRATEGY WAL_LOG"))
               .ok() ||
          // Connected to once, as a live customer database has been: its first backend writes the
          // catalog cache file (pg_internal.init) every later connection starts from.
          !platform.postgres().Exec(absl::StrCat("adm_", c, "_", i), "SELECT 1").ok()) {
        return;
      }
    }
  }
  std::cerr << "sending " << clients * per << " orders...\n";
  int failed = 0;
  auto [latencies, wall] = Hammer<UpgradeService::Stub>(
      platform.request_address(), platform.client_credentials(), clients, per,
      [](UpgradeService::Stub& stub, int c, int i) {
        RequestUpgradeRequest req;
        req.set_database(absl::StrCat("adm_", c, "_", i));
        req.set_target_version("18.0");
        req.set_notify_email("owner@example.com");
        req.set_purpose(PURPOSE_TEST);
        RequestUpgradeResponse resp;
        return stub.RequestUpgrade(Context().get(), req, &resp);
      },
      &failed);
  double rate = latencies.size() / absl::ToDoubleSeconds(wall);
  int health_failed = 0;
  auto [health_latencies, health_wall] = Hammer<grpc::health::v1::Health::Stub>(
      platform.request_address(), platform.client_credentials(), clients, 200,
      [](grpc::health::v1::Health::Stub& stub, int, int) {
        grpc::health::v1::HealthCheckRequest req;
        grpc::health::v1::HealthCheckResponse resp;
        return stub.Check(Context().get(), req, &resp);
      },
      &health_failed);
  double health_rate = health_latencies.size() / absl::ToDoubleSeconds(health_wall);
  double ceiling = PgbenchCeiling(platform, clients);
  // What each order must do besides its transaction: open a connection to the customer's database
  // (PostgreSQL serves one database per connection) and read its version there.
  absl::StatusOr<Catalog> catalog = Catalog::Load(SourceDirCatalog());
  const std::string version_sql = testing::MakeTempDir("upshift-bench-version") + "/version.sql";
  std::ofstream(version_sql) << (catalog.ok() ? catalog->version_query() : "SELECT 1") << ";\n";
  double connect_ceiling = Pgbench(platform, version_sql, "adm_0_0", clients, /*reconnect=*/true);
  absl::Duration p99 = Percentile(latencies, 0.99);
  double ratio = ceiling > 0 ? rate / ceiling : 0;
  rows.push_back({absl::StrCat("RequestUpgrade, ", clients, " clients over distinct databases (", latencies.size(), " orders, ",
                               failed, " failed)"),
                  absl::StrFormat("%.0f orders/s; p50 %s, p99 %s", rate, Ms(Percentile(latencies, 0.5)), Ms(p99)),
                  absl::StrFormat("pgbench, the admission's transaction: %.0f tx/s; pgbench -C, a new connection "
                                  "reading the version each time: %.0f/s; health Check: %.0f calls/s (p99 %s)",
                                  ceiling, connect_ceiling, health_rate, Ms(Percentile(health_latencies, 0.99))),
                  absl::StrFormat("%.2f × pgbench; %.2f × pgbench -C; %.3f × Check", ratio,
                                  connect_ceiling > 0 ? rate / connect_ceiling : 0, health_rate > 0 ? rate / health_rate : 0),
                  "≥ 0.5 × pgbench; p99 ≤ 25 ms", Verdict(ratio >= 0.5 && p99 <= absl::Milliseconds(25))});
}

// Runs a command (psql, cp, sync) and returns how long it took; nullopt (said on stderr) if it failed.
std::optional<absl::Duration> Timed(const std::vector<std::string>& argv, const std::string& log) {
  absl::Time start = absl::Now();
  absl::Status ran = testing::RunCommand({argv, {}, log, ""}, absl::Minutes(20));
  absl::Duration took = absl::Now() - start;
  if (!ran.ok()) {
    std::cerr << argv[0] << ": " << ran << "\n" << testing::Tail(log) << "\n";
    return std::nullopt;
  }
  return took;
}

std::string MBps(int64_t bytes, absl::Duration d) {
  return absl::StrFormat("%.0f MB/s", static_cast<double>(bytes) / 1e6 / std::max(1e-9, absl::ToDoubleSeconds(d)));
}

// The clone and the plan of a generated ~1 GB database: one Test upgrade through the platform, and
// beside it what an operator would run by hand on the same server: CREATE DATABASE ... TEMPLATE with
// each strategy, cp of the database's files, and psql running the catalog's SQL files on a copy.
// The event of `upgrade_id` that `pick` finds on upgrade.events (the last one), once the tap has it.
template <typename Pick>
bool AwaitEvent(testing::TopicTap& tap, const std::string& upgrade_id, Pick pick) {
  return testing::WaitFor([&] {
    bool found = false;
    for (const ConsumedRecord& r : tap.Records()) {
      Event e;
      if (r.topic == topics::kEvents && e.ParseFromString(r.payload) && e.order().upgrade_id() == upgrade_id) {
        found = pick(e) || found;
      }
    }
    return found;
  });
}

// The Production upgrade of `db` (after its Test) to `target`: the offline window as status recorded
// it (offline_at to online_at) against the plan alone as the migrator timed it (Migrated.duration),
// broken down by part; and the estimate the customer was told at RequestUpgrade against that window.
// `what` names the database in the rows ("that", "the bank-like").
void ProductionWindow(Platform& platform, testing::TopicTap& tap, std::vector<Row>& rows, const std::string& db,
                      int64_t bytes, const CloneSucceeded& test_clone, absl::Duration test_plan,
                      const std::string& what = "that", const std::string& target = "18.0") {
  if (!platform.postgres().Exec("postgres", "CHECKPOINT").ok()) return;
  std::vector<Upgrade> seen;
  std::optional<Upgrade> done = UpgradeToTheEnd(platform, db, PURPOSE_PRODUCTION, target, &seen);
  if (!done || !done->has_offline_at() || !done->has_online_at()) return;
  SnapshotSucceeded snapshot;
  Migrated migrated;
  if (!AwaitEvent(tap, done->upgrade_id(), [&](const Event& e) {
        if (e.has_snapshot_succeeded()) snapshot = e.snapshot_succeeded();
        if (e.has_migrated()) migrated = e.migrated();
        return snapshot.has_duration() && migrated.has_duration();
      })) {
    std::cerr << "the Production upgrade's events did not arrive\n";
    return;
  }
  const absl::Duration window = FromProto(done->online_at()) - FromProto(done->offline_at());
  const absl::Duration plan = FromProto(migrated.duration()), restore_point = FromProto(snapshot.duration());
  const absl::Duration estimate = FromProto(done->estimated_downtime());
  const double window_ratio = absl::FDivDuration(window, plan);
  rows.push_back({absl::StrFormat("Production offline window of %s %.2f GB database (offline_at to online_at)",
                                  what, bytes / 1e9),
                  absl::StrCat(Ms(window), ": the restore point made (", snapshot.verified_by() == "original"
                                                           ? "the database itself; its copy took the name"
                                                           : absl::StrCat("a copy, verified by its ", snapshot.verified_by()),
                               ") ", Ms(restore_point),
                               "; the plan ", Ms(plan), " (its steps alone ", Ms(StepsAlone(migrated.report())),
                               "); the rest (hand-offs, offline and online) ", Ms(window - restore_point - plan)),
                  absl::StrCat("the plan alone, as the migrator timed it: ", Ms(plan)),
                  absl::StrFormat("%.2f × the plan", window_ratio), "≤ 1.15 ×", Verdict(window_ratio <= 1.15)});
  // The live ETA: at each record while offline, the window it foretold (offline so far, plus
  // estimated_remaining) against the real one, by the part of the window the record was in.
  std::map<State, std::pair<double, double>> foretold;  // part -> lowest and highest ratio
  std::map<State, int> records;
  for (const Upgrade& u : seen) {
    if (!u.has_estimated_remaining() || !u.has_offline_at() || u.has_online_at()) continue;
    const absl::Duration so_far = FromProto(u.updated_at()) - FromProto(u.offline_at());
    const double ratio = absl::FDivDuration(so_far + FromProto(u.estimated_remaining()), window);
    auto [it, first] = foretold.try_emplace(u.state(), ratio, ratio);
    it->second = {std::min(it->second.first, ratio), std::max(it->second.second, ratio)};
    ++records[u.state()];
  }
  std::vector<std::string> parts;
  bool within = !foretold.empty();
  for (const auto& [state, range] : foretold) {
    parts.push_back(absl::StrFormat("%s %.2f–%.2f × (%d)", State_Name(state), range.first, range.second, records[state]));
    within = within && range.first >= 0.85 && range.second <= 1.15;
  }
  rows.push_back({absl::StrCat("the live ETA while offline (", what,
                               " database): at each record WatchUpgrade sent, time offline so far plus "
                               "estimated_remaining, by the part of the window it names"),
                  absl::StrJoin(parts, "; "), absl::StrCat("the real window: ", Ms(window)), "(in the measured column)",
                  "0.85–1.15 ×", Verdict(within)});
  const double estimate_ratio = absl::FDivDuration(estimate, window);
  // What the estimate would say counting the Test's whole copy and check, its counts included.
  const absl::Duration copy = FromProto(test_clone.copy_duration());
  const absl::Duration before = FromProto(test_clone.duration()) + test_plan + absl::Milliseconds(150);
  rows.push_back({absl::StrCat("the downtime estimate told at RequestUpgrade, against ",
                               what == "that" ? "that" : absl::StrCat(what, " database's"), " window"),
                  absl::StrCat(Ms(estimate), " (the Test: copy ", Ms(copy), ", its counts ",
                               Ms(FromProto(test_clone.duration()) - copy), ", plan ", Ms(test_plan),
                               "); counting the Test's whole copy and check instead: ", Ms(before),
                               absl::StrFormat(" (%.2f ×)", absl::FDivDuration(before, window))),
                  absl::StrCat("the real window: ", Ms(window)),
                  absl::StrFormat("%.2f × the window", estimate_ratio), "0.85–1.15 ×",
                  Verdict(estimate_ratio >= 0.85 && estimate_ratio <= 1.15)});
}

void BigDatabase(Platform& platform, testing::TopicTap& tap, std::vector<Row>& rows) {
  testing::PostgresServer& pg = platform.postgres();
  const std::string dir = testing::MakeTempDir("upshift-bench-big");
  const std::string psql = testing::PgBinDir() + "/psql";
  auto psql_c = [&](const std::string& db, const std::string& sql) {
    return std::vector<std::string>{psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, pg.conninfo(db)};
  };
  std::cerr << "generating the large database...\n";
  if (absl::Status s = pg.GenerateSampleDatabase("benchbig", absl::GetFlag(FLAGS_big_partners)); !s.ok()) {
    std::cerr << s << "\n";
    return;
  }
  // As a database in service is: vacuumed (hint bits and visibility map set). Otherwise autovacuum
  // starts on the fresh tables in the middle of the timed copies, and the pages it dirties are
  // written by whichever FILE_COPY checkpoint comes next.
  if (absl::Status s = pg.Exec("benchbig", "VACUUM (ANALYZE)"); !s.ok()) {
    std::cerr << s << "\n";
    return;
  }
  absl::StatusOr<std::string> size = pg.QueryValue("postgres", "SELECT pg_database_size('benchbig')");
  absl::StatusOr<std::string> data_dir = pg.QueryValue("postgres", "SHOW data_directory");
  absl::StatusOr<std::string> oid = pg.QueryValue("postgres", "SELECT oid FROM pg_database WHERE datname = 'benchbig'");
  if (!size.ok() || !data_dir.ok() || !oid.ok() || !pg.Exec("postgres", "CHECKPOINT").ok()) return;
  const int64_t bytes = std::stoll(*size);

  // The same copy made by each party several times, interleaved: this disk's speed drifts from one
  // second to the next (a psql FILE_COPY of this database took 0.6 s and, a minute later, 3 s), so
  // one sample of each would compare the disk's moods, not the parties. Each copy starts from a
  // checkpoint (FILE_COPY's own would otherwise also write what came before) and, but for the last
  // Test's, is dropped before the next, so every copy finds the same free space.
  const int rounds = std::max(1, absl::GetFlag(FLAGS_clone_rounds));
  std::vector<absl::Duration> cps, psql_copies, platform_copies, platform_checks;
  std::optional<Upgrade> test;
  CloneSucceeded test_clone;
  // psql's other strategy, once and first: it writes every byte twice and was never the faster, and
  // the copy right after it was dropped often ran at half speed, whoever made it.
  if (!pg.Exec("postgres", "CHECKPOINT").ok()) return;
  std::optional<absl::Duration> wal_log = Timed(
      psql_c("postgres", "CREATE DATABASE bench_by_hand TEMPLATE benchbig STRATEGY WAL_LOG"), dir + "/psql.log");
  if (!wal_log || !pg.Exec("postgres", "DROP DATABASE bench_by_hand").ok()) return;
  for (int round = 0; round < rounds; ++round) {
    std::cerr << "copies of the large database, round " << round + 1 << " of " << rounds << "...\n";
    // The disk's limit: the database's files copied and flushed.
    if (!pg.Exec("postgres", "CHECKPOINT").ok()) return;
    std::optional<absl::Duration> cp =
        Timed({"cp", "-r", *data_dir + "/base/" + *oid, dir + "/files"}, dir + "/cp.log");
    std::optional<absl::Duration> flushed = Timed({"sync"}, dir + "/sync.log");
    std::filesystem::remove_all(dir + "/files");
    if (!cp || !flushed) return;
    cps.push_back(*cp + *flushed);
    if (!pg.Exec("postgres", "CHECKPOINT").ok()) return;
    std::optional<absl::Duration> took = Timed(
        psql_c("postgres", "CREATE DATABASE bench_by_hand TEMPLATE benchbig STRATEGY FILE_COPY"), dir + "/psql.log");
    if (!took || !pg.Exec("postgres", "DROP DATABASE bench_by_hand").ok()) return;
    psql_copies.push_back(*took);
    // The platform: a check (its copy is dropped when it ends), and in the last round the Test upgrade
    // whose plan the next row measures.
    if (!pg.Exec("postgres", "CHECKPOINT").ok()) return;
    const bool last = round + 1 == rounds;
    std::optional<Upgrade> done = last ? UpgradeToTheEnd(platform, "benchbig", PURPOSE_TEST)
                                       : UpgradeToTheEnd(platform, "benchbig", PURPOSE_CHECK);
    if (!done) return;
    CloneSucceeded cloned;
    testing::WaitFor([&] {
      for (const ConsumedRecord& r : tap.Records()) {
        Event e;
        if (r.topic == topics::kEvents && e.ParseFromString(r.payload) &&
            e.order().upgrade_id() == done->upgrade_id() && e.has_clone_succeeded()) {
          cloned = e.clone_succeeded();
        }
      }
      return cloned.has_duration();
    });
    if (!cloned.has_duration()) return;
    platform_copies.push_back(FromProto(cloned.copy_duration()));
    platform_checks.push_back(FromProto(cloned.duration()) - FromProto(cloned.copy_duration()));
    if (last) {
      test = *done;
      test_clone = cloned;
    }
    if (!last && !testing::WaitFor([&] {
          absl::StatusOr<std::string> left =
              pg.QueryValue("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'benchbig\\_%'");
          return left.ok() && *left == "0";
        })) {
      std::cerr << "the check's copy was not dropped\n";
      return;
    }
  }
  auto all = [](const std::vector<absl::Duration>& v) {
    std::vector<std::string> ms;
    for (absl::Duration d : v) ms.push_back(absl::StrFormat("%.0f", absl::ToDoubleMilliseconds(d)));
    return absl::StrCat(absl::StrJoin(ms, ", "), " ms");
  };
  const absl::Duration copy = Percentile(platform_copies, 0.5), psql_copy = Percentile(psql_copies, 0.5),
                       cp = Percentile(cps, 0.5);
  double clone_ratio = absl::FDivDuration(copy, psql_copy);
  rows.push_back({absl::StrFormat("clone of a generated %.2f GB database (the copy as the cloner timed it; median of %d, "
                                  "interleaved with the baselines)",
                                  bytes / 1e9, rounds),
                  absl::StrCat(Ms(copy), " (", MBps(bytes, copy), "; each: ", all(platform_copies),
                               "); then its check (row counts of both) ", Ms(Percentile(platform_checks, 0.5))),
                  absl::StrCat("psql CREATE DATABASE … TEMPLATE … FILE_COPY: ", Ms(psql_copy), " (each: ", all(psql_copies),
                               "), WAL_LOG once: ", Ms(*wal_log), "; cp of its files and sync: ", Ms(cp), " (",
                               MBps(bytes, cp), "; each: ", all(cps), ")"),
                  absl::StrFormat("%.2f × psql FILE_COPY; %.2f × cp", clone_ratio, absl::FDivDuration(copy, cp)),
                  "≤ 1.05 × the psql clone", Verdict(clone_ratio <= 1.05)});
  const Upgrade& accepted = *test;
  UpgradeSucceeded migrated;
  testing::WaitFor([&] {
    for (const ConsumedRecord& r : tap.Records()) {
      Event e;
      if (r.topic == topics::kEvents && e.ParseFromString(r.payload) &&
          e.order().upgrade_id() == accepted.upgrade_id() && e.has_succeeded()) {
        migrated = e.succeeded();
      }
    }
    return migrated.has_migrate_duration();
  });

  // By hand, on another copy, as an operator following the catalog runs it with psql: each hop's
  // pre-checks, its SQL files (each in one transaction) and its set_version statement; then the
  // catalog's post-checks, the neutralization of a Test and its assertions. The checks are timed
  // apart from the files: the catalog's own queries, which the platform runs too.
  absl::StatusOr<Catalog> catalog = Catalog::Load(SourceDirCatalog());
  if (!catalog.ok() || !pg.Exec("postgres", "CREATE DATABASE bench_plan TEMPLATE benchbig").ok()) return;
  absl::StatusOr<std::vector<Hop>> plan = catalog->Plan(accepted.from_version(), accepted.target_version());
  if (!plan.ok()) return;
  struct Command {
    std::vector<std::string> argv;
    bool check;
  };
  std::vector<Command> commands;
  auto file = [&](const std::string& name, const std::string& sql) {
    std::string path = absl::StrCat(dir, "/", name);
    std::ofstream(path) << sql;
    return path;
  };
  auto run_file = [&](const std::string& path) {
    return std::vector<std::string>{psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", path,
                                    pg.conninfo("bench_plan")};
  };
  auto checks = [&](const std::vector<Check>& list) {
    for (const Check& c : list) commands.push_back({psql_c("bench_plan", c.sql), true});
  };
  for (const Hop& hop : *plan) {
    checks(hop.pre_checks);
    for (const Step& step : hop.steps) commands.push_back({run_file(SourceDirCatalog() + "/" + step.file), false});
    std::string set_version = catalog->set_version_sql();
    absl::StrReplaceAll({{"$1", absl::StrCat("'", hop.to, "'")}}, &set_version);
    commands.push_back({psql_c("bench_plan", set_version), false});
  }
  checks(catalog->post_checks());
  commands.push_back({run_file(file("neutralize.sql", catalog->neutralize_sql())), false});
  checks(catalog->neutralization_assertions());
  absl::Duration files_by_hand, checks_by_hand;
  int files = 0;
  for (const Command& command : commands) {
    std::optional<absl::Duration> took = Timed(command.argv, dir + "/plan.log");
    if (!took) return;
    (command.check ? checks_by_hand : files_by_hand) += *took;
    files += command.check ? 0 : 1;
  }
  pg.Exec("postgres", "DROP DATABASE bench_plan").IgnoreError();
  const absl::Duration steps = StepsAlone(migrated.report());
  const absl::Duration whole = FromProto(migrated.migrate_duration()), by_hand = files_by_hand + checks_by_hand;
  double plan_ratio = absl::FDivDuration(whole, by_hand);
  rows.push_back({"full Test-upgrade plan on that database (as the migrator timed it)",
                  absl::StrCat(Ms(whole), "; its steps alone ", Ms(steps),
                               "; the rest: the catalog's checks, and beside them the platform's own (row counts, "
                               "checksums of the tables declared unchanged, constraint validation) and records"),
                  absl::StrCat("psql running the same ", files, " SQL files and statements in order on a copy: ",
                               Ms(files_by_hand), "; then the catalog's ", commands.size() - files,
                               " checks one after another: ", Ms(checks_by_hand), "; in all ", Ms(by_hand)),
                  absl::StrFormat("%.2f × psql (%.2f × its files alone; steps alone %.2f ×)", plan_ratio,
                                  absl::FDivDuration(whole, files_by_hand),
                                  absl::FDivDuration(steps, files_by_hand)),
                  "≤ 1.05 ×", Verdict(plan_ratio <= 1.05)});
  std::filesystem::remove_all(dir);
  ProductionWindow(platform, tap, rows, "benchbig", bytes, test_clone, whole);
}

void SamplePeaks(Platform& platform, const std::vector<std::string>& names, std::map<std::string, double>& peak);

std::string SourceDirBankCatalog() { return testing::SourceDir() + "/tests/catalogs/bank"; }

// The Test and then the Production upgrade of a generated bank-like database (tests/catalogs/bank):
// its plan is mostly its steps, rewriting the one large table, where the sample ERP's is mostly its
// checks. The window and the estimate are measured on both shapes. `platform` runs that catalog.
void BankDatabase(Platform& platform, testing::TopicTap& tap, std::vector<Row>& rows) {
  testing::PostgresServer& pg = platform.postgres();
  absl::StatusOr<std::string> schema = ReadFile(SourceDirBankCatalog() + "/schema.sql");
  absl::StatusOr<std::string> data = ReadFile(SourceDirBankCatalog() + "/data.sql");
  if (!schema.ok() || !data.ok()) {
    std::cerr << schema.status() << " " << data.status() << "\n";
    return;
  }
  std::cerr << "generating the bank-like database...\n";
  for (const auto& [db, sql] : std::vector<std::pair<std::string, std::string>>{
           {"postgres", "CREATE DATABASE benchbank"},
           {"benchbank", *schema},
           {"benchbank", absl::StrCat("SET bank.accounts = ", absl::GetFlag(FLAGS_bank_accounts), ";\n", *data)},
           {"benchbank", "VACUUM (ANALYZE)"},
           {"postgres", "CHECKPOINT"}}) {
    if (absl::Status s = pg.Exec(db, sql); !s.ok()) {
      std::cerr << s << "\n";
      return;
    }
  }
  absl::StatusOr<std::string> size = pg.QueryValue("postgres", "SELECT pg_database_size('benchbank')");
  if (!size.ok()) return;
  const int64_t bytes = std::stoll(*size);
  std::optional<Upgrade> test = UpgradeToTheEnd(platform, "benchbank", PURPOSE_TEST, "2.0");
  if (!test) return;
  CloneSucceeded cloned;
  UpgradeSucceeded succeeded;
  if (!AwaitEvent(tap, test->upgrade_id(), [&](const Event& e) {
        if (e.has_clone_succeeded()) cloned = e.clone_succeeded();
        if (e.has_succeeded()) succeeded = e.succeeded();
        return cloned.has_duration() && succeeded.has_migrate_duration();
      })) {
    std::cerr << "the bank-like Test's events did not arrive\n";
    return;
  }
  const absl::Duration plan = FromProto(succeeded.migrate_duration());
  rows.push_back({absl::StrFormat("Test upgrade of a generated %.2f GB bank-like database (one ledger rewritten)", bytes / 1e9),
                  absl::StrCat("copy ", Ms(FromProto(cloned.copy_duration())), ", then its check ",
                               Ms(FromProto(cloned.duration()) - FromProto(cloned.copy_duration())), "; the plan ",
                               Ms(plan), " (its steps alone ", Ms(StepsAlone(succeeded.report())), ")"),
                  "—", "—", "—", "—"});
  ProductionWindow(platform, tap, rows, "benchbank", bytes, cloned, plan, "the bank-like", "2.0");
}

bool IsFinalState(State s) {
  return s == STATE_SUCCEEDED || s == STATE_FAILED || s == STATE_ROLLED_BACK || s == STATE_CANCELLED;
}

struct BurstTimes {
  absl::Duration makespan;   // from the first order until status shows the last one SUCCEEDED
  absl::Duration last_copy;  // from the first order until the last CloneSucceeded was published
  absl::Duration last_plan;  // from the first order until the last UpgradeSucceeded was published
};

// Orders a Test of each of `dbs` at once (16 clients) and waits until status shows every one ended.
// Their upgrade ids, in the order of `dbs`, or nullopt (and why on stderr) if one was refused or did
// not succeed.
std::optional<std::vector<std::string>> OrderAtOnceAndAwait(Platform& platform, const std::vector<std::string>& dbs) {
  const size_t n = dbs.size();
  std::vector<std::string> ids(n);
  std::atomic<size_t> next{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) {
        Upgrade accepted;
        if (Order(platform, dbs[i], &accepted).ok()) {
          ids[i] = accepted.upgrade_id();
        } else {
          ++refused;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  if (refused > 0) {
    std::cerr << refused << " orders refused\n";
    return std::nullopt;
  }
  size_t done = 0;
  bool failed = false;
  testing::WaitFor(
      [&] {
        for (; done < ids.size(); ++done) {
          GetUpgradeRequest req;
          req.set_upgrade_id(ids[done]);
          Upgrade u;
          if (!platform.status().GetUpgrade(Context().get(), req, &u).ok() || !IsFinalState(u.state())) return false;
          if (u.state() != STATE_SUCCEEDED) {
            std::cerr << ids[done] << " ended " << State_Name(u.state()) << ": " << u.error() << "\n";
            failed = true;
          }
        }
        return true;
      },
      absl::Minutes(15));
  if (failed || done < ids.size()) return std::nullopt;
  return ids;
}

// When the plan of each of `ids` ended (its UpgradeSucceeded, by the migrator's clock).
std::map<std::string, absl::Time> PlanEnds(testing::TopicTap& tap, const std::vector<std::string>& ids) {
  std::set<std::string> mine(ids.begin(), ids.end());
  std::map<std::string, absl::Time> ends;
  for (const ConsumedRecord& r : tap.Records()) {
    Event e;
    if (r.topic != topics::kEvents || !e.ParseFromString(r.payload) || !mine.count(e.order().upgrade_id())) continue;
    if (e.has_succeeded()) ends[e.order().upgrade_id()] = FromProto(e.occurred_at());
  }
  return ends;
}

// Makes `n` fresh tiny databases named `prefix`_i (from benchtiny); false if one cannot be made.
bool MakeTinyDatabases(Platform& platform, const std::string& prefix, int n, std::vector<std::string>* dbs) {
  for (int i = 0; i < n; ++i) {
    std::string db = absl::StrCat(prefix, "_", i);
    if (!platform.postgres().Exec("postgres", absl::StrCat("CREATE DATABASE ", db, " TEMPLATE benchtiny")).ok()) {
      return false;
    }
    dbs->push_back(db);
  }
  return true;
}

// Orders `n` Tests of fresh tiny databases named `prefix`_i at once (16 clients) and times them.
// nullopt if one failed.
std::optional<BurstTimes> Burst(Platform& platform, testing::TopicTap& tap, const std::string& prefix, int n) {
  std::vector<std::string> dbs;
  if (!MakeTinyDatabases(platform, prefix, n, &dbs)) return std::nullopt;
  absl::Time start = absl::Now();
  std::optional<std::vector<std::string>> ids = OrderAtOnceAndAwait(platform, dbs);
  if (!ids) return std::nullopt;
  BurstTimes times{absl::Now() - start, absl::ZeroDuration(), absl::ZeroDuration()};
  std::set<std::string> mine(ids->begin(), ids->end());
  for (const ConsumedRecord& r : tap.Records()) {
    Event e;
    if (r.topic != topics::kEvents || !e.ParseFromString(r.payload) || !mine.count(e.order().upgrade_id())) continue;
    if (e.has_clone_succeeded()) times.last_copy = std::max(times.last_copy, FromProto(e.occurred_at()) - start);
    if (e.has_succeeded()) times.last_plan = std::max(times.last_plan, FromProto(e.occurred_at()) - start);
  }
  return times;
}

// 200 tiny Tests at once with one migrator, then with two. Two cloners run in both, so that the
// copies are not what bounds the run.
void Scaling(Platform& platform, testing::TopicTap& tap, std::vector<Row>& rows, std::map<std::string, double>& peak) {
  const int n = absl::GetFlag(FLAGS_concurrent_upgrades);
  absl::StatusOr<std::string> cloner2 = platform.AddReplica("cloner");
  if (!cloner2.ok()) return;
  std::cerr << n << " Tests at once, one migrator...\n";
  std::optional<BurstTimes> one = Burst(platform, tap, "burst_a", n);
  SamplePeaks(platform, kServices, peak);
  absl::StatusOr<std::string> migrator2 = platform.AddReplica("migrator");
  if (!one || !migrator2.ok()) return;
  // Both migrators in the group, each with its share of the partitions, before the clock starts:
  // small rounds until the second one has run a plan.
  for (int round = 0; round < 10; ++round) {
    if (absl::StrContains(testing::Tail(platform.log_dir() + "/" + *migrator2 + ".log"), "applied")) break;
    if (!Burst(platform, tap, absl::StrCat("burst_warm", round), 4)) return;
  }
  std::cerr << n << " Tests at once, two migrators...\n";
  std::optional<BurstTimes> two = Burst(platform, tap, "burst_b", n);
  SamplePeaks(platform, kServices, peak);
  SamplePeaks(platform, {*cloner2, *migrator2}, peak);
  if (!two) return;
  double ratio = absl::FDivDuration(two->makespan, one->makespan);
  auto describe = [n](const BurstTimes& t) {
    return absl::StrFormat("%.1f s (%.1f upgrades/s; the last copy done at %.1f s, the last plan at %.1f s)",
                           absl::ToDoubleSeconds(t.makespan), n / absl::ToDoubleSeconds(t.makespan),
                           absl::ToDoubleSeconds(t.last_copy), absl::ToDoubleSeconds(t.last_plan));
  };
  rows.push_back({absl::StrCat(n, " tiny Tests ordered at once (2 cloners), makespan with 2 migrator replicas"),
                  describe(*two), absl::StrCat("1 migrator: ", describe(*one)),
                  absl::StrFormat("%.2f ×", ratio), "≤ 0.6 × with 1 on 2 cores", Verdict(ratio <= 0.6)});
}

// One replica of a worker in place of the platform's own: `flags` added to its own. Its name.
std::optional<std::string> Swap(Platform& platform, const std::string& worker, const std::string& running,
                                const std::vector<std::string>& flags) {
  platform.service(running).Stop();
  absl::StatusOr<std::string> replica = platform.AddReplica(worker, flags);
  if (!replica.ok()) {
    std::cerr << replica.status() << "\n";
    return std::nullopt;
  }
  return *replica;
}

// Many upgrades at once on one replica (--max_in_flight): long plans side by side, short ones past a
// long one, and tiny ones against the same replicas handling one record at a time.
void Concurrency(Platform& platform, testing::TopicTap& tap, std::vector<Row>& rows,
                 std::map<std::string, double>& peak) {
  // The migrator's catalog gains a step that sleeps as long as the database says (none by default).
  const std::string catalog = testing::MakeTempDir("upshift-bench-catalog");
  std::filesystem::remove(catalog);
  testing::MakeTestCatalog(catalog);
  std::optional<std::string> migrator = Swap(platform, "migrator", "migrator", {"--catalog=" + catalog});
  if (!migrator) return;
  auto slow = [&](const std::string& db, int seconds) {
    return platform.postgres()
        .Exec(db, absl::StrCat("INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '",
                               seconds, "')"))
        .ok();
  };
  // Eight Tests, each with a 20 s step, at once.
  {
    std::vector<std::string> dbs;
    if (!MakeTinyDatabases(platform, "conc_long", 8, &dbs)) return;
    for (const std::string& db : dbs) {
      if (!slow(db, 20)) return;
    }
    std::cerr << "8 Tests with a 20 s step each, one migrator...\n";
    absl::Time start = absl::Now();
    std::optional<std::vector<std::string>> ids = OrderAtOnceAndAwait(platform, dbs);
    if (!ids) return;
    const absl::Duration makespan = absl::Now() - start;
    // The plans alone: from the first one's start to the last one's end (the copies before them are
    // made --max_concurrent_copies at a time).
    std::set<std::string> mine(ids->begin(), ids->end());
    absl::Time first_plan = absl::InfiniteFuture(), last_plan = absl::InfinitePast();
    for (const ConsumedRecord& r : tap.Records()) {
      Event e;
      if (r.topic != topics::kEvents || !e.ParseFromString(r.payload) || !mine.count(e.order().upgrade_id())) continue;
      if (e.has_migration_started()) first_plan = std::min(first_plan, FromProto(e.occurred_at()));
      if (e.has_succeeded()) last_plan = std::max(last_plan, FromProto(e.occurred_at()));
    }
    const double ratio = absl::FDivDuration(makespan, absl::Seconds(20));
    rows.push_back({"8 Tests ordered at once, each with a 20 s step, 1 migrator replica (--max_in_flight 8)",
                    absl::StrFormat("makespan %.1f s; the 8 plans from the first one's start to the last one's end "
                                    "%.1f s",
                                    absl::ToDoubleSeconds(makespan), absl::ToDoubleSeconds(last_plan - first_plan)),
                    "the step alone: 20 s", absl::StrFormat("%.2f ×", ratio), "≤ 1.3 ×", Verdict(ratio <= 1.3)});
  }
  // Twenty short Tests alone, then beside one with a 60 s step ordered just before them.
  {
    std::vector<std::string> alone, beside, long_one;
    if (!MakeTinyDatabases(platform, "conc_short_a", 20, &alone) ||
        !MakeTinyDatabases(platform, "conc_short_b", 20, &beside) ||
        !MakeTinyDatabases(platform, "conc_longest", 1, &long_one) || !slow(long_one[0], 60)) {
      return;
    }
    std::cerr << "20 short Tests, alone and past one with a 60 s step...\n";
    absl::Time start = absl::Now();
    if (!OrderAtOnceAndAwait(platform, alone)) return;
    const absl::Duration without = absl::Now() - start;
    Upgrade accepted;
    if (!Order(platform, long_one[0], &accepted).ok()) return;
    const std::string long_id = accepted.upgrade_id();
    // Until its plan is under way (in its long step), so that the short ones come after it.
    testing::WaitFor([&] {
      for (const ConsumedRecord& r : tap.Records()) {
        Event e;
        if (r.topic == topics::kEvents && e.ParseFromString(r.payload) && e.order().upgrade_id() == long_id &&
            e.has_step_applied() && e.step_applied().step() == "02_rename_partner_phone") {
          return true;
        }
      }
      return false;
    });
    start = absl::Now();
    if (!OrderAtOnceAndAwait(platform, beside)) return;
    const absl::Duration with = absl::Now() - start;
    const double ratio = absl::FDivDuration(with, without);
    rows.push_back({"20 short Tests ordered at once while a Test with a 60 s step runs, 1 migrator replica",
                    absl::StrFormat("makespan of the short ones %.1f s", absl::ToDoubleSeconds(with)),
                    absl::StrFormat("the same 20 alone: %.1f s", absl::ToDoubleSeconds(without)),
                    absl::StrFormat("%.2f ×", ratio), "≤ 1.2 ×", Verdict(ratio <= 1.2)});
    testing::WaitFor([&] { return !PlanEnds(tap, {long_id}).empty(); }, absl::Minutes(3));
  }
  // The tiny Tests with one replica of each worker, handling one record at a time, then 8.
  const int n = absl::GetFlag(FLAGS_concurrent_upgrades);
  std::optional<std::string> cloner1 = Swap(platform, "cloner", "cloner", {"--max_in_flight=1"});
  std::optional<std::string> notifier1 = Swap(platform, "notifier", "notifier", {"--max_in_flight=1"});
  std::optional<std::string> migrator1 = Swap(platform, "migrator", *migrator, {"--max_in_flight=1"});
  if (!cloner1 || !notifier1 || !migrator1) return;
  std::cerr << n << " tiny Tests at once, one record at a time...\n";
  std::optional<BurstTimes> one = Burst(platform, tap, "conc_one", n);
  std::optional<std::string> cloner8 = Swap(platform, "cloner", *cloner1, {});
  std::optional<std::string> notifier8 = Swap(platform, "notifier", *notifier1, {});
  std::optional<std::string> migrator8 = Swap(platform, "migrator", *migrator1, {});
  if (!one || !cloner8 || !notifier8 || !migrator8) return;
  std::cerr << n << " tiny Tests at once, 8 records at a time...\n";
  std::optional<BurstTimes> eight = Burst(platform, tap, "conc_eight", n);
  SamplePeaks(platform, {*cloner8, *notifier8, *migrator8}, peak);
  // The platform's own workers back, for the rows that follow.
  for (const std::string* replica : {&*cloner8, &*notifier8, &*migrator8}) platform.service(*replica).Stop();
  for (const char* worker : {"cloner", "notifier", "migrator"}) {
    if (absl::Status s = platform.RestartService(worker); !s.ok()) std::cerr << s << "\n";
  }
  if (!eight) return;
  const double ratio = absl::FDivDuration(one->makespan, eight->makespan);
  rows.push_back({absl::StrCat(n, " tiny Tests ordered at once, 1 replica of each worker, --max_in_flight 8"),
                  absl::StrFormat("%.1f s (%.1f upgrades/s)", absl::ToDoubleSeconds(eight->makespan),
                                  n / absl::ToDoubleSeconds(eight->makespan)),
                  absl::StrFormat("--max_in_flight 1 (cloner, migrator, notifier): %.1f s (%.1f upgrades/s)",
                                  absl::ToDoubleSeconds(one->makespan), n / absl::ToDoubleSeconds(one->makespan)),
                  absl::StrFormat("%.2f × throughput", ratio), "≥ 2 ×", Verdict(ratio >= 2.0)});
  std::filesystem::remove_all(catalog);
}

// What TLS and bearer tokens cost: RequestUpgrade and GetUpgrade through the platform's request
// and status (TLS, a token checked on every call), and the same calls, in the same run, through a
// replica of each started with --insecure_plaintext --insecure_no_auth. Each client keeps its
// channel, as a frontend does: the handshake is paid once per connection, the token check on every
// call (after the first, from the verified-token cache).
void SecurityCost(Platform& platform, std::vector<Row>& rows) {
  const int clients = 8, per = 25;
  absl::StatusOr<std::string> request_plain = platform.AddReplica("request", {"--insecure_plaintext", "--insecure_no_auth"});
  absl::StatusOr<std::string> status_plain = platform.AddReplica("status", {"--insecure_plaintext", "--insecure_no_auth"});
  if (!request_plain.ok() || !status_plain.ok()) {
    std::cerr << "cannot start the plaintext replicas\n";
    return;
  }
  auto plain = grpc::InsecureChannelCredentials();
  for (const std::string& name : {*request_plain, *status_plain}) {
    bool up = testing::WaitFor([&] {
      auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(platform.health_address(name), plain));
      grpc::health::v1::HealthCheckResponse resp;
      return stub->Check(Context().get(), grpc::health::v1::HealthCheckRequest(), &resp).ok() &&
             resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    });
    if (!up) {
      std::cerr << name << " did not become healthy\n";
      return;
    }
  }
  for (const char* mode : {"sec", "pln"}) {
    for (int c = 0; c < clients; ++c) {
      for (int i = 0; i < per; ++i) {
        const std::string db = absl::StrCat(mode, "_", c, "_", i);
        if (!platform.postgres().Exec("postgres", absl::StrCat("CREATE DATABASE ", db, " TEMPLATE benchtiny")).ok() ||
            !platform.postgres().Exec(db, "SELECT 1").ok()) {
          return;
        }
      }
    }
  }
  auto order = [](const std::string& mode) {
    return [mode](UpgradeService::Stub& stub, int c, int i) {
      RequestUpgradeRequest req;
      req.set_database(absl::StrCat(mode, "_", c, "_", i));
      req.set_target_version("18.0");
      req.set_notify_email("owner@example.com");
      req.set_purpose(PURPOSE_TEST);
      RequestUpgradeResponse resp;
      return stub.RequestUpgrade(Context().get(), req, &resp);
    };
  };
  int failed_secure = 0, failed_plain = 0;
  auto [secure_orders, secure_orders_wall] = Hammer<UpgradeService::Stub>(
      platform.request_address(), platform.client_credentials(), clients, per, order("sec"), &failed_secure);
  auto [plain_orders, plain_orders_wall] = Hammer<UpgradeService::Stub>(
      platform.health_address(*request_plain), plain, clients, per, order("pln"), &failed_plain);
  // One upgrade both statuses know (each records it from upgrade.orders): sec_0_0's.
  GetUpgradeRequest get;
  ListUpgradesRequest list;
  list.set_database("sec_0_0");
  ListUpgradesResponse listed;
  if (!testing::WaitFor([&] {
        return platform.status().ListUpgrades(Context().get(), list, &listed).ok() && listed.upgrades_size() > 0;
      })) {
    std::cerr << "status never recorded the bench's order\n";
    return;
  }
  get.set_upgrade_id(listed.upgrades(0).upgrade_id());
  auto read = [get](StatusService::Stub& stub, int, int) {
    Upgrade u;
    return stub.GetUpgrade(Context().get(), get, &u);
  };
  int read_failed_secure = 0, read_failed_plain = 0;
  auto [secure_reads, secure_reads_wall] = Hammer<StatusService::Stub>(
      platform.status_address(), platform.client_credentials(), clients, 200, read, &read_failed_secure);
  auto [plain_reads, plain_reads_wall] = Hammer<StatusService::Stub>(
      platform.health_address(*status_plain), plain, clients, 200, read, &read_failed_plain);
  auto add = [&](const std::string& what, const std::vector<absl::Duration>& secure, absl::Duration secure_wall,
                 int secure_failed, const std::vector<absl::Duration>& clear, absl::Duration clear_wall,
                 int clear_failed, double target) {
    const double secure_rate = secure.size() / absl::ToDoubleSeconds(secure_wall);
    const double clear_rate = clear.size() / absl::ToDoubleSeconds(clear_wall);
    const double ratio = absl::ToDoubleMicroseconds(Percentile(secure, 0.5)) /
                         std::max(1.0, absl::ToDoubleMicroseconds(Percentile(clear, 0.5)));
    rows.push_back({absl::StrCat(what, " with TLS and a token, ", clients, " clients (", secure.size(), " calls, ",
                                 secure_failed + clear_failed, " failed)"),
                    absl::StrFormat("%.0f calls/s; p50 %s, p99 %s", secure_rate, Ms(Percentile(secure, 0.5)),
                                    Ms(Percentile(secure, 0.99))),
                    absl::StrFormat("plaintext, no token: %.0f calls/s; p50 %s, p99 %s", clear_rate,
                                    Ms(Percentile(clear, 0.5)), Ms(Percentile(clear, 0.99))),
                    absl::StrFormat("%.2f × p50; %.2f × throughput", ratio, clear_rate > 0 ? secure_rate / clear_rate : 0),
                    absl::StrFormat("p50 ≤ %.2f × plaintext", target), Verdict(ratio <= target)});
  };
  add("RequestUpgrade", secure_orders, secure_orders_wall, failed_secure, plain_orders, plain_orders_wall, failed_plain,
      1.25);
  add("GetUpgrade", secure_reads, secure_reads_wall, read_failed_secure, plain_reads, plain_reads_wall,
      read_failed_plain, 1.5);
}

// What issue 20's walls cost a read of a customer database. GetUpgradeOptions reads the version as
// the database's tenant login (a SCRAM login per read, then SET ROLE to the owner) and, for a
// tenant's token, takes from the tenant's read bucket in the platform database (shared by every
// replica). Measured on a replica of request whose read limit is out of the way (the bucket's cost,
// not its refusals): a tenant's calls against an operator's (no bucket); and, with pgbench -C, a new
// connection reading the version as the tenant login against one as the superuser (how every read
// connected before issue 20).
void TenancyCost(Platform& platform, std::vector<Row>& rows) {
  const int clients = 8, per = 50;
  const std::string db = "tenancy_bench", owner = "bench_tenant";
  if (!platform.postgres().GenerateSampleDatabase(db, 5, owner).ok()) return;
  absl::StatusOr<std::string> replica =
      platform.AddReplica("request", {"--reads_per_tenant_per_minute=100000000", "--read_burst_per_tenant=100000000"});
  if (!replica.ok()) {
    std::cerr << "cannot start the request replica: " << replica.status() << "\n";
    return;
  }
  auto tenant = platform.CredentialsWithToken(platform.Token({"", "", "bench@tenant", owner, {"upgrades.read"}}));
  auto read = [db](UpgradeService::Stub& stub, int, int) {
    GetUpgradeOptionsRequest req;
    req.set_database(db);
    GetUpgradeOptionsResponse resp;
    return stub.GetUpgradeOptions(Context().get(), req, &resp);
  };
  if (!testing::WaitFor([&] {
        auto stub = UpgradeService::NewStub(grpc::CreateChannel(platform.health_address(*replica), tenant));
        return read(*stub, 0, 0).ok();
      })) {
    std::cerr << "the request replica never answered\n";
    return;
  }
  int tenant_failed = 0, operator_failed = 0;
  auto [as_tenant, tenant_wall] =
      Hammer<UpgradeService::Stub>(platform.health_address(*replica), tenant, clients, per, read, &tenant_failed);
  auto [as_operator, operator_wall] = Hammer<UpgradeService::Stub>(
      platform.health_address(*replica), platform.client_credentials(), clients, per, read, &operator_failed);
  const double tenant_p50 = absl::ToDoubleMicroseconds(Percentile(as_tenant, 0.5));
  const double operator_p50 = absl::ToDoubleMicroseconds(Percentile(as_operator, 0.5));
  rows.push_back(
      {absl::StrCat("GetUpgradeOptions with a tenant's token (the shared read bucket, and the version read as the tenant "
                    "login), ",
                    clients, " clients (", as_tenant.size(), " calls, ", tenant_failed + operator_failed, " failed)"),
       absl::StrFormat("%.0f calls/s; p50 %s, p99 %s", as_tenant.size() / absl::ToDoubleSeconds(tenant_wall),
                       Ms(Percentile(as_tenant, 0.5)), Ms(Percentile(as_tenant, 0.99))),
       absl::StrFormat("an operator's token (no bucket; the same read): %.0f calls/s; p50 %s, p99 %s",
                       as_operator.size() / absl::ToDoubleSeconds(operator_wall), Ms(Percentile(as_operator, 0.5)),
                       Ms(Percentile(as_operator, 0.99))),
       absl::StrFormat("%.2f × p50", tenant_p50 / std::max(1.0, operator_p50)), "—", "—"});
  // The login itself: a new connection reading the version, as the tenant's login and as the superuser.
  absl::StatusOr<std::string> login = platform.postgres().QueryValue(
      "postgres", absl::StrCat("SELECT login FROM upshift.tenant_logins WHERE owner = '", owner, "'"));
  absl::StatusOr<std::string> password = platform.postgres().QueryValue(
      "postgres", absl::StrCat("SELECT password FROM upshift.tenant_logins WHERE owner = '", owner, "'"));
  absl::StatusOr<Catalog> catalog = Catalog::Load(SourceDirCatalog());
  if (!login.ok() || !password.ok() || !catalog.ok()) {
    std::cerr << "no tenant login to measure\n";
    return;
  }
  const std::string version_sql = testing::MakeTempDir("upshift-bench-login") + "/version.sql";
  std::ofstream(version_sql) << "SET ROLE " << owner << ";\n" << catalog->version_query() << ";\n";
  const double as_login = Pgbench(platform, version_sql, db, clients, /*reconnect=*/true, *login, *password);
  const double as_superuser = Pgbench(platform, version_sql, db, clients, /*reconnect=*/true);
  rows.push_back({absl::StrCat("a new connection reading the version as the tenant's login (SCRAM), pgbench -C, ",
                               clients, " clients"),
                  absl::StrFormat("%.0f reads/s", as_login),
                  absl::StrFormat("as the superuser (trust), as every read connected before: %.0f reads/s", as_superuser),
                  absl::StrFormat("%.2f × throughput", as_superuser > 0 ? as_login / as_superuser : 0), "—", "—"});
}

// Keeps in `peak` the highest resident memory (VmHWM) each of `names` reached so far.
void SamplePeaks(Platform& platform, const std::vector<std::string>& names, std::map<std::string, double>& peak) {
  for (const std::string& name : names) peak[name] = std::max(peak[name], MemoryOf(platform.service(name).pid()).second);
}

// The server's log says what each checkpoint wrote and which statements were slow (kept with --keep_logs).
void LogSlowStatements(Platform& platform) {
  for (const char* setting : {"log_checkpoints = on", "log_min_duration_statement = 100", "log_lock_waits = on"}) {
    platform.postgres().Exec("postgres", absl::StrCat("ALTER SYSTEM SET ", setting)).IgnoreError();
  }
  platform.postgres().Exec("postgres", "SELECT pg_reload_conf()").IgnoreError();
}

// With --keep_logs: the services' and the server's logs, into `under` of that directory.
void KeepLogs(Platform& platform, const std::string& under) {
  const std::string keep = absl::GetFlag(FLAGS_keep_logs);
  if (keep.empty()) return;
  const std::string to = under.empty() ? keep : keep + "/" + under;
  std::filesystem::create_directories(to);
  std::filesystem::copy(platform.log_dir(), to,
                        std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy(platform.postgres().log_path(), to + "/postgres.log",
                        std::filesystem::copy_options::overwrite_existing);
}

// The bank-like rows, on a platform of their own (the services are given one catalog), started
// once the first one has stopped.
void OnTheBankCatalog(std::vector<Row>& rows) {
  absl::StatusOr<std::unique_ptr<Platform>> started =
      Platform::Start({SourceDirBankCatalog(), {}, /*durable_postgres=*/true, ConsumerProperties()});
  if (!started.ok()) {
    std::cerr << started.status() << "\n";
    return;
  }
  LogSlowStatements(**started);
  absl::StatusOr<std::unique_ptr<testing::TopicTap>> tap = testing::TopicTap::Start(
      (*started)->broker().bootstrap(), {topics::kOrders, topics::kEvents}, ConsumerProperties());
  if (!tap.ok()) {
    std::cerr << tap.status() << "\n";
    return;
  }
  BankDatabase(**started, **tap, rows);
  KeepLogs(**started, "bank");
}

int Main() {
  absl::StatusOr<std::unique_ptr<Platform>> started =
      Platform::Start({"", {}, /*durable_postgres=*/true, ConsumerProperties()});
  if (!started.ok()) {
    std::cerr << started.status() << "\n";
    return 1;
  }
  Platform& platform = **started;
  LogSlowStatements(platform);
  absl::StatusOr<std::unique_ptr<testing::TopicTap>> tap =
      testing::TopicTap::Start(platform.broker().bootstrap(), {topics::kOrders, topics::kEvents}, ConsumerProperties());
  if (!tap.ok() || !platform.postgres().GenerateSampleDatabase("benchtiny", 5).ok()) {
    std::cerr << "cannot prepare the bench\n";
    return 1;
  }
  std::map<std::string, double> idle;
  for (const std::string& name : kServices) idle[name] = MemoryOf(platform.service(name).pid()).first;

  std::vector<Row> rows, stages;
  std::map<std::string, double> peak;
  const std::vector<std::string> only = absl::GetFlag(FLAGS_rows);
  auto wanted = [&](const std::string& group) { return only.empty() || absl::c_linear_search(only, group); };
  if (wanted("orchestration")) {
    std::cerr << "orchestration overhead...\n";
    Orchestration(platform, **tap, rows, stages);
    KafkaHop(platform, stages);
  }
  SamplePeaks(platform, kServices, peak);
  if (wanted("big")) {
    BigDatabase(platform, **tap, rows);
    SamplePeaks(platform, kServices, peak);
  }
  if (wanted("concurrency")) {
    Concurrency(platform, **tap, rows, peak);
    SamplePeaks(platform, kServices, peak);
  }
  if (wanted("scaling")) Scaling(platform, **tap, rows, peak);
  // Last: it stops the workers, and the orders it admits are never carried out.
  if (wanted("admission")) {
    std::cerr << "admission throughput...\n";
    Admission(platform, rows);
    SamplePeaks(platform, {"request", "status"}, peak);
  }
  if (wanted("security")) {  // after the admission row: with the workers stopped, only request and status work
    std::cerr << "what TLS and tokens cost...\n";
    for (const char* worker : {"cloner", "migrator", "notifier"}) platform.service(worker).Stop();
    SecurityCost(platform, rows);
    std::cerr << "what tenant logins and shared limits cost...\n";
    TenancyCost(platform, rows);
  }
  for (const std::string& name : kServices) {
    rows.push_back({absl::StrCat("memory of ", name, " (resident)"),
                    absl::StrFormat("idle %.1f MB; peak %.1f MB", idle[name], peak[name]), "—", "—", "≤ 64 MB",
                    Verdict(std::max(idle[name], peak[name]) <= 64.0)});
  }

  KeepLogs(platform, "");
  if (wanted("bank")) {
    std::cerr << "the bank-like catalog...\n";
    tap->reset();
    started->reset();
    OnTheBankCatalog(rows);
  }

  std::string table = absl::StrCat("Every consumer with fetch.wait.max.ms=", absl::GetFlag(FLAGS_fetch_wait_ms),
                                   ".\n\n| figure | measured | baseline in the same run | ratio | target | verdict |\n"
                                   "|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    absl::StrAppend(&table, "| ", r.figure, " | ", r.measured, " | ", r.baseline, " | ", r.ratio, " | ", r.target, " | ",
                    r.verdict, " |\n");
  }
  if (!stages.empty()) {
    absl::StrAppend(&table, "\n### Where the orchestration time goes (the sequential Tests above)\n\n| stage | time |\n|---|---|\n");
    for (const Row& r : stages) absl::StrAppend(&table, "| ", r.figure, " | ", r.measured, " |\n");
  }
  std::cout << table << std::flush;
  return 0;
}

}  // namespace
}  // namespace upshift::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return upshift::bench::Main();
}
