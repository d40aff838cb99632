// The fault suite: the real platform (five service binaries, PostgreSQL, the devbroker, aiosmtpd)
// under injected faults. Each scenario streams Test upgrades of small databases, injects its fault
// in the middle, waits for the platform to settle, and checks invariants over the recorded history:
// no acknowledged order lost, every order in exactly one final state, no side effect twice (copies,
// steps, emails, status records), no database left offline, every poison record in upgrade.dlq.
// The suite ends by printing a table of its scenarios (tests/faults/README.md keeps the latest).

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <iostream>
#include <fstream>
#include <sstream>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include <pqxx/pqxx>

#include "libs/common/ids.h"
#include "libs/common/time.h"
#include "libs/kafka/producer.h"
#include "libs/kafka/topics.h"
#include "tests/support/platform.h"
#include "tests/support/wait.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::testing {
namespace {

using namespace upgrade::v1;

Platform* platform = nullptr;
TopicTap* tap = nullptr;  // every topic, from its start

// One row of the table the suite ends with.
struct Row {
  std::string scenario;
  int orders = 0;
  std::string faults;
  int lost = 0;
  int duplicated = 0;
  int resent = 0;         // status records published again as they were (same event id, same content)
  int emails_resent = 0;  // emails sent again with the same Message-ID
  std::string final_states;
  absl::Duration recovery;
};
std::vector<Row>* rows = nullptr;
// The test's own, signing as request (allowed on both consumed topics), for poison records that
// must reach the handlers' parsing; and one per service, for records replayed as they were
// (Ed25519 signatures are deterministic: re-signing a record gives the signature it had).
KafkaProducer* producer = nullptr;
std::map<std::string, std::unique_ptr<KafkaProducer>>* replayers = nullptr;

constexpr char kTemplate[] = "faultsrc";
constexpr absl::Duration kMaxPollInterval = absl::Seconds(7);  // the migrator's
constexpr absl::Duration kStallTimeout = absl::Seconds(3);     // status's; workers beat every 250 ms
const std::vector<std::string> kServices = {"request", "status", "cloner", "migrator", "notifier"};

const std::string* catalog_dir = nullptr;

// Adds a command step (a vendor's tool, run outside any transaction) to the test catalog's
// 17.0 -> 18.0 hop, after 02a_test_slow: it writes a line "<database> start" and one "<database>
// end" to command_runs.log in the catalog folder, and between them sleeps as many seconds as the
// key 'upshift.test.slow_command' of the database's ir_config_parameter says (none without it).
void AddTestCommandStep(const std::string& dir) {
  std::filesystem::create_directories(dir + "/bin");
  const std::string script = dir + "/bin/test_command";
  std::ofstream(script) << "#!/usr/bin/env bash\n"
                           "set -euo pipefail\n"
                           "log=\"$(dirname \"$0\")/../command_runs.log\"\n"
                           "echo \"$PGDATABASE start\" >> \"$log\"\n"
                           "psql -X -q -v ON_ERROR_STOP=1 -c \"SELECT pg_sleep(value::float) FROM ir_config_parameter "
                           "WHERE key = 'upshift.test.slow_command'\" > /dev/null\n"
                           "echo \"$PGDATABASE end\" >> \"$log\"\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  std::ifstream in(dir + "/catalog.textproto");
  std::stringstream text;
  text << in.rdbuf();
  std::string manifest = absl::StrReplaceAll(
      text.str(), {{"  steps { name: \"02b_test_fail\"",
                    "  steps { name: \"02c_test_command\" command: \"bin/test_command\" timeout_seconds: 60 }\n"
                    "  steps { name: \"02b_test_fail\""}});
  std::ofstream(dir + "/catalog.textproto") << manifest;
}

// How many lines of the command step's log say `what` ("start", "end") about `database`.
int CommandRuns(const std::string& database, const std::string& what) {
  std::ifstream in(*catalog_dir + "/command_runs.log");
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line == absl::StrCat(database, " ", what);
  return n;
}

class SuiteEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    catalog_dir_ = MakeTempDir("upshift-fault-catalog");
    std::filesystem::remove(catalog_dir_);
    MakeTestCatalog(catalog_dir_);
    AddTestCommandStep(catalog_dir_);
    catalog_dir = &catalog_dir_;
    Platform::Options options{catalog_dir_,
                              {{"cloner",
                                {"--sweep_interval=250ms", "--heartbeat_interval=250ms",
                                 // Copies file by file, as a large database's are: the offline
                                 // window as it is in production.
                                 "--file_copy_from_mb=1"}},
                               {"status", {absl::StrCat("--stall_timeout=", absl::FormatDuration(kStallTimeout))}},
                               // A short max.poll.interval.ms, so that a step of seconds outlasts it.
                               {"migrator",
                                {"--heartbeat_interval=250ms",
                                 absl::StrCat("--kafka_properties=", LocalKafkaPropertiesFlag(),
                                              ",max.poll.interval.ms=", absl::ToInt64Milliseconds(kMaxPollInterval))}}}};
    // Two hosting servers (pg-1 also holds the platform database), with limits no scenario reaches:
    // a stream's databases are on pg-1 unless it says otherwise.
    options.hosting_servers = 2;
    options.hosting_limit = 32;
    absl::StatusOr<std::unique_ptr<Platform>> p = Platform::Start(options);
    ASSERT_TRUE(p.ok()) << p.status();
    platform_ = *std::move(p);
    platform = platform_.get();
    absl::StatusOr<std::unique_ptr<TopicTap>> t =
        TopicTap::Start(platform->broker().bootstrap(),
                        {topics::kOrders, topics::kEvents, topics::kStatus, topics::kDeadLetters});
    ASSERT_TRUE(t.ok()) << t.status();
    tap_ = *std::move(t);
    tap = tap_.get();
    ASSERT_TRUE(platform->hosting(0).GenerateSampleDatabase(kTemplate, 20).ok());
    ASSERT_TRUE(platform->hosting(1).GenerateSampleDatabase(kTemplate, 20).ok());
    for (const std::string& service : kServices) {
      absl::StatusOr<std::unique_ptr<KafkaProducer>> made = SignedProducer(*platform, service);
      ASSERT_TRUE(made.ok()) << made.status();
      replayers_[service] = *std::move(made);
    }
    replayers = &replayers_;
    producer = replayers_.at("request").get();
    rows = &rows_;
  }

  void TearDown() override {
    std::string table =
        "| scenario | orders | faults injected | lost | duplicated | final states | time to recover | resent as they were: status records / emails |\n"
        "|---|---|---|---|---|---|---|---|\n";
    for (const Row& r : rows_) {
      absl::StrAppend(&table, "| ", r.scenario, " | ", r.orders, " | ", r.faults, " | ", r.lost, " | ", r.duplicated,
                      " | ", r.final_states, " | ", absl::FormatDuration(absl::Trunc(r.recovery, absl::Milliseconds(100))),
                      " | ", r.resent, " / ", r.emails_resent, " |\n");
    }
    std::cout << "\n" << table << std::flush;
    std::ofstream(BuildDir() + "/tests/faults/latest-table.md") << table;
    rows = nullptr;
    producer = nullptr;
    replayers = nullptr;
    replayers_.clear();
    tap = nullptr;
    tap_.reset();
    platform = nullptr;
    platform_.reset();
    catalog_dir = nullptr;
    std::filesystem::remove_all(catalog_dir_);
  }

 private:
  std::string catalog_dir_;
  std::unique_ptr<Platform> platform_;
  std::unique_ptr<TopicTap> tap_;
  std::map<std::string, std::unique_ptr<KafkaProducer>> replayers_;
  std::vector<Row> rows_;
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new SuiteEnvironment());

// Repeats every failed assertion, shortened, after everything else the suite prints (the table,
// the platform's logs): a CI log that keeps only the end of the output still says what failed.
class FailureDigest : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo& test) override { test_ = test.name(); }
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::string message = result.message();
    if (message.size() > 600) message = absl::StrCat(message.substr(0, 600), " [...]");
    failures_.push_back(absl::StrCat(test_, " at ", result.file_name() ? result.file_name() : "?", ":",
                                     result.line_number(), ": ", message));
  }
  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    if (failures_.empty()) return;
    std::cout << "\n== the fault suite's failed assertions, in order ==\n";
    for (const std::string& f : failures_) std::cout << "- " << f << "\n";
    std::cout << std::flush;
  }

 private:
  std::string test_;
  std::vector<std::string> failures_;
};

const bool kDigestRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new FailureDigest());
  return true;
}();

bool IsFinal(State s) {
  return s == STATE_SUCCEEDED || s == STATE_FAILED || s == STATE_ROLLED_BACK || s == STATE_CANCELLED;
}

// What a frontend retries with the same request_id: the call may or may not have reached request
// (a server stopping cancels the calls it has not started).
bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::CANCELLED;
}

// A stream of Test upgrades of fresh copies of the template database, ordered by a client that
// retries with the same request_id while request is unreachable (as a frontend should).
class Stream {
 public:
  ~Stream() {
    Join();
    Release();
  }

  // `orders` databases on hosting server `server` (platform->hosting(server)); with an `owner`, of
  // that tenant (generated as its own: a rollout's selector takes them by it).
  Stream(const std::string& name, int orders, int server = 0, const std::string& owner = "")
      : name_(name), server_(server) {
    for (int i = 0; i < orders; ++i) {
      std::string db = absl::StrCat("f_", name, "_", i);
      if (owner.empty()) {
        EXPECT_TRUE(Server().Exec("postgres", absl::StrCat("CREATE DATABASE ", db, " TEMPLATE ", kTemplate)).ok());
      } else {
        EXPECT_TRUE(Server().GenerateSampleDatabase(db, 20, owner).ok());
      }
      databases_.push_back(db);
    }
  }

  // The hosting server that holds the stream's databases.
  PostgresServer& Server() const { return platform->hosting(server_); }

  // Makes the plan of database `i` take `seconds` longer (a slow step), so that a fault can hit it mid-plan.
  void MakeSlow(int i, int seconds = 3) {
    EXPECT_TRUE(Server()
                    .Exec(databases_[i], absl::StrCat("INSERT INTO ir_config_parameter (key, value) VALUES "
                                                      "('upshift.test.slow_upgrade', '", seconds, "')"))
                    .ok());
  }

  // Makes the command step of database `i`'s plan last `seconds`.
  void MakeSlowCommand(int i, int seconds) {
    EXPECT_TRUE(Server()
                    .Exec(databases_[i], absl::StrCat("INSERT INTO ir_config_parameter (key, value) VALUES "
                                                      "('upshift.test.slow_command', '", seconds, "')"))
                    .ok());
  }

  // Holds a session on database `i` with its partner table locked, so that copying it waits (the
  // cloner falls back to pg_dump, which waits for the lock) until Release.
  void Lock(int i) {
    lock_conn_ = std::make_unique<pqxx::connection>(Server().conninfo(databases_[i]));
    lock_tx_ = std::make_unique<pqxx::work>(*lock_conn_);
    lock_tx_->exec("LOCK TABLE res_partner IN ACCESS EXCLUSIVE MODE");
  }
  void Release() {
    if (lock_tx_) lock_tx_->abort();
    lock_tx_.reset();
    lock_conn_.reset();
  }

  // Makes the stream's orders Production upgrades: first runs a successful Test of each database
  // (not part of the scenario's history) and waits until request allows its Production upgrade.
  void PassTests() {
    for (const std::string& db : databases_) {
      RequestUpgradeRequest req;
      req.set_database(db);
      req.set_target_version("18.0");
      req.set_notify_email(absl::StrCat("tester+", db, "@example.com"));
      req.set_purpose(PURPOSE_TEST);
      RequestUpgradeResponse resp;
      grpc::Status s = platform->requests().RequestUpgrade(Context().get(), req, &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
      tests_.push_back(resp.upgrade().upgrade_id());
    }
    for (const std::string& db : databases_) {
      EXPECT_TRUE(WaitFor([&] {
        GetUpgradeOptionsRequest req;
        req.set_database(db);
        GetUpgradeOptionsResponse resp;
        return platform->requests().GetUpgradeOptions(Context().get(), req, &resp).ok() &&
               resp.active_upgrade_id().empty() &&
               std::count(resp.purposes().begin(), resp.purposes().end(), PURPOSE_PRODUCTION) > 0;
      }, absl::Minutes(1))) << db << ": its Test did not allow a Production upgrade" << platform->Logs();
    }
    purpose_ = PURPOSE_PRODUCTION;
  }

  Purpose purpose() const { return purpose_; }
  // Where the stream's upgrades of `database` send their emails (a rollout's: one address for all).
  std::string Address(const std::string& database) const {
    if (!rollout_id_.empty()) return absl::StrCat("fleet+", name_, "@example.com");
    return absl::StrCat(purpose_ == PURPOSE_PRODUCTION ? "prod+" : "owner+", database, "@example.com");
  }
  // Whether email `message` is one of the stream's about `database`.
  bool About(const std::string& message, const std::string& database) const {
    if (!absl::StrContains(message, absl::StrCat("To: <", Address(database), ">"))) return false;
    return rollout_id_.empty() || absl::StrContains(message, absl::StrCat(database, " ")) ||
           absl::StrContains(message, absl::StrCat(database, "_test_"));
  }

  // Orders the stream's databases (of `tenant`) by a rollout in waves of `wave` databases instead,
  // any failure pausing it: Accepted() is then what the rollout ordered.
  void StartRollout(const std::string& tenant, int wave) {
    rollouts_ = RolloutService::NewStub(platform->ClientChannel(platform->request_address()));
    StartRolloutRequest req;
    req.set_target_version("18.0");
    req.set_purpose(PURPOSE_TEST);
    req.mutable_selector()->add_tenants(tenant);
    req.mutable_selector()->add_servers(platform->hosting_name(server_));
    for (size_t i = 0; i < databases_.size(); i += wave) req.add_waves()->set_databases(wave);
    req.set_max_failed_percent(0);
    req.set_notify_email(absl::StrCat("fleet+", name_, "@example.com"));
    req.set_request_id(absl::StrCat("rollout-", name_));
    Rollout started;
    grpc::Status s = rollouts_->StartRollout(Context().get(), req, &started);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(started.waves_size(), static_cast<int>((databases_.size() + wave - 1) / wave));
    rollout_id_ = started.rollout_id();
  }

  // The rollout as request shows it now (nullopt while request does not answer).
  std::optional<Rollout> RolloutNow() {
    GetRolloutRequest req;
    req.set_rollout_id(rollout_id_);
    Rollout r;
    if (!rollouts_->GetRollout(Context(absl::Seconds(5)).get(), req, &r).ok()) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    for (const RolloutDatabase& d : r.databases()) {
      if (!d.upgrade_id().empty()) accepted_[d.database()] = d.upgrade_id();
    }
    return r;
  }
  const std::string& rollout_id() const { return rollout_id_; }

  // Orders every database, one every `gap`, in a thread of its own.
  void Start(absl::Duration gap) {
    thread_ = std::thread([this, gap] {
      for (const std::string& db : databases_) {
        RequestUpgradeRequest req;
        req.set_database(db);
        req.set_target_version("18.0");
        req.set_notify_email(Address(db));
        req.set_purpose(purpose_);
        req.set_request_id(absl::StrCat("order-", Purpose_Name(purpose_), "-", db));
        absl::Time deadline = absl::Now() + absl::Minutes(2);
        for (;;) {
          RequestUpgradeResponse resp;
          grpc::Status s = platform->requests().RequestUpgrade(Context(absl::Seconds(5)).get(), req, &resp);
          if (s.ok()) {
            std::lock_guard<std::mutex> lock(mu_);
            accepted_[db] = resp.upgrade().upgrade_id();
            break;
          }
          if (!Retryable(s) || absl::Now() > deadline) {
            ADD_FAILURE() << "order of " << db << " refused: " << s.error_message();
            break;
          }
          absl::SleepFor(absl::Milliseconds(200));
        }
        absl::SleepFor(gap);
      }
    });
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  size_t AcceptedCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_.size();
  }

  // Database -> upgrade id of every order that got an OK (a rollout's: that it recorded).
  std::map<std::string, std::string> Accepted() {
    if (!rollout_id_.empty()) RolloutNow();
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }

  const std::vector<std::string>& databases() const { return databases_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int server_ = 0;
  std::vector<std::string> databases_;
  Purpose purpose_ = PURPOSE_TEST;
  std::vector<std::string> tests_;  // the Tests that allowed Production upgrades
  std::mutex mu_;
  std::map<std::string, std::string> accepted_;
  std::thread thread_;
  std::unique_ptr<pqxx::connection> lock_conn_;
  std::unique_ptr<pqxx::work> lock_tx_;
  std::string rollout_id_;
  std::unique_ptr<RolloutService::Stub> rollouts_;
};

absl::StatusOr<Upgrade> GetUpgrade(const std::string& id) {
  GetUpgradeRequest req;
  req.set_upgrade_id(id);
  Upgrade u;
  grpc::Status s = platform->status().GetUpgrade(Context(absl::Seconds(5)).get(), req, &u);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return u;
}

// Whether the upgrade of `database` is accepted and, as status records it, in `state`.
bool InState(Stream& stream, const std::string& database, State state) {
  auto accepted = stream.Accepted();
  if (!accepted.count(database)) return false;
  absl::StatusOr<Upgrade> u = GetUpgrade(accepted[database]);
  return u.ok() && u->state() == state;
}

// Whether some accepted upgrade of the stream is in `state` now.
bool AnyIn(Stream& stream, State state) {
  for (const auto& [db, id] : stream.Accepted()) {
    absl::StatusOr<Upgrade> u = GetUpgrade(id);
    if (u.ok() && u->state() == state) return true;
  }
  return false;
}

// Waits until every accepted upgrade of the stream is final in status (at most `timeout`).
bool AllFinal(Stream& stream, absl::Duration timeout = absl::Minutes(3)) {
  return WaitFor([&] {
    for (const auto& [db, id] : stream.Accepted()) {
      absl::StatusOr<Upgrade> u = GetUpgrade(id);
      if (!u.ok() || !IsFinal(u->state())) return false;
    }
    return true;
  }, timeout);
}

std::string Header(const std::string& message, const std::string& name) {
  size_t at = message.find("\n" + name + ": ");
  if (at == std::string::npos) return "";
  size_t start = at + name.size() + 3;
  return message.substr(start, message.find_first_of("\r\n", start) - start);
}

// Checks the invariants over the stream's history and records the scenario's row. Exactly
// `email_resends` emails are expected to be sent again with their Message-ID (none, unless the
// scenario opens the window between an SMTP server's acceptance and the notifier's record).
void Settle(Stream& stream, const std::string& faults, absl::Time fault_ended, int email_resends = 0,
            bool resends_at_most = false) {
  stream.Join();
  std::map<std::string, std::string> accepted = stream.Accepted();
  Row row;
  row.scenario = stream.name();
  row.orders = static_cast<int>(accepted.size());
  row.faults = faults;
  EXPECT_EQ(accepted.size(), stream.databases().size()) << "orders that never got an OK";

  // Every acknowledged order reaches exactly one final state.
  bool settled = AllFinal(stream);
  row.recovery = absl::Now() - fault_ended;
  std::map<std::string, int> states;
  for (const auto& [db, id] : accepted) {
    absl::StatusOr<Upgrade> u = GetUpgrade(id);
    if (!u.ok() || !IsFinal(u->state())) {
      ++row.lost;
      ADD_FAILURE() << "upgrade " << id << " of " << db << " never ended: "
                    << (u.ok() ? State_Name(u->state()) : u.status().ToString());
      continue;
    }
    ++states[State_Name(u->state()).substr(6)];
    EXPECT_EQ(u->state(), STATE_SUCCEEDED) << db << ": " << u->error();
  }
  EXPECT_TRUE(settled) << platform->Logs();

  // Side effects once. Copies: one per succeeded Test, none left by a retried attempt; restore
  // points: one per succeeded Production upgrade (kept for the retention period).
  int duplicated = 0;
  const bool production = stream.purpose() == PURPOSE_PRODUCTION;
  for (const auto& [db, id] : accepted) {
    absl::StatusOr<Upgrade> u = GetUpgrade(id);
    if (!u.ok() || u->state() != STATE_SUCCEEDED) continue;
    absl::StatusOr<std::string> copies = stream.Server().QueryValue(
        "postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname LIKE '", db,
                                 production ? "\\_rp\\_%'" : "\\_test\\_%'"));
    ASSERT_TRUE(copies.ok()) << copies.status();
    if (*copies != "1") {
      if (*copies != "0") ++duplicated;
      ADD_FAILURE() << db << " has " << *copies << (production ? " restore points" : " test copies");
      continue;
    }
    if (production) {
      EXPECT_EQ(*stream.Server().QueryValue(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"),
                "18.0")
          << db;
    }
    // Steps: each step of the plan recorded once in the upgraded database's history.
    absl::StatusOr<std::string> steps = stream.Server().QueryValue(
        production ? db : TestDatabaseName(db, id),
        "SELECT count(*) - count(DISTINCT (hop, step)) FROM upshift.migration_history");
    if (!steps.ok() || *steps != "0") {
      ++duplicated;
      ADD_FAILURE() << db << ": a step recorded twice (" << (steps.ok() ? *steps : steps.status().ToString()) << ")";
    }
  }
  // Emails: the acceptance and the result, each once (a resend would carry the same Message-ID).
  std::map<std::string, std::map<std::string, int>> mails;  // database -> Message-ID -> count
  bool all_mail = WaitFor([&] {
    mails.clear();
    for (const std::string& m : platform->smtp().Messages()) {
      for (const auto& [db, id] : accepted) {
        if (stream.About(m, db)) ++mails[db][Header(m, "Message-ID")];
      }
    }
    for (const auto& [db, id] : accepted) {
      if (mails[db].size() < 2) return false;
    }
    return true;
  });
  EXPECT_TRUE(all_mail) << "emails missing";
  for (const auto& [db, ids] : mails) {
    EXPECT_EQ(ids.size(), 2u) << db << ": distinct notifications";
    for (const auto& [message_id, count] : ids) row.emails_resent += count - 1;
  }
  if (resends_at_most ? row.emails_resent > email_resends : row.emails_resent != email_resends) {
    if (row.emails_resent > email_resends) duplicated += row.emails_resent - email_resends;
    ADD_FAILURE() << row.emails_resent << " emails sent again with their Message-ID, " << email_resends << " expected";
  }
  // Status records: one per event, and a final one for every upgrade. The outbox publishes at least
  // once: a crash between the broker's acknowledgement and the outbox's commit sends the same record
  // (same event_id, same upgrade) again, which dashboards dedup: counted as resent. Two different
  // records for one event would be a duplicate.
  std::map<std::string, std::set<std::string>> per_event;  // event id -> distinct upgrades published
  std::map<std::string, int> sends;
  std::set<std::string> finished;
  bool all_status = WaitFor([&] {
    per_event.clear();
    sends.clear();
    finished.clear();
    for (const ConsumedRecord& r : tap->Records()) {
      if (r.topic != topics::kStatus) continue;
      StatusChanged change;
      if (!change.ParseFromString(r.payload)) continue;
      for (const auto& [db, id] : accepted) {
        if (change.upgrade().upgrade_id() != id) continue;
        per_event[change.event_id()].insert(change.upgrade().SerializeAsString());
        ++sends[change.event_id()];
        if (IsFinal(change.upgrade().state())) finished.insert(id);
      }
    }
    return finished.size() == accepted.size();
  });
  EXPECT_TRUE(all_status) << finished.size() << " of " << accepted.size() << " upgrades have a final record on upgrade.status";
  row.lost += static_cast<int>(accepted.size() - finished.size());
  for (const auto& [event_id, bodies] : per_event) {
    row.resent += sends[event_id] - static_cast<int>(bodies.size());
    if (bodies.size() > 1) {
      duplicated += static_cast<int>(bodies.size()) - 1;
      ADD_FAILURE() << "different status records for " << event_id << ": " << bodies.size();
    }
  }
  // No record of these upgrades was given up on: a dead letter of a valid order is lost work.
  for (const ConsumedRecord& r : tap->Records()) {
    DeadLetter letter;
    Event event;
    if (r.topic != topics::kDeadLetters || !letter.ParseFromString(r.payload) ||
        !event.ParseFromString(letter.payload())) {
      continue;
    }
    for (const auto& [db, id] : accepted) {
      if (event.order().upgrade_id() == id) {
        ++row.lost;
        ADD_FAILURE() << letter.consumer_group() << " gave up on " << event.event_id() << ": " << letter.reason();
      }
    }
  }
  // No database left offline, on either server.
  for (int server : {0, 1}) {
    EXPECT_EQ(platform->hosting(server)
                  .QueryValue("postgres",
                              "SELECT count(*) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE NOT d.datistemplate AND NOT "
                              "(d.datconnlimit <> 0 AND (r.rolsuper OR has_database_privilege(d.datdba, d.oid, 'CONNECT'))) "
                              "AND d.datname NOT LIKE '%\\_rp\\_%'")
                  .value_or("unreadable"),
              "0")
        << platform->hosting_name(server);
  }
  row.duplicated = duplicated;
  std::vector<std::string> parts;
  for (const auto& [state, n] : states) parts.push_back(absl::StrCat(n, " ", state));
  row.final_states = absl::StrJoin(parts, ", ");
  rows->push_back(row);
}

// Whether upgrade.status ever showed the upgrade stalled.
bool EverShownStalled(const std::string& upgrade_id) {
  for (const ConsumedRecord& r : tap->Records()) {
    StatusChanged change;
    if (r.topic == topics::kStatus && change.ParseFromString(r.payload) &&
        change.upgrade().upgrade_id() == upgrade_id && change.upgrade().stalled()) {
      return true;
    }
  }
  return false;
}

// Whether the migrator's log shows that it applied the step before the slow one on the copy of
// `database` (so it is inside the slow step now).
bool InSlowStep(Stream& stream, const std::string& database) {
  auto accepted = stream.Accepted();
  return accepted.count(database) &&
         absl::StrContains(Tail(platform->service("migrator").log_path(), 1 << 20),
                           absl::StrCat(TestDatabaseName(database, accepted[database]),
                                        ": 17.0->18.0/02_rename_partner_phone applied"));
}

// Waits until `service`'s overall health is `expected`.
bool Reports(const std::string& service, grpc::health::v1::HealthCheckResponse::ServingStatus expected,
             absl::Duration timeout) {
  return WaitFor([&] {
    auto h = platform->Health(platform->health_address(service));
    return h.ok() && *h == expected;
  }, timeout);
}

// Every service reports NOT_SERVING within a few probes while `what` is down.
void ExpectNoServiceServing(const std::string& what) {
  for (const std::string& service : kServices) {
    EXPECT_TRUE(Reports(service, grpc::health::v1::HealthCheckResponse::NOT_SERVING, absl::Seconds(8)))
        << service << " still reports SERVING with " << what << " down";
  }
}

// ... and SERVING again by itself once it is back.
void ExpectEveryServiceServing() {
  for (const std::string& service : kServices) {
    EXPECT_TRUE(Reports(service, grpc::health::v1::HealthCheckResponse::SERVING, absl::Seconds(60))) << service;
  }
}

TEST(Faults, Baseline) {
  Stream stream("baseline", 4);
  stream.Start(absl::Milliseconds(100));
  Settle(stream, "none", absl::Now());
}

// kill -9 of each service while upgrades flow through it, then a restart. The cloner is killed
// while a copy is being made (the source is locked, so the copy waits), the migrator a second into a
// 3 s step: longer than the consumers' auto-commit interval, so an offset stored before the work
// would be committed and the work lost.
TEST(Faults, KillEachServiceMidWork) {
  for (const std::string& service : kServices) {
    SCOPED_TRACE(service);
    Stream stream(absl::StrCat("kill_", service), 5);
    const std::string& first = stream.databases()[0];
    if (service == "cloner") stream.Lock(0);
    // A tiny plan is over in tens of milliseconds: the first one takes 3 s, so that status shows it
    // MIGRATING long enough for the poll to see (status, notifier) and the migrator is killed in it.
    if (service == "migrator" || service == "status" || service == "notifier") stream.MakeSlow(0);
    stream.Start(absl::Milliseconds(300));
    // The worker's own log says when it is inside the held-open work (status may lag behind it).
    auto log_shows = [&](const std::string& text) {
      return absl::StrContains(Tail(platform->service(service).log_path(), 1 << 20), text);
    };
    std::function<bool()> busy = [&] { return stream.AcceptedCount() >= 2; };  // request: orders coming in
    if (service == "status" || service == "notifier") busy = [&] { return InState(stream, first, STATE_MIGRATING); };
    if (service == "cloner") {
      busy = [&] { return log_shows(absl::StrCat("database ", first, " is in use; copying it with pg_dump")); };
    }
    if (service == "migrator") busy = [&] { return InSlowStep(stream, first); };
    ASSERT_TRUE(WaitFor(busy, absl::Seconds(30))) << platform->Logs();
    if (service == "cloner" || service == "migrator") absl::SleepFor(absl::Seconds(1));  // well into the work
    platform->service(service).Kill();
    absl::SleepFor(absl::Seconds(1));  // down for a moment, as when Kubernetes restarts a pod
    ASSERT_TRUE(platform->RestartService(service).ok());
    stream.Release();
    absl::Time restarted = absl::Now();
    // A notifier killed while emails flow may be between the SMTP server's acceptance and its own
    // record: that one email is then sent again, with its Message-ID (the at-least-once window).
    Settle(stream, absl::StrCat("kill -9 ", service, " mid-work, restart after 1 s"), restarted,
           service == "notifier" ? 1 : 0, /*resends_at_most=*/true);
  }
}

// kill -9 of each service in the middle of a rollout (4 databases of one tenant, waves of 2), then
// a restart: the rollout ends, each database ordered once (one upgrade of the rollout on record, one
// copy, each step once), with every invariant of a stream. The cloner is killed inside a copy, the
// migrator inside a 3 s step, status and notifier while an upgrade migrates, request once the first
// wave is ordered (its lease on the rollout lapses, and the restarted replica takes it over).
TEST(Faults, KillEachServiceMidRollout) {
  for (const std::string& service : kServices) {
    SCOPED_TRACE(service);
    const std::string tenant = absl::StrCat("fleet_", service);
    Stream stream(absl::StrCat("rollout_kill_", service), 4, 0, tenant);
    const std::string& first = stream.databases()[0];
    if (service == "cloner") stream.Lock(0);
    if (service == "migrator" || service == "status" || service == "notifier") stream.MakeSlow(0);
    stream.StartRollout(tenant, 2);
    auto log_shows = [&](const std::string& text) {
      return absl::StrContains(Tail(platform->service(service).log_path(), 1 << 20), text);
    };
    std::function<bool()> busy = [&] { return stream.AcceptedCount() >= 1; };
    if (service == "status" || service == "notifier") busy = [&] { return InState(stream, first, STATE_MIGRATING); };
    if (service == "cloner") {
      busy = [&] { return log_shows(absl::StrCat("database ", first, " is in use; copying it with pg_dump")); };
    }
    if (service == "migrator") busy = [&] { return InSlowStep(stream, first); };
    ASSERT_TRUE(WaitFor([&] {
      stream.Accepted();
      return busy();
    }, absl::Seconds(60))) << platform->Logs();
    if (service == "cloner" || service == "migrator") absl::SleepFor(absl::Seconds(1));  // well into the work
    platform->service(service).Kill();
    absl::SleepFor(absl::Seconds(1));
    ASSERT_TRUE(platform->RestartService(service).ok());
    stream.Release();
    const absl::Time restarted = absl::Now();
    std::optional<Rollout> done;
    EXPECT_TRUE(WaitFor([&] {
      done = stream.RolloutNow();
      return done.has_value() && done->state() == ROLLOUT_DONE;
    }, absl::Minutes(3))) << (done ? done->DebugString() : "no answer") << platform->Log("request");
    if (done.has_value()) {
      EXPECT_EQ(done->reason(), "every wave ended: 4 succeeded, 0 failed, 0 skipped");
    }
    Settle(stream, absl::StrCat("kill -9 ", service, " mid-rollout, restart after 1 s"), restarted,
           service == "notifier" ? 1 : 0, /*resends_at_most=*/true);  // as in KillEachServiceMidWork
    // Each database ordered once by the rollout: one upgrade of it on record in status (which has
    // recorded every final state by now).
    for (const std::string& db : stream.databases()) {
      ListUpgradesRequest req;
      req.set_database(db);
      ListUpgradesResponse resp;
      ASSERT_TRUE(platform->status().ListUpgrades(Context().get(), req, &resp).ok());
      EXPECT_EQ(resp.upgrades_size(), 1) << db << ": " << resp.DebugString();
      if (resp.upgrades_size() > 0) {
        EXPECT_EQ(resp.upgrades(0).rollout_id(), stream.rollout_id()) << db;
      }
    }
  }
}

// Takes `what` away for `length` (`down`, then `up`) while `stream` flows, running `during` in the
// outage: every service reports NOT_SERVING while it is away and SERVING again once it is back,
// with no restart; then the stream settles.
void Outage(Stream& stream, const std::string& what, absl::Duration length, const std::function<void()>& down,
            const std::function<void()>& up, const std::function<void()>& during) {
  down();
  absl::Time until = absl::Now() + length;
  during();
  ExpectNoServiceServing(what);
  while (absl::Now() < until) absl::SleepFor(absl::Milliseconds(100));
  up();
  absl::Time back = absl::Now();
  ExpectEveryServiceServing();
  Settle(stream, absl::StrCat(what, " down for ", absl::FormatDuration(length)), back);
}

// kill -9 of the cloner, then of the migrator, in the middle of Production upgrades: the cloner
// once a database is going offline (ending its sessions, making its restore point), then once it
// swaps the names of the database and of its copy (the database becomes the restore point); the
// migrator a second into a 3 s step of a plan. Restarted, each resumes: every upgrade succeeds,
// with one restore point, each step once, and no database left offline.
TEST(Faults, KillTheClonerAndTheMigratorMidProduction) {
  struct KillPoint {
    std::string service;
    std::string name;
    // What the cloner logs of the first database at that point.
    std::function<std::string(const std::string&)> logged;
  };
  const std::vector<KillPoint> points = {
      {"cloner", "offline", [](const std::string& db) { return absl::StrCat(db, " is offline"); }},
      {"cloner", "swap", [](const std::string& db) { return absl::StrCat("swapping the names of ", db, " "); }},
      {"migrator", "step", nullptr}};
  for (const KillPoint& at : points) {
    const std::string& service = at.service;
    SCOPED_TRACE(service + " " + at.name);
    Stream stream(absl::StrCat("kill_", service, "_", at.name, "_production"), 3);
    stream.PassTests();
    const std::string& first = stream.databases()[0];
    if (service == "migrator") stream.MakeSlow(0);
    stream.Start(absl::Milliseconds(300));
    std::function<bool()> busy = [&] {
      auto accepted = stream.Accepted();
      return accepted.count(first) &&
             absl::StrContains(Tail(platform->service("cloner").log_path(), 1 << 20), at.logged(first));
    };
    if (service == "migrator") {
      busy = [&] {
        return absl::StrContains(Tail(platform->service("migrator").log_path(), 1 << 20),
                                 absl::StrCat(first, ": 17.0->18.0/02_rename_partner_phone applied"));
      };
    }
    ASSERT_TRUE(WaitFor(busy, absl::Seconds(60))) << platform->Logs();
    if (service == "migrator") absl::SleepFor(absl::Seconds(1));  // well into the step
    platform->service(service).Kill();
    absl::SleepFor(absl::Seconds(1));
    ASSERT_TRUE(platform->RestartService(service).ok());
    Settle(stream, absl::StrCat("kill -9 ", service, " mid-Production (", at.name, "), restart after 1 s"), absl::Now());
  }
}

// The broker, then PostgreSQL (every server), taken away while the cloner copies a Production
// upgrade's offline database, the copy that takes its name (issue 23): the copy or the swap meets
// the outage, and the upgrade resumes once it is back. Each of 3 Production upgrades must end
// SUCCEEDED at 18.0 with one restore point, each step once, and no database left offline, and
// every service reports NOT_SERVING during the outage and SERVING after it.
TEST(Faults, OutagesWhileAnOfflineDatabaseIsCopied) {
  struct Away {
    std::string name;
    std::string what;
    absl::Duration length;
    std::function<void()> down, up;
  };
  const std::vector<Away> outages = {
      {"broker_down_copy_production", "the broker", absl::Seconds(10),
       [] { ASSERT_TRUE(platform->broker().Control("down 1").ok()); },
       [] { ASSERT_TRUE(platform->broker().Control("up 1").ok()); }},
      {"postgres_crash_copy_production", "PostgreSQL", absl::Seconds(5),
       [] {
         platform->hosting(0).StopImmediately();
         platform->hosting(1).StopImmediately();
       },
       [] {
         for (int server : {0, 1}) {
           absl::Status started = platform->hosting(server).StartAgain();
           ASSERT_TRUE(started.ok()) << started;
         }
       }}};
  for (const Away& away : outages) {
    SCOPED_TRACE(away.name);
    Stream stream(away.name, 3);
    stream.PassTests();
    const std::string& first = stream.databases()[0];
    stream.Start(absl::Milliseconds(300));
    ASSERT_TRUE(WaitFor([&] {
      auto accepted = stream.Accepted();
      return accepted.count(first) &&
             absl::StrContains(Tail(platform->service("cloner").log_path(), 1 << 20),
                               absl::StrCat("copying ", first, " to "));
    }, absl::Seconds(60))) << platform->Logs();
    Outage(stream, away.what, away.length, away.down, away.up, [] {});
  }
}

// The broker away for `length` while orders keep coming: request still admits them (into its outbox).
void BrokerOutage(const std::string& name, absl::Duration length) {
  Stream stream(name, 6);
  stream.Start(length / 6);
  WaitFor([&] { return stream.AcceptedCount() >= 2; }, absl::Seconds(20));
  size_t before = 0;
  Outage(
      stream, "the broker", length,
      [&] {
        ASSERT_TRUE(platform->broker().Control("down 1").ok());
        before = stream.AcceptedCount();
      },
      [] { ASSERT_TRUE(platform->broker().Control("up 1").ok()); },
      [&] {
        EXPECT_TRUE(WaitFor([&] { return stream.AcceptedCount() > before; }, length - absl::Seconds(1)))
            << "request admitted nothing while the broker was down";
      });
}

TEST(Faults, BrokerDownForTenSeconds) { BrokerOutage("broker_down_10s", absl::Seconds(10)); }

TEST(Faults, BrokerDownForAMinute) { BrokerOutage("broker_down_60s", absl::Seconds(60)); }

TEST(Faults, PostgresCrashesAndRestarts) {
  Stream stream("postgres_crash", 5);
  stream.Start(absl::Milliseconds(300));
  WaitFor([&] { return stream.AcceptedCount() >= 2 && AnyIn(stream, STATE_MIGRATING); }, absl::Seconds(20));
  // `pg_ctl stop -m immediate` of every PostgreSQL server (the platform database's and both hosting
  // servers): sessions cut mid-transaction, crash recovery at the restart.
  Outage(
      stream, "PostgreSQL", absl::Seconds(5),
      [] {
        platform->hosting(0).StopImmediately();
        platform->hosting(1).StopImmediately();
      },
      [] {
        for (int server : {0, 1}) {
          absl::Status started = platform->hosting(server).StartAgain();
          ASSERT_TRUE(started.ok()) << started;
        }
      },
      [] {});
}

// Whether upgrade.status ever showed the upgrade waiting for something that `waiting_for` is part of.
bool EverShownWaiting(const std::string& upgrade_id, const std::string& waiting_for) {
  for (const ConsumedRecord& r : tap->Records()) {
    StatusChanged change;
    if (r.topic == topics::kStatus && change.ParseFromString(r.payload) &&
        change.upgrade().upgrade_id() == upgrade_id && absl::StrContains(change.upgrade().waiting_for(), waiting_for)) {
      return true;
    }
  }
  return false;
}

// One of the two hosting servers crashes (`pg_ctl stop -m immediate`) while Test upgrades run on
// both, one of its own mid-plan, another likely inside its command step (whose failure to connect
// must be taken for the server's absence, not the upgrade's failure: clean CI once failed it so). The other server's upgrades are ordered and finish while it is
// down; its own are shown waiting for it (not failed, not stalled), and once it is back they resume
// where they were: every upgrade succeeds, with one copy and each step once.
TEST(Faults, AHostingServerCrashesMidWork) {
  Stream there("pg2_crash", 4, 1);
  Stream here("pg2_crash_other", 4, 0);
  there.MakeSlow(0, 4);
  there.MakeSlowCommand(1, 6);  // likely inside its command step (a vendor's tool, connected on its own) at the crash
  there.Start(absl::Milliseconds(300));
  ASSERT_TRUE(WaitFor([&] { return InSlowStep(there, there.databases()[0]); }, absl::Seconds(60))) << platform->Logs();
  absl::SleepFor(absl::Seconds(1));  // well into the slow step
  platform->hosting(1).StopImmediately();
  const absl::Time down = absl::Now();
  // The other server's upgrades: ordered and finished while pg-2 is down.
  here.Start(absl::Milliseconds(300));
  here.Join();
  EXPECT_EQ(here.AcceptedCount(), here.databases().size());
  EXPECT_TRUE(AllFinal(here, absl::Minutes(2))) << platform->Logs();
  for (const auto& [db, id] : here.Accepted()) {
    absl::StatusOr<Upgrade> u = GetUpgrade(id);
    EXPECT_TRUE(u.ok() && u->state() == STATE_SUCCEEDED) << db << " did not succeed while pg-2 was down";
  }
  // The upgrade pg-2 was in the middle of is shown waiting for its server.
  const std::string stuck = there.Accepted()[there.databases()[0]];
  EXPECT_TRUE(WaitFor([&] { return EverShownWaiting(stuck, "hosting server pg-2 does not answer"); }, absl::Seconds(30)))
      << platform->Logs();
  absl::StatusOr<Upgrade> waiting = GetUpgrade(stuck);
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_FALSE(IsFinal(waiting->state())) << State_Name(waiting->state()) << ": " << waiting->error();
  EXPECT_FALSE(waiting->stalled());
  // Down for 5 s at least: the waiting worker asks its server again and again meanwhile.
  while (absl::Now() < down + absl::Seconds(5)) absl::SleepFor(absl::Milliseconds(100));
  const absl::Duration outage = absl::Now() - down;
  absl::Status started = platform->hosting(1).StartAgain();
  ASSERT_TRUE(started.ok()) << started;
  const absl::Time back = absl::Now();
  const std::string fault =
      absl::StrCat("pg-2 (one of two hosting servers) down for ", absl::FormatDuration(absl::Trunc(outage, absl::Seconds(1))));
  Settle(there, fault, back);
  Settle(here, absl::StrCat(fault, "; these on pg-1"), down);
}

TEST(Faults, InjectedProduceAndCommitErrors) {
  Stream stream("produce_commit_errors", 5);
  stream.Start(absl::Milliseconds(200));
  WaitFor([&] { return stream.AcceptedCount() >= 1; }, absl::Seconds(20));
  // Kafka API 0 is Produce, 8 OffsetCommit; 6 is NOT_LEADER_FOR_PARTITION, 14 COORDINATOR_LOAD_IN_PROGRESS.
  ASSERT_TRUE(platform->broker().Control("error 0 6 8").ok());
  ASSERT_TRUE(platform->broker().Control("error 8 14 8").ok());
  absl::Time injected = absl::Now();
  Settle(stream, "8 Produce errors, 8 OffsetCommit errors", injected);
  ASSERT_TRUE(platform->broker().Control("clear").ok());
}

// The consumer groups of each topic the services consume.
const std::map<std::string, std::vector<std::string>> kGroups = {
    {topics::kOrders, {"upshift-status", "upshift-cloner", "upshift-notifier"}},
    {topics::kEvents, {"upshift-request", "upshift-status", "upshift-cloner", "upshift-migrator", "upshift-notifier"}}};

// Dead letters on upgrade.dlq whose payload is `payload`, as (origin topic, consumer group).
std::set<std::pair<std::string, std::string>> DeadLettersOf(const std::string& payload) {
  std::set<std::pair<std::string, std::string>> out;
  for (const ConsumedRecord& r : tap->Records()) {
    if (r.topic != topics::kDeadLetters) continue;
    DeadLetter letter;
    if (letter.ParseFromString(r.payload) && letter.payload() == payload) {
      EXPECT_FALSE(letter.reason().empty());
      EXPECT_GE(letter.offset(), 0);
      out.insert({letter.origin_topic(), letter.consumer_group()});
    }
  }
  return out;
}

// Publishes `payload` (keyed `key`) on both consumed topics and waits until every consumer group of
// each has sent it to upgrade.dlq: the records published before it with that key were handled then.
void PoisonAndAwait(const std::string& key, const std::string& payload) {
  for (const auto& [topic, groups] : kGroups) ASSERT_TRUE(producer->Publish(topic, key, payload).ok());
  std::set<std::pair<std::string, std::string>> expected;
  for (const auto& [topic, groups] : kGroups) {
    for (const std::string& group : groups) expected.insert({topic, group});
  }
  EXPECT_TRUE(WaitFor([&] { return DeadLettersOf(payload) == expected; }, absl::Seconds(60)))
      << DeadLettersOf(payload).size() << " of " << expected.size() << " dead letters for " << key;
}

TEST(Faults, PoisonRecordsGoToTheDeadLetterQueueAndTheConsumersMoveOn) {
  Stream stream("poison", 4);
  stream.Start(absl::Milliseconds(300));
  absl::Time poisoned = absl::Now();
  // Not a protobuf at all, and a well-formed Event naming an invalid database.
  PoisonAndAwait("poison-garbage", std::string("\x0a\xff\xff\xff\xff\x0f garbage", 16));
  Event bad;
  bad.set_event_id("00000000-0000-4000-8000-000000000000/accepted");
  bad.mutable_order()->set_upgrade_id("00000000-0000-4000-8000-000000000000");
  bad.mutable_order()->set_database("acme'; DROP DATABASE upshift; --");
  bad.mutable_accepted();
  PoisonAndAwait("poison-event", bad.SerializeAsString());
  Settle(stream, "2 poison records on each of upgrade.orders and upgrade.events: 16 dead letters", poisoned);
}

TEST(Faults, EveryRecordDeliveredAgainAndOutOfOrderChangesNothing) {
  Stream stream("replayed", 4);
  stream.Start(absl::Milliseconds(100));
  stream.Join();
  ASSERT_TRUE(AllFinal(stream));
  std::set<std::string> ids;
  for (const auto& [db, id] : stream.Accepted()) ids.insert(id);
  // Every order and event of these upgrades once more, newest first.
  std::vector<ConsumedRecord> replay;
  for (const ConsumedRecord& r : tap->Records()) {
    if (r.topic != topics::kOrders && r.topic != topics::kEvents) continue;
    Event e;
    if (e.ParseFromString(r.payload) && ids.count(e.order().upgrade_id())) replay.push_back(r);
  }
  std::reverse(replay.begin(), replay.end());
  ASSERT_FALSE(replay.empty());
  for (const ConsumedRecord& r : replay) {
    ASSERT_TRUE(replayers->count(r.signer)) << "a record signed by \"" << r.signer << "\"";
    ASSERT_TRUE(replayers->at(r.signer)->Publish(r.topic, r.key, r.payload).ok());
  }
  absl::Time replayed = absl::Now();
  // A sentinel after them on each database's partition shows when every group has handled them.
  for (const auto& [db, id] : stream.Accepted()) PoisonAndAwait(db, absl::StrCat("sentinel after the replay of ", db));
  Settle(stream, absl::StrCat(replay.size(), " records delivered again, newest first"), replayed);
}

// SIGTERM to each service while upgrades flow: it stops within 20 s, cleanly, and loses nothing.
TEST(Faults, SigtermToEachServiceUnderLoad) {
  for (const std::string& service : kServices) {
    SCOPED_TRACE(service);
    Stream stream(absl::StrCat("sigterm_", service), 4);
    stream.Start(absl::Milliseconds(300));
    WaitFor([&] { return stream.AcceptedCount() >= 2; }, absl::Seconds(20));
    absl::Time asked = absl::Now();
    int status = platform->service(service).Stop(absl::Seconds(25), SIGTERM);
    absl::Duration took = absl::Now() - asked;
    EXPECT_LT(took, absl::Seconds(20)) << service << " took " << took << " to stop";
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      const std::string log = platform->Log(service);  // a crash's stack is at its end
      ADD_FAILURE() << service << " ended with wait status " << status << "; the end of its log:\n"
                    << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
    }
    ASSERT_TRUE(platform->RestartService(service).ok());
    Settle(stream,
           absl::StrCat("SIGTERM to ", service, " (stopped in ",
                        absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(10))), "), restart"),
           absl::Now());
  }
}

// A step that runs longer than the migrator's max.poll.interval.ms: the migrator stays in its group
// (no rebalance, no redelivery: the plan is started once), and the other databases' upgrades wait
// only for that step.
TEST(Faults, AStepLongerThanTheMaxPollIntervalKeepsTheWorkerInItsGroup) {
  // Only what the migrator logs from here on is this scenario's (earlier faults may have stalled it).
  const std::string log = platform->service("migrator").log_path();
  const size_t log_before = std::filesystem::exists(log) ? std::filesystem::file_size(log) : 0;
  Stream stream("long_step", 4);
  const int seconds = static_cast<int>(absl::ToInt64Seconds(kMaxPollInterval)) * 2;
  stream.MakeSlow(0, seconds);
  stream.Start(absl::Milliseconds(200));
  absl::Time started = absl::Now();
  Settle(stream, absl::StrCat("one step of ", seconds, " s, max.poll.interval.ms ",
                              absl::ToInt64Milliseconds(kMaxPollInterval)),
         started);
  const std::string id = stream.Accepted()[stream.databases()[0]];
  int started_plans = 0;
  for (const ConsumedRecord& r : tap->Records()) {
    Event e;
    if (r.topic == topics::kEvents && e.ParseFromString(r.payload) && e.event_id() == id + "/migration_started") {
      ++started_plans;
    }
  }
  EXPECT_EQ(started_plans, 1) << "the long plan was delivered again: the migrator left its group";
  EXPECT_FALSE(EverShownStalled(id)) << "shown stalled while its migrator was at work: no heartbeats";
  const std::string logged = Tail(log, std::filesystem::file_size(log) - log_before);
  EXPECT_FALSE(absl::StrContains(logged, "maximum poll interval")) << logged.substr(0, 20000);
}

// The notifier killed after the SMTP server stored an email and before the notifier learned it (the
// server holds its reply): restarted, the notifier sends that email once more, with the same
// Message-ID, by which mail clients recognise it. No email is lost, none is sent as two different ones.
TEST(Faults, ANotifierKilledBetweenSendingAndRecordingSendsTheSameMessageAgain) {
  Stream stream("notifier_send_window", 3);
  const size_t before = platform->smtp().Messages().size();
  platform->smtp().HoldReplies();
  stream.Start(absl::Milliseconds(200));
  bool stored = WaitFor([&] { return platform->smtp().Messages().size() > before; }, absl::Seconds(30));
  platform->service("notifier").Kill();
  platform->smtp().ReplyAgain();
  ASSERT_TRUE(stored) << platform->Logs();
  ASSERT_TRUE(platform->RestartService("notifier").ok());
  Settle(stream, "kill -9 of the notifier after the SMTP server stored an email, before its reply; restart",
         absl::Now(), /*email_resends=*/1);
}

// A migrator frozen (SIGSTOP) in the middle of a step: neither dead nor working, and its consumer
// group may not notice for a while. status shows its upgrade stalled within the stall timeout; once
// thawed, the plan goes on and the mark is cleared.
TEST(Faults, AFrozenWorkerShowsItsUpgradeStalledUntilItThaws) {
  Stream stream("frozen_migrator", 3);
  const std::string& first = stream.databases()[0];
  stream.MakeSlow(0);
  stream.Start(absl::Milliseconds(200));
  ASSERT_TRUE(WaitFor([&] { return InSlowStep(stream, first); }, absl::Seconds(30))) << platform->Logs();
  const std::string id = stream.Accepted()[first];
  platform->service("migrator").Signal(SIGSTOP);
  absl::Time frozen = absl::Now();
  bool shown = WaitFor([&] {
    absl::StatusOr<Upgrade> u = GetUpgrade(id);
    return u.ok() && u->stalled() && u->state() == STATE_MIGRATING;
  }, absl::Seconds(30));
  absl::Duration noticed = absl::Now() - frozen;
  platform->service("migrator").Signal(SIGCONT);
  EXPECT_TRUE(shown) << "never shown stalled while its migrator was frozen";
  Settle(stream,
         absl::StrCat("SIGSTOP of the migrator mid-step; shown stalled after ",
                      absl::FormatDuration(absl::Trunc(noticed, absl::Milliseconds(100))), " (timeout ",
                      absl::FormatDuration(kStallTimeout), "); SIGCONT"),
         absl::Now());
  absl::StatusOr<Upgrade> done = GetUpgrade(id);
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(done->stalled());
  EXPECT_TRUE(EverShownStalled(id)) << "upgrade.status never showed it stalled";  // Settle awaited its records
}

// Two replicas of each consumer (the workers and status): a second one joins while upgrades flow,
// and the first is killed with kill -9 while the group rebalances to let the second in. The second
// takes over its partitions (and, for status, answers the calls).
TEST(Faults, ASecondReplicaJoinsAndTheFirstIsKilledMidRebalance) {
  for (const std::string worker : {"cloner", "migrator", "notifier", "status"}) {
    SCOPED_TRACE(worker);
    Stream stream(absl::StrCat("replicas_", worker), 6);
    stream.Start(absl::Milliseconds(300));
    WaitFor([&] { return stream.AcceptedCount() >= 1; }, absl::Seconds(20));
    absl::StatusOr<std::string> second = platform->AddReplica(worker);
    ASSERT_TRUE(second.ok()) << second.status();
    // Up and subscribed: its join is under way, and the group rebalances.
    ASSERT_TRUE(Reports(*second, grpc::health::v1::HealthCheckResponse::SERVING, absl::Seconds(20)));
    platform->service(worker).Kill();
    absl::Time killed = absl::Now();
    if (worker == "status") platform->UseStatusReplica(*second);
    // The first stays dead until the stream settled: what was done after the kill was the second's.
    // A notifier killed at a random moment may be between the SMTP server's acceptance and its own
    // record: then that one email is sent again, with its Message-ID (the at-least-once window).
    Settle(stream, absl::StrCat("a second ", worker, " joins; kill -9 of the first during the rebalance"), killed,
           worker == "notifier" ? 1 : 0, /*resends_at_most=*/true);
    const std::map<std::string, std::string> work = {{"cloner", "copied"}, {"migrator", "applied"}, {"notifier", "emailed"}};
    if (work.count(worker)) {
      EXPECT_TRUE(absl::StrContains(Tail(platform->service(*second).log_path(), 1 << 20), work.at(worker)))
          << *second << " did none of the work";
    }
    // Back to one replica: the first restarts, the second stops cleanly.
    ASSERT_TRUE(platform->RestartService(worker).ok());
    if (worker == "status") {
      ASSERT_TRUE(Reports(worker, grpc::health::v1::HealthCheckResponse::SERVING, absl::Seconds(20)));
      platform->UseStatusReplica(worker);
    }
    int status = platform->service(*second).Stop(absl::Seconds(25), SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << *second << " ended with wait status " << status;
  }
}

// The logs of `names` (a service and its replicas), concatenated.
std::string LogsOf(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) absl::StrAppend(&out, Tail(platform->service(name).log_path(), 1 << 24));
  return out;
}

int Occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// How many events of upgrade `id` have the id `id`/`kind` (an event published again keeps its id).
int EventsOf(const std::string& id, const std::string& kind) {
  int n = 0;
  for (const ConsumedRecord& r : tap->Records()) {
    Event e;
    if (r.topic == topics::kEvents && e.ParseFromString(r.payload) && e.event_id() == absl::StrCat(id, "/", kind)) ++n;
  }
  return n;
}

// The steps of the test catalog's plan, as the migrator logs them applied.
const std::vector<std::string> kPlanSteps = {
    "16.0->17.0/01_split_partner_address", "16.0->17.0/02_rename_order_line_quantity",
    "16.0->17.0/03_invoice_states",        "17.0->18.0/01_product_templates",
    "17.0->18.0/02_rename_partner_phone",  "17.0->18.0/02a_test_slow",
    "17.0->18.0/02c_test_command",         "17.0->18.0/02b_test_fail",
    "17.0->18.0/03_order_line_constraints"};

// Every copy made once by all the cloners, every step of every plan applied once by all the
// migrators (a step found applied is logged "already applied", and is not counted), and the
// command step run once, start to end.
void ExpectEachCopyAndStepOnce(Stream& stream, const std::vector<std::string>& cloners,
                               const std::vector<std::string>& migrators) {
  const std::string copied = LogsOf(cloners);
  const std::string migrated = LogsOf(migrators);
  for (const auto& [db, id] : stream.Accepted()) {
    const std::string copy = TestDatabaseName(db, id);
    EXPECT_EQ(Occurrences(copied, absl::StrCat("copying ", db, " to ", copy, " ")), 1) << copy << " copied again";
    for (const std::string& step : kPlanSteps) {
      EXPECT_EQ(Occurrences(migrated, absl::StrCat(copy, ": ", step, " applied")), 1) << copy << ": " << step;
    }
    EXPECT_EQ(CommandRuns(copy, "start"), 1) << copy << ": the command step started more than once";
    EXPECT_EQ(CommandRuns(copy, "end"), 1) << copy;
  }
}

// Starts `n` more replicas of `worker`, each up and serving; returns their names.
std::vector<std::string> AddReplicas(const std::string& worker, int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<std::string> added = platform->AddReplica(worker);
    EXPECT_TRUE(added.ok()) << added.status();
    if (!added.ok()) continue;
    EXPECT_TRUE(Reports(*added, grpc::health::v1::HealthCheckResponse::SERVING, absl::Seconds(20))) << *added;
    names.push_back(*added);
  }
  return names;
}

// Stops `replicas` with SIGTERM, each within its grace, with exit code 0.
void StopReplicas(const std::vector<std::string>& replicas) {
  for (const std::string& name : replicas) {
    int status = platform->service(name).Stop(absl::Seconds(25), SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << name << " ended with wait status " << status;
  }
}

// Scaling up while copies, long steps and a long command step run: 1 -> 3 replicas of the cloner and
// of the migrator. The partitions that move to a newcomer carry records whose work the first replica
// is still doing: the newcomer waits for its claim, then finds the work done. Each copy and each plan
// starts once.
TEST(Faults, ScaleUpMidWork) {
  Stream stream("scale_up_mid_work", 8);
  for (int i = 0; i < 8; ++i) {
    stream.MakeSlow(i, 10);
    stream.MakeSlowCommand(i, 3);
  }
  stream.Start(absl::Milliseconds(700));
  const std::string& first = stream.databases()[0];
  ASSERT_TRUE(WaitFor([&] { return InSlowStep(stream, first); }, absl::Seconds(60))) << platform->Logs();
  std::vector<std::string> cloners = AddReplicas("cloner", 2);
  std::vector<std::string> migrators = AddReplicas("migrator", 2);
  absl::Time scaled = absl::Now();
  stream.Join();
  std::vector<std::string> newcomers = cloners;
  newcomers.insert(newcomers.end(), migrators.begin(), migrators.end());
  // Records whose work the first replicas had in hand when their partitions moved: the newcomers
  // found them claimed (and waited) or done (and did nothing).
  auto fenced = [&] {
    const std::string logs = LogsOf(newcomers);
    return Occurrences(logs, " is claimed by ") + Occurrences(logs, " was done by ");
  };
  Settle(stream, "1 -> 3 cloners and migrators while copies, 10 s steps and 3 s command steps run", scaled);
  absl::StrAppend(&rows->back().faults, " (work in hand met by a newcomer: ", fenced(), " times)");
  std::vector<std::string> all_cloners = cloners, all_migrators = migrators;
  all_cloners.push_back("cloner");
  all_migrators.push_back("migrator");
  ExpectEachCopyAndStepOnce(stream, all_cloners, all_migrators);
  for (const auto& [db, id] : stream.Accepted()) {
    EXPECT_EQ(EventsOf(id, "clone_started"), 1) << db << ": its copy started twice";
    EXPECT_EQ(EventsOf(id, "migration_started"), 1) << db << ": its plan started twice";
  }
  StopReplicas(cloners);
  StopReplicas(migrators);
}

// Scaling down while work is in flight: 3 -> 1 replicas of the cloner and of the migrator by SIGTERM.
// A stopping migrator ends the step at hand and goes no further; its claim released, the survivor
// resumes the plan from its next step. Every step still runs once.
TEST(Faults, ScaleDownMidWork) {
  std::vector<std::string> cloners = AddReplicas("cloner", 2);
  std::vector<std::string> migrators = AddReplicas("migrator", 2);
  Stream stream("scale_down_mid_work", 8);
  for (int i = 0; i < 8; ++i) {
    stream.MakeSlow(i, 4);
    stream.MakeSlowCommand(i, 2);
  }
  stream.Start(absl::Milliseconds(300));
  // Until a replica about to stop is inside a plan.
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(LogsOf(migrators), "02_rename_partner_phone applied"); },
                      absl::Seconds(60)))
      << platform->Logs();
  absl::Time stopping = absl::Now();
  StopReplicas(migrators);
  StopReplicas(cloners);
  Settle(stream, "3 -> 1 cloners and migrators by SIGTERM mid-plan", stopping);
  std::vector<std::string> all_cloners = cloners, all_migrators = migrators;
  all_cloners.push_back("cloner");
  all_migrators.push_back("migrator");
  ExpectEachCopyAndStepOnce(stream, all_cloners, all_migrators);
  EXPECT_TRUE(absl::StrContains(LogsOf(migrators), "this replica is stopping"))
      << "no plan was handed over mid-way";
}

// kill -9 of a migrator with many plans in flight at once, in their long step. Restarted, it finds
// its old claims (another holder, as far as request knows), waits for them to expire, and resumes
// each plan: each step is recorded once, and every upgrade succeeds.
TEST(Faults, KillWithManyInFlight) {
  Stream stream("kill_with_many_in_flight", 6);
  for (int i = 0; i < 6; ++i) stream.MakeSlow(i, 8);
  stream.Start(absl::Milliseconds(100));
  auto in_slow_step = [&] {
    int n = 0;
    for (const std::string& db : stream.databases()) n += InSlowStep(stream, db);
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return in_slow_step() >= 4; }, absl::Seconds(60))) << platform->Logs();
  const int in_flight = in_slow_step();
  // The backlog an autoscaler reads counts those plans as the migrators' work in flight.
  auto backlog = [] {
    GetBacklogResponse b;
    EXPECT_TRUE(platform->status().GetBacklog(Context().get(), GetBacklogRequest(), &b).ok());
    return b;
  };
  EXPECT_TRUE(WaitFor([&] {
    GetBacklogResponse b = backlog();
    return b.groups_size() == 2 && b.groups(1).group() == "upshift-migrator" && b.groups(1).in_flight() >= in_flight;
  }, absl::Seconds(10))) << backlog().DebugString();
  platform->service("migrator").Kill();
  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(platform->RestartService("migrator").ok());
  Settle(stream, absl::StrCat("kill -9 of the migrator with ", in_flight, " plans in their 8 s step; restart"),
         absl::Now());
  const GetBacklogResponse after = backlog();
  for (const WorkerBacklog& g : after.groups()) {
    EXPECT_EQ(g.waiting() + g.in_flight(), 0) << g.DebugString();  // every upgrade ended
  }
}

// A Test and a check of one database, ordered together: their copies and plans take turns (records
// of one database are handled in order), never overlapping, while other databases' work runs beside.
TEST(Faults, SameDatabaseInOrder) {
  Stream stream("same_database_in_order", 3);
  const std::string& db = stream.databases()[0];
  stream.MakeSlow(0, 3);
  stream.Start(absl::Milliseconds(100));
  ASSERT_TRUE(WaitFor([&] { return stream.Accepted().count(db) > 0; }, absl::Seconds(20)));
  CheckUpgradeRequest req;
  req.set_database(db);
  req.set_target_version("18.0");
  CheckUpgradeResponse resp;
  grpc::Status ordered = platform->requests().CheckUpgrade(Context().get(), req, &resp);
  ASSERT_TRUE(ordered.ok()) << ordered.error_message();
  const std::string check = resp.upgrade().upgrade_id();
  Settle(stream, "a check ordered beside a Test of one database", absl::Now());
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<Upgrade> u = GetUpgrade(check);
    return u.ok() && IsFinal(u->state());
  }, absl::Minutes(2)));
  // When each one's plan started and ended, from its events.
  auto span = [&](const std::string& id) {
    std::pair<absl::Time, absl::Time> out{absl::InfiniteFuture(), absl::InfinitePast()};
    for (const ConsumedRecord& r : tap->Records()) {
      Event e;
      if (r.topic != topics::kEvents || !e.ParseFromString(r.payload) || e.order().upgrade_id() != id) continue;
      absl::Time at = FromProto(e.occurred_at());
      if (e.has_migration_started()) out.first = std::min(out.first, at);
      if (e.has_succeeded() || e.has_failed()) out.second = std::max(out.second, at);
    }
    return out;
  };
  // status may show the check final before the suite's own consumer of upgrade.events has read
  // its last event: wait for both ends of both plans there.
  EXPECT_TRUE(WaitFor([&] {
    return span(stream.Accepted()[db]).second != absl::InfinitePast() && span(check).second != absl::InfinitePast();
  }, absl::Seconds(30)));
  auto [test_start, test_end] = span(stream.Accepted()[db]);
  auto [check_start, check_end] = span(check);
  ASSERT_LT(test_start, test_end);
  ASSERT_LT(check_start, check_end);
  EXPECT_TRUE(test_end <= check_start || check_end <= test_start)
      << "the Test's plan (" << test_start << " to " << test_end << ") and the check's (" << check_start << " to "
      << check_end << ") overlapped";
}

}  // namespace
}  // namespace upshift::testing
