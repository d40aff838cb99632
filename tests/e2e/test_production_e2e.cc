// Production upgrades through the five service binaries: offline window, verified restore point,
// in-place upgrade, automatic rollback, admission rules, downtime estimate.

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "libs/auth/principal.h"
#include "libs/common/concurrent.h"
#include "libs/common/ids.h"
#include "libs/common/time.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "tests/support/platform.h"
#include "upgrade/v1/audit.grpc.pb.h"
#include "tests/support/wait.h"

namespace upshift::testing {
namespace {

using namespace upgrade::v1;

Platform* platform = nullptr;

class PlatformEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    catalog_dir_ = MakeTempDir("upshift-test-catalog");
    std::filesystem::remove(catalog_dir_);
    // Short leases and stall timeouts, so that a dead migrator is noticed within seconds.
    // Two hosting servers (issue 24): every test uses the first, HostingServers.* the second.
    Platform::Options options{MakeTestCatalog(catalog_dir_),
                              {{"cloner",
                                {"--migration_lease=4s", "--sweep_interval=250ms", "--heartbeat_interval=250ms",
                                 // Restore points copied file by file, and verified so, as a large
                                 // database's are (the e2e of Tests keeps the default).
                                 "--file_copy_from_mb=1"}},
                               {"migrator", {"--heartbeat_interval=250ms"}},
                               {"status", {"--stall_timeout=2s"}},
                               // Scheduled upgrades looked at often, and reminded 3 s ahead.
                               // Rollouts driven often.
                               {"request",
                                {"--schedule_interval=200ms", "--reminder_before=3s", "--rollout_interval=200ms"}}}};
    options.hosting_servers = 2;
    absl::StatusOr<std::unique_ptr<Platform>> p = Platform::Start(options);
    ASSERT_TRUE(p.ok()) << p.status();
    owned_ = *std::move(p);
    platform = owned_.get();
    // An application role, bound by the connection limit like a customer's application.
    ASSERT_TRUE(platform->postgres().Exec("postgres", "CREATE ROLE app_user LOGIN").ok());
  }
  void TearDown() override {
    platform = nullptr;
    owned_.reset();
    std::filesystem::remove_all(catalog_dir_);
  }

 private:
  std::string catalog_dir_;
  std::unique_ptr<Platform> owned_;
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new PlatformEnvironment());

RequestUpgradeRequest Order(const std::string& db, Purpose purpose, const std::string& target = "18.0") {
  RequestUpgradeRequest req;
  req.set_database(db);
  req.set_target_version(target);
  req.set_notify_email(absl::StrCat("owner+", db, "@example.com"));
  req.set_purpose(purpose);
  return req;
}

grpc::Status Request(const RequestUpgradeRequest& req, Upgrade* out) {
  RequestUpgradeResponse resp;
  grpc::Status s = platform->requests().RequestUpgrade(Context().get(), req, &resp);
  *out = resp.upgrade();
  return s;
}

// Follows WatchUpgrade to its end, calling `on_change` for every Upgrade it carries.
Upgrade WatchToEnd(const std::string& upgrade_id, const std::function<void(const Upgrade&)>& on_change = nullptr) {
  WatchUpgradeRequest req;
  req.set_upgrade_id(upgrade_id);
  auto ctx = Context(absl::Minutes(5));
  auto reader = platform->status().WatchUpgrade(ctx.get(), req);
  Upgrade u, last;
  while (reader->Read(&u)) {
    if (on_change) on_change(u);
    last = u;
  }
  EXPECT_TRUE(reader->Finish().ok());
  return last;
}

// request learns an upgrade's end from upgrade.events: waits until it admits the next order of `db`.
void AwaitNoActiveUpgrade(const std::string& db) {
  EXPECT_TRUE(WaitFor([&] {
    GetUpgradeOptionsRequest req;
    req.set_database(db);
    GetUpgradeOptionsResponse resp;
    return platform->requests().GetUpgradeOptions(Context().get(), req, &resp).ok() &&
           resp.active_upgrade_id().empty();
  }));
}

// Runs a successful Test of `db` to `target` and returns it.
Upgrade PassTest(const std::string& db, const std::string& target = "18.0") {
  Upgrade accepted;
  grpc::Status s = Request(Order(db, PURPOSE_TEST, target), &accepted);
  EXPECT_TRUE(s.ok()) << s.error_message();
  Upgrade done = WatchToEnd(accepted.upgrade_id());
  EXPECT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  AwaitNoActiveUpgrade(db);
  return done;
}

std::map<std::string, std::string> Checksums(const std::string& db) {
  std::map<std::string, std::string> out;
  auto tables = platform->postgres().Query(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
  EXPECT_TRUE(tables.ok()) << tables.status();
  for (const auto& row : *tables) {
    out[row[0]] = *platform->postgres().QueryValue(
        db, absl::StrCat("SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM public.\"", row[0],
                         "\" AS t"));
  }
  return out;
}

std::string Value(const std::string& db, const std::string& sql) {
  absl::StatusOr<std::string> v = platform->postgres().QueryValue(db, sql);
  EXPECT_TRUE(v.ok()) << v.status() << " in " << db << ": " << sql;
  return v.ok() ? *v : "";
}

// Whether the application role can open a session on `db`.
absl::Status AppConnects(const std::string& db) {
  std::string conninfo = absl::StrCat("host=127.0.0.1 port=", platform->postgres().port(), " user=app_user");
  return pg::WithConnection(conninfo, db, [](pqxx::connection&) { return absl::OkStatus(); });
}

Database GetDatabase(const std::string& name) {
  GetDatabaseRequest req;
  req.set_name(name);
  Database db;
  grpc::Status s = platform->status().GetDatabase(Context().get(), req, &db);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return db;
}

std::set<int> Tags(const Database& db) { return std::set<int>(db.tags().begin(), db.tags().end()); }

std::vector<std::string> MessagesTo(const std::string& address) {
  std::vector<std::string> out;
  for (const std::string& m : platform->smtp().Messages()) {
    if (absl::StrContains(m, absl::StrCat("To: <", address, ">"))) out.push_back(m);
  }
  return out;
}

// The upgrade as status shows it now; empty until status has recorded it.
Upgrade UpgradeNow(const std::string& upgrade_id) {
  GetUpgradeRequest req;
  req.set_upgrade_id(upgrade_id);
  Upgrade u;
  if (!platform->status().GetUpgrade(Context().get(), req, &u).ok()) u.Clear();
  return u;
}

bool AnyMessageContains(const std::string& address, const std::string& text) {
  for (const std::string& m : MessagesTo(address)) {
    if (absl::StrContains(m, text)) return true;
  }
  return false;
}

TEST(Production, UpgradesTheDatabaseOfflineAndKeepsItAsItWentOfflineAsTheRestorePoint) {
  const std::string db = "prodok";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 200).ok());
  // Hold the offline window open long enough to observe it from outside. The Test takes the same
  // slow step, so its timings weigh the Production upgrade's progress.
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '3')")
                  .ok());
  const Upgrade test = PassTest(db);
  // The Test's report carries its plan's timeline, which paces the Production's time left: each of
  // its eight steps done after the one before, the slow one (a 3 s sleep) 3 s after it.
  ASSERT_EQ(test.report().steps_size(), 9) << test.report().DebugString();  // and the neutralization
  int64_t before_step = 0;
  for (const StepReport& step : test.report().steps()) {
    if (step.hop() == "neutralize") continue;
    EXPECT_GE(step.done_after_ms(), before_step) << step.step();
    EXPECT_GT(step.done_after_ms(), 0) << step.step();
    if (step.step() == "02a_test_slow") EXPECT_GE(step.done_after_ms() - before_step, 3000);
    before_step = step.done_after_ms();
  }
  EXPECT_GE(test.report().plan_duration_ms(), before_step);
  GetUpgradeOptionsRequest oreq;
  oreq.set_database(db);
  GetUpgradeOptionsResponse options;
  ASSERT_TRUE(platform->requests().GetUpgradeOptions(Context().get(), oreq, &options).ok());
  ASSERT_EQ(options.options_size(), 2);
  EXPECT_EQ(options.options(1).version(), "18.0");
  EXPECT_EQ(options.options(1).purposes_size(), 3);  // test, production and check
  EXPECT_EQ(options.options(0).purposes_size(), 2);  // 17.0: no Test went there; test and check

  std::map<std::string, std::string> before = Checksums(db);
  ASSERT_TRUE(AppConnects(db).ok());
  const std::string oid = Value("postgres", "SELECT oid FROM pg_database WHERE datname = 'prodok'");

  Upgrade accepted;
  grpc::Status s = Request(Order(db, PURPOSE_PRODUCTION), &accepted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(accepted.state(), STATE_ACCEPTED);
  EXPECT_GT(FromProto(accepted.estimated_downtime()), absl::ZeroDuration());

  std::set<State> states;
  absl::Status while_offline = absl::OkStatus();
  std::set<int> tags_while_offline;
  bool probed = false;
  std::map<std::string, int> progress;  // step -> percentage shown once it was applied
  std::set<int64_t> expected_back;       // every expected_online_at shown while offline, in ms
  Upgrade done = WatchToEnd(accepted.upgrade_id(), [&](const Upgrade& u) {
    states.insert(u.state());
    if (u.has_expected_online_at() && !u.has_online_at()) {
      expected_back.insert(absl::ToUnixMillis(FromProto(u.expected_online_at())));
    }
    if (!u.current_step().empty()) progress[u.current_step()] = u.progress_percent();
    if (u.state() == STATE_MIGRATING && !probed) {
      probed = true;
      while_offline = AppConnects(db);
      tags_while_offline = Tags(GetDatabase(db));
      EXPECT_FALSE(GetDatabase(db).online());
    }
  });
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  EXPECT_TRUE(states.count(STATE_SNAPSHOTTING));
  EXPECT_TRUE(states.count(STATE_MIGRATING));
  ASSERT_TRUE(probed);
  EXPECT_FALSE(while_offline.ok()) << "an application could connect while the database was offline";
  EXPECT_TRUE(tags_while_offline.count(TAG_OFFLINE));
  EXPECT_TRUE(tags_while_offline.count(TAG_UPGRADE_IN_PROGRESS));

  // Back online at 18.0 with its data migrated; tags cleared.
  EXPECT_TRUE(AppConnects(db).ok());
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "18.0");
  EXPECT_EQ(Value(db, "SELECT count(*) FROM product_template"), Value(db, "SELECT count(*) FROM product_product"));
  EXPECT_EQ(Value(db, "SELECT count(*) FROM res_partner WHERE city IS NULL"), "0");
  EXPECT_EQ(Value(db, "SELECT count(*) FROM ir_mail_server WHERE active"), "2");  // production is not neutralized
  Database after = GetDatabase(db);
  EXPECT_TRUE(after.online());
  EXPECT_EQ(after.version(), "18.0");
  EXPECT_EQ(Tags(after), std::set<int>{});
  EXPECT_TRUE(done.has_offline_at());
  EXPECT_TRUE(done.has_online_at());
  EXPECT_EQ(FromProto(done.estimated_remaining()), absl::ZeroDuration());
  // Foretold from going offline, then again once the plan ran (from its start, and at its steps
  // from its pace, which tests/unit/status_logic_test.cc checks value by value).
  EXPECT_GE(expected_back.size(), 2u);
  EXPECT_EQ(FromProto(done.estimated_downtime()),
            FromProto(accepted.estimated_downtime()));  // what the customer was told stays on record
  EXPECT_EQ(done.progress_percent(), 100);
  EXPECT_EQ(done.current_step(), "17.0->18.0/03_order_line_constraints");
  // Weighed by the Test's timings: five of eight steps done is 62% by count, but the slow step to
  // come took nearly all of the Test's plan time.
  ASSERT_TRUE(progress.count("17.0->18.0/02_rename_partner_phone")) << platform->Logs();
  EXPECT_LT(progress["17.0->18.0/02_rename_partner_phone"], 40);
  if (progress.count("17.0->18.0/02a_test_slow")) {  // a watch may skip a change that is soon replaced
    EXPECT_GE(progress["17.0->18.0/02a_test_slow"], 80);
  }

  // The restore point: listed under the database, at the old version and content.
  const std::string rp = done.restore_point();
  ASSERT_FALSE(rp.empty());
  ListDatabasesResponse list;
  ASSERT_TRUE(platform->status().ListDatabases(Context().get(), ListDatabasesRequest(), &list).ok());
  bool listed = false;
  for (const Database& d : list.databases()) {
    if (d.name() != db) continue;
    for (const Database& r : d.restore_points()) {
      if (r.name() == rp) {
        listed = true;
        EXPECT_TRUE(Tags(r).count(TAG_RESTORE_POINT));
        EXPECT_EQ(r.version(), "16.0");
        EXPECT_FALSE(r.online());  // applications cannot write into the restore point
      }
    }
  }
  EXPECT_TRUE(listed);
  EXPECT_EQ(Checksums(rp), before);
  EXPECT_FALSE(AppConnects(rp).ok());
  // The database itself, as it went offline: its own files under the restore point's name. A copy
  // took the database's name, and the plan upgraded the copy.
  EXPECT_EQ(Value("postgres", absl::StrCat("SELECT oid FROM pg_database WHERE datname = '", rp, "'")), oid);
  EXPECT_NE(Value("postgres", "SELECT oid FROM pg_database WHERE datname = 'prodok'"), oid);
  EXPECT_NE(platform->Log("cloner").find(absl::StrCat(db, " went offline as restore point ", rp)), std::string::npos);
  // Its counts, read in the restore point while the steps ran, are the report's "before".
  bool reported = false;
  for (const TableReport& t : done.report().tables()) {
    if (t.table() != "public.res_partner") continue;
    reported = true;
    EXPECT_EQ(t.rows_before(), 200);
    EXPECT_EQ(t.rows_after(), 200);
  }
  EXPECT_TRUE(reported) << done.report().DebugString();

  // Emails: the estimate at acceptance, the real offline time at the end.
  const std::string owner = absl::StrCat("owner+", db, "@example.com");
  ASSERT_TRUE(WaitFor([&] { return MessagesTo(owner).size() == 4; })) << MessagesTo(owner).size();
  EXPECT_TRUE(AnyMessageContains(owner, "Your database will be offline during the upgrade: about"));
  EXPECT_TRUE(AnyMessageContains(owner, "Subject: Your database prodok is upgraded to 18.0"));
  EXPECT_TRUE(AnyMessageContains(owner, "It was offline for"));
}

// Issue 24: a tenant's database on the second hosting server is upgraded in place there; its
// restore point is made and kept there, beside it, and nowhere else; it comes back online at the
// new version with its ACL as it was.
TEST(HostingServers, AProductionOnTheSecondServerKeepsItsRestorePointThere) {
  const std::string db = "eastprod";
  PostgresServer& east = platform->hosting(1);
  ASSERT_TRUE(east.GenerateSampleDatabase(db, 100, "tenant_eastprod").ok());
  auto value = [&](PostgresServer& server, const std::string& in, const std::string& sql) {
    absl::StatusOr<std::string> v = server.QueryValue(in, sql);
    EXPECT_TRUE(v.ok()) << v.status() << ": " << sql;
    return v.ok() ? *v : "";
  };
  const std::string acl = "SELECT coalesce(datacl::text, 'default') FROM pg_database WHERE datname = 'eastprod'";
  const std::string acl_before = value(east, "postgres", acl);
  Upgrade test = PassTest(db);
  EXPECT_EQ(test.server(), "pg-2");
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  EXPECT_EQ(accepted.server(), "pg-2");
  Upgrade done = WatchToEnd(accepted.upgrade_id());
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  EXPECT_EQ(done.server(), "pg-2");
  EXPECT_EQ(value(east, db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "18.0");
  const std::string rp = absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '", done.restore_point(), "'");
  EXPECT_EQ(value(east, "postgres", rp), "1");
  EXPECT_EQ(value(platform->hosting(0), "postgres", rp), "0");
  EXPECT_EQ(value(east, "postgres", "SELECT datallowconn FROM pg_database WHERE datname = 'eastprod'"), "t");
  const std::string acl_after = value(east, "postgres", acl);
  if (acl_before == "default") {  // given back as the explicit ACL equal to the default
    EXPECT_EQ(acl_after, "{=Tc/tenant_eastprod,tenant_eastprod=CTc/tenant_eastprod}");
  } else {
    EXPECT_EQ(acl_after, acl_before);
  }
  Database shown = GetDatabase(db);
  EXPECT_EQ(shown.server(), "pg-2");
  ASSERT_EQ(shown.restore_points_size(), 1);
  EXPECT_EQ(shown.restore_points(0).server(), "pg-2");
}

// Issue 24: pg-2 crashes while a Test of one of its databases runs its plan. A Test on pg-1 ordered
// meanwhile finishes; the pg-2 upgrade is shown waiting for its server, not stalled; once pg-2 is
// back it resumes where it was and succeeds, with the same steps in its history as the other Test.
TEST(HostingServers, AServerThatDiesHoldsBackOnlyItsOwnUpgradesWhichResumeWhenItIsBack) {
  PostgresServer& east = platform->hosting(1);
  const std::string down_db = "eastdown", up_db = "westup";
  ASSERT_TRUE(east.GenerateSampleDatabase(down_db, 100).ok());
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(up_db, 100).ok());
  ASSERT_TRUE(
      east.Exec(down_db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '3')").ok());
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(down_db, PURPOSE_TEST), &accepted).ok());
  auto upgrade = [&] { return UpgradeNow(accepted.upgrade_id()); };
  // The step before the slow one is applied: pg-2 crashes while the slow one runs.
  ASSERT_TRUE(WaitFor([&] { return upgrade().current_step() == "17.0->18.0/02_rename_partner_phone"; }))
      << platform->Logs();
  east.StopImmediately();
  Upgrade other = PassTest(up_db);
  EXPECT_EQ(other.state(), STATE_SUCCEEDED);
  Upgrade waiting;
  ASSERT_TRUE(WaitFor([&] {
    waiting = upgrade();
    return waiting.waiting_for() == "hosting server pg-2 does not answer";
  })) << upgrade().DebugString() << platform->Logs();
  EXPECT_EQ(waiting.state(), STATE_MIGRATING);
  EXPECT_FALSE(waiting.stalled());
  ASSERT_TRUE(east.StartAgain().ok());
  Upgrade done = WatchToEnd(accepted.upgrade_id());
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  EXPECT_EQ(done.waiting_for(), "");
  const std::string history = "SELECT count(*) FROM upshift.migration_history";
  EXPECT_EQ(east.QueryValue(done.test_database(), history).value_or("?"),
            platform->postgres().QueryValue(other.test_database(), history).value_or("!"));
  EXPECT_EQ(east.QueryValue(done.test_database(), "SELECT latest_version FROM ir_module_module WHERE name = 'base'")
                .value_or(""),
            "18.0");
}

// Issue 24: pg-2 crashes while a Production upgrade's in-place plan runs there: its customer is told
// once that the database stays offline while its server is away; once pg-2 is back, the lease rules
// decide (the plan goes on, or the cloner rolls it back from the restore point), and the database
// ends online, at the new version or identical to before.
TEST(HostingServers, AProductionWhoseServerDiesWhileOfflineTellsItsCustomerAndEndsOnline) {
  PostgresServer& east = platform->hosting(1);
  const std::string db = "eastoffline";
  ASSERT_TRUE(east.GenerateSampleDatabase(db, 100).ok());
  PassTest(db);
  ASSERT_TRUE(east.Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '3')").ok());
  const std::string sums = "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM res_partner t";
  const std::string partners_before = east.QueryValue(db, sums).value_or("?");
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  auto upgrade = [&] { return UpgradeNow(accepted.upgrade_id()); };
  ASSERT_TRUE(WaitFor([&] { return upgrade().current_step() == "17.0->18.0/02_rename_partner_phone"; }))
      << platform->Logs();
  east.StopImmediately();
  const std::string owner = absl::StrCat("owner+", db, "@example.com");
  ASSERT_TRUE(WaitFor([&] { return AnyMessageContains(owner, "Subject: Upgrade delayed: eastoffline stays offline"); }))
      << platform->Logs();
  ASSERT_TRUE(east.StartAgain().ok());
  Upgrade done = WatchToEnd(accepted.upgrade_id());
  ASSERT_TRUE(done.state() == STATE_SUCCEEDED || done.state() == STATE_ROLLED_BACK)
      << State_Name(done.state()) << " " << done.error() << platform->Logs();
  EXPECT_EQ(east.QueryValue("postgres", "SELECT datconnlimit FROM pg_database WHERE datname = 'eastoffline'")
                .value_or("?"),
            "-1");  // online again
  const std::string version =
      east.QueryValue(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'").value_or("?");
  if (done.state() == STATE_SUCCEEDED) {
    EXPECT_EQ(version, "18.0");
  } else {
    EXPECT_EQ(version, "16.0");
    EXPECT_EQ(east.QueryValue(db, sums).value_or("!"), partners_before);
  }
  int delayed = 0;
  for (const std::string& m : MessagesTo(owner)) delayed += absl::StrContains(m, "Subject: Upgrade delayed");
  EXPECT_EQ(delayed, 1);
}

TEST(Production, AFailingStepRollsBackToTheVerifiedRestorePoint) {
  const std::string db = "prodfail";
  // A tenant's database: offline by its ACL, which the rollback must give back as it was.
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 150, "tenant_prodfail").ok());
  const std::string acl_before =
      Value("postgres", "SELECT coalesce(datacl::text, 'default') FROM pg_database WHERE datname = 'prodfail'");
  PassTest(db);
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.fail_upgrade', '1')")
                  .ok());
  std::map<std::string, std::string> before = Checksums(db);

  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  std::set<State> states;
  Upgrade done = WatchToEnd(accepted.upgrade_id(), [&](const Upgrade& u) { states.insert(u.state()); });
  ASSERT_EQ(done.state(), STATE_ROLLED_BACK) << done.error() << platform->Logs();
  EXPECT_TRUE(states.count(STATE_ROLLING_BACK));
  EXPECT_TRUE(absl::StrContains(done.error(), "forced failure for the rollback test")) << done.error();
  EXPECT_TRUE(absl::StrContains(done.error(), "02b_test_fail")) << done.error();

  // The database is its old self: old version, identical content, online.
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_EQ(Checksums(db), before);
  EXPECT_EQ(Value(db, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'upshift'"), "0");
  EXPECT_TRUE(AppConnects(db).ok());
  Database after = GetDatabase(db);
  EXPECT_TRUE(after.online());
  EXPECT_EQ(after.version(), "16.0");
  EXPECT_EQ(Tags(after), std::set<int>{TAG_UPGRADE_FAILED});
  EXPECT_EQ(after.restore_points_size(), 0);
  // The restore point became the database again: no copy of it is left behind.
  EXPECT_EQ(Value("postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '",
                                           RestorePointName(db, accepted.upgrade_id()), "'")),
            "0");
  EXPECT_EQ(Value("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'prodfail%'"), "2");  // + Test copy
  const std::string acl_after =
      Value("postgres", "SELECT coalesce(datacl::text, 'default') FROM pg_database WHERE datname = 'prodfail'");
  if (acl_before == "default") {  // given back as the explicit ACL equal to the default
    EXPECT_EQ(acl_after, "{=Tc/tenant_prodfail,tenant_prodfail=CTc/tenant_prodfail}");
  } else {
    EXPECT_EQ(acl_after, acl_before);
  }

  const std::string owner = absl::StrCat("owner+", db, "@example.com");
  ASSERT_TRUE(WaitFor([&] { return AnyMessageContains(owner, "Subject: Upgrade rolled back: prodfail is back at 16.0"); }))
      << platform->Logs();
  EXPECT_TRUE(AnyMessageContains(owner, "Your data is intact"));
  EXPECT_TRUE(AnyMessageContains(owner, "forced failure for the rollback test"));
}

// An application writes to the database right up to the moment it goes offline, one acknowledged
// row after another; the plan then fails. The rollback gives back exactly the database of that
// moment: every acknowledged row (and at most the one whose commit the cut-off left unanswered),
// nothing after, every other table identical by checksum.
TEST(Production, ADatabaseWrittenUpToGoingOfflineIsRestoredToExactlyThatMoment) {
  const std::string db = "prodlive";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 120).ok());
  PassTest(db);
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "CREATE TABLE live_writes (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());"
                            "GRANT INSERT ON live_writes TO app_user;"
                            "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.fail_upgrade', '1')")
                  .ok());
  std::map<std::string, std::string> before = Checksums(db);
  before.erase("live_writes");

  std::atomic<int64_t> acknowledged{0}, unanswered{0};
  std::atomic<bool> refused{false}, stop{false};
  std::thread writer([&] {
    const std::string app = absl::StrCat("host=127.0.0.1 port=", platform->postgres().port(), " user=app_user");
    // Writes until the database refuses the application's connection: it is offline.
    while (!refused && !stop) {
      absl::Status connected = pg::WithConnection(app, db, [&](pqxx::connection& conn) {
        while (!stop) {
          const int64_t next = acknowledged + 1;
          try {
            pqxx::nontransaction(conn).exec(absl::StrCat("INSERT INTO live_writes (id) VALUES (", next, ")"));
          } catch (const std::exception&) {
            unanswered = next;  // cut off: it may or may not have committed
            return absl::OkStatus();
          }
          acknowledged = next;
        }
        return absl::OkStatus();
      });
      if (!connected.ok()) refused = true;
    }
  });
  absl::Cleanup joined = [&] {
    stop = true;  // a failed assertion below must not leave it writing
    writer.join();
  };
  ASSERT_TRUE(WaitFor([&] { return acknowledged >= 50; })) << "the application could not write";

  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  Upgrade done = WatchToEnd(accepted.upgrade_id());
  ASSERT_EQ(done.state(), STATE_ROLLED_BACK) << done.error() << platform->Logs();
  ASSERT_TRUE(refused) << "the application was never refused";

  // The rows of that moment, in order and without a gap: all acknowledged ones, perhaps the last.
  const int64_t rows = std::stoll(Value(db, "SELECT count(*) FROM live_writes"));
  EXPECT_EQ(Value(db, "SELECT coalesce(max(id), 0) FROM live_writes"), absl::StrCat(rows));
  EXPECT_GE(rows, acknowledged.load());
  EXPECT_LE(rows, std::max(acknowledged.load(), unanswered.load()));
  std::map<std::string, std::string> after = Checksums(db);
  after.erase("live_writes");
  EXPECT_EQ(after, before);
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_TRUE(AppConnects(db).ok());
}

// Issue 25: the same step failing on several databases is one group for an operator, named by the
// step, with the databases' own names taken out of its signature.
// Issue 25: a Production upgrade ordered a few seconds ahead is scheduled (its database online,
// untouched, tagged with the start), its owner emailed that it is scheduled and then reminded, and
// it starts no earlier than asked and soon after. Another, scheduled and cancelled, never starts.
TEST(Schedules, AProductionOrderedForLaterIsRemindedAndStartsOnTimeAndACancelledOneNeverStarts) {
  const std::string db = "sched_prod", other = "sched_cancel";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 50, "tenant_sched").ok());
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(other, 20, "tenant_sched").ok());
  PassTest(db);

  RequestUpgradeRequest req = Order(db, PURPOSE_PRODUCTION);
  const absl::Time start = absl::Now() + absl::Seconds(8);
  ToProto(start, req.mutable_not_before());
  Upgrade scheduled;
  grpc::Status s = Request(req, &scheduled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(scheduled.state(), STATE_SCHEDULED);
  EXPECT_TRUE(scheduled.cancellable());
  // The other: a Test due in 4 s, cancelled at once.
  RequestUpgradeRequest later = Order(other, PURPOSE_TEST);
  ToProto(absl::Now() + absl::Seconds(4), later.mutable_not_before());
  Upgrade doomed;
  ASSERT_TRUE(Request(later, &doomed).ok());
  EXPECT_EQ(doomed.state(), STATE_SCHEDULED);
  CancelUpgradeRequest cancel;
  cancel.set_upgrade_id(doomed.upgrade_id());
  CancelUpgradeResponse cancelled;
  s = platform->requests().CancelUpgrade(Context().get(), cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(cancelled.upgrade().state(), STATE_CANCELLED);

  // While it waits: scheduled in status, the database tagged with its start, online, unchanged.
  ASSERT_TRUE(WaitFor([&] {
    Database d = GetDatabase(db);
    return UpgradeNow(scheduled.upgrade_id()).state() == STATE_SCHEDULED && Tags(d).count(TAG_UPGRADE_SCHEDULED) &&
           d.has_scheduled_start();
  })) << GetDatabase(db).DebugString() << platform->Logs();
  Database waiting = GetDatabase(db);
  EXPECT_LT(absl::AbsDuration(FromProto(waiting.scheduled_start()) - start), absl::Milliseconds(1));
  EXPECT_EQ(Tags(waiting).count(TAG_UPGRADE_IN_PROGRESS), 0u);
  EXPECT_TRUE(AppConnects(db).ok());

  absl::Time left_schedule = absl::InfiniteFuture();
  Upgrade done = WatchToEnd(scheduled.upgrade_id(), [&](const Upgrade& u) {
    if (u.state() != STATE_SCHEDULED) left_schedule = std::min(left_schedule, absl::Now());
  });
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  // Not before its time, and soon after it (request looks every 200 ms).
  ASSERT_TRUE(done.has_offline_at());
  EXPECT_GE(FromProto(done.offline_at()), start);
  EXPECT_LT(FromProto(done.offline_at()) - start, absl::Seconds(10));
  EXPECT_GE(left_schedule, start);
  EXPECT_EQ(FromProto(done.not_before()), FromProto(scheduled.not_before()));
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "18.0");
  Database after = GetDatabase(db);
  EXPECT_EQ(Tags(after).count(TAG_UPGRADE_SCHEDULED), 0u);
  EXPECT_FALSE(after.has_scheduled_start());

  // The owner was told it is scheduled, reminded 3 s ahead (--reminder_before; the mailbox keeps no
  // order, the reminder says when it was made), and told it started.
  const std::string owner = absl::StrCat("owner+", db, "@example.com");
  ASSERT_TRUE(WaitFor([&] {
    return AnyMessageContains(owner, "Subject: Upgrade scheduled: sched_prod to 18.0 (production) starts at ") &&
           AnyMessageContains(owner, "Subject: Reminder: upgrade of sched_prod to 18.0 (production) starts in 3 s") &&
           AnyMessageContains(owner, "Subject: Upgrade in progress: sched_prod to 18.0 (production)");
  })) << platform->Logs();
  EXPECT_TRUE(AnyMessageContains(owner, "Please tell its users of this downtime"));

  // The cancelled one never started: no copy, no tag, and its owner told.
  EXPECT_EQ(UpgradeNow(doomed.upgrade_id()).state(), STATE_CANCELLED);
  EXPECT_EQ(Value("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'sched\\_cancel\\_%'"), "0");
  Database untouched = GetDatabase(other);
  EXPECT_TRUE(untouched.tags().empty()) << untouched.DebugString();
  const std::string other_owner = absl::StrCat("owner+", other, "@example.com");
  EXPECT_TRUE(WaitFor([&] { return AnyMessageContains(other_owner, "cancelled on request before its scheduled start"); }))
      << platform->Logs();
}

// Issue 25: scheduling survives restarts. request, status and the notifier are all killed while a
// Test waits for its start, and stay down past it; once they are back, it starts (late: the stated
// rule for a start missed while request was down), runs, and its owner is told.
TEST(Schedules, AStartPassedWhileTheServicesWereDownIsServedWhenTheyAreBack) {
  const std::string db = "sched_restart";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20, "tenant_sched_restart").ok());
  RequestUpgradeRequest req = Order(db, PURPOSE_TEST);
  const absl::Time start = absl::Now() + absl::Seconds(3);
  ToProto(start, req.mutable_not_before());
  Upgrade scheduled;
  grpc::Status s = Request(req, &scheduled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitFor([&] { return UpgradeNow(scheduled.upgrade_id()).state() == STATE_SCHEDULED; }))
      << platform->Logs();
  const std::vector<std::string> services = {"request", "status", "notifier"};
  for (const std::string& name : services) platform->service(name).Kill();
  ASSERT_TRUE(WaitFor([&] { return absl::Now() > start + absl::Seconds(2); }, absl::Seconds(30)));
  for (const std::string& name : services) ASSERT_TRUE(platform->RestartService(name).ok()) << name;

  Upgrade done;
  ASSERT_TRUE(WaitFor([&] {
    done = UpgradeNow(scheduled.upgrade_id());
    return done.state() == STATE_SUCCEEDED || done.state() == STATE_FAILED;
  }, absl::Minutes(2))) << UpgradeNow(scheduled.upgrade_id()).DebugString() << platform->Logs();
  EXPECT_EQ(done.state(), STATE_SUCCEEDED) << done.error();
  EXPECT_FALSE(done.test_database().empty());
  EXPECT_EQ(Value(done.test_database(), "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "18.0");
  const std::string owner = absl::StrCat("owner+", db, "@example.com");
  EXPECT_TRUE(WaitFor([&] {
    return AnyMessageContains(owner, "Subject: Upgrade scheduled: sched_restart") &&
           AnyMessageContains(owner, "Subject: Upgrade in progress: sched_restart") &&
           AnyMessageContains(owner, "Subject: Your test database is ready");
  })) << platform->Logs();
  AwaitNoActiveUpgrade(db);
}

// Issue 25: after a Production upgrade and new writes, a revert takes the database back to its
// restore point exactly (every table by checksum), online at the old version, with the tags and
// emails that go with it. It asks first, saying what is lost since when; a second one is refused.
TEST(Revert, AfterAProductionUpgradeAndNewWritesARevertGivesBackTheRestorePointExactly) {
  const std::string db = "revertme";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 60, "tenant_revert").ok());
  PassTest(db);
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  Upgrade upgraded = WatchToEnd(accepted.upgrade_id());
  ASSERT_EQ(upgraded.state(), STATE_SUCCEEDED) << upgraded.error() << platform->Logs();
  AwaitNoActiveUpgrade(db);
  const std::string rp = upgraded.restore_point();
  ASSERT_FALSE(rp.empty());
  const std::map<std::string, std::string> restore_point = Checksums(rp);
  // The application writes after the upgrade.
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('written.after.upgrade', '1')")
                  .ok());
  ASSERT_NE(Checksums(db), restore_point);

  RevertUpgradeRequest req;
  req.set_upgrade_id(accepted.upgrade_id());
  RevertUpgradeResponse resp;
  grpc::Status asked = platform->requests().RevertUpgrade(Context().get(), req, &resp);
  ASSERT_EQ(asked.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << asked.error_message();
  const std::string since =
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", FromProto(upgraded.finished_at()), absl::UTCTimeZone());
  EXPECT_TRUE(absl::StrContains(asked.error_message(), absl::StrCat("EVERYTHING WRITTEN TO IT SINCE ", since, " IS LOST")))
      << asked.error_message();
  EXPECT_EQ(Value(db, "SELECT count(*) FROM ir_config_parameter WHERE key = 'written.after.upgrade'"), "1");

  req.set_confirm_data_loss(true);
  grpc::Status s = platform->requests().RevertUpgrade(Context().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.upgrade().purpose(), PURPOSE_REVERT);
  EXPECT_EQ(resp.upgrade().target_version(), "16.0");
  EXPECT_LT(absl::AbsDuration(FromProto(resp.writes_lost_since()) - FromProto(upgraded.finished_at())),
            absl::Milliseconds(1));
  Upgrade reverted = WatchToEnd(resp.upgrade().upgrade_id());
  ASSERT_EQ(reverted.state(), STATE_SUCCEEDED) << reverted.error() << platform->Logs();
  EXPECT_TRUE(reverted.has_offline_at() && reverted.has_online_at());

  // Exactly the restore point, at the old version, online; the restore point itself is gone.
  EXPECT_EQ(Checksums(db), restore_point);
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_TRUE(AppConnects(db).ok());
  EXPECT_EQ(Value("postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '", rp, "'")), "0");
  ASSERT_TRUE(WaitFor([&] {
    Database d = GetDatabase(db);
    return d.tags().empty() && d.restore_points().empty() && d.version() == "16.0" && d.online();
  })) << GetDatabase(db).DebugString();

  const std::string owner = absl::StrCat("owner+", db, "@example.com");
  EXPECT_TRUE(WaitFor([&] {
    return AnyMessageContains(owner, "Subject: Revert in progress: revertme goes back to 16.0") &&
           AnyMessageContains(owner, absl::StrCat("since ", since, " is lost")) &&
           AnyMessageContains(owner, "Subject: Your database revertme is reverted to 16.0");
  })) << platform->Logs();

  // Twice: refused, and nothing changes.
  AwaitNoActiveUpgrade(db);
  grpc::Status again = platform->requests().RevertUpgrade(Context().get(), req, &resp);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << again.error_message();
  EXPECT_TRUE(absl::StrContains(again.error_message(), "reverted already")) << again.error_message();
  EXPECT_EQ(Checksums(db), restore_point);
}

// The rollout as request shows it now (every database with it).
Rollout RolloutNow(RolloutService::Stub& rollouts, const std::string& id) {
  GetRolloutRequest req;
  req.set_rollout_id(id);
  Rollout r;
  grpc::Status s = rollouts.GetRollout(Context().get(), req, &r);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return r;
}

// 30 databases of one tenant in 3 waves of 10. Four of the second wave hold the key that makes a
// step fail: the rollout pauses itself once more than 20% of that wave failed, and the third wave is
// never ordered while it is paused. The failures are one group, naming the step. Resumed, it ends,
// and each database was upgraded once.
TEST(Rollouts, ThirtyDatabasesInThreeWavesPauseOnTheSecondWavesFailuresAndEndOnceResumed) {
  auto rollouts = RolloutService::NewStub(
      grpc::CreateChannel(platform->request_address(), platform->client_credentials()));
  std::vector<std::string> dbs;
  for (int i = 0; i < 30; ++i) {
    std::string db = absl::StrCat("fleet_", i < 10 ? "0" : "", i);
    dbs.push_back(db);
    ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 10, "tenant_fleet").ok());
    if (i >= 10 && i < 14) {
      ASSERT_TRUE(platform->postgres()
                      .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.fail_upgrade', '1')")
                      .ok());
    }
  }
  StartRolloutRequest start;
  start.set_target_version("18.0");
  start.set_purpose(PURPOSE_TEST);
  start.mutable_selector()->add_tenants("tenant_fleet");
  start.mutable_selector()->add_from_versions("16.0");
  start.mutable_selector()->add_servers(platform->hosting_name(0));
  for (int i = 0; i < 3; ++i) start.add_waves()->set_databases(10);
  start.mutable_bake()->set_seconds(1);
  start.set_max_failed_percent(20);
  start.set_notify_email("fleet-ops@example.com");
  start.set_request_id("fleet-18");
  Rollout started;
  grpc::Status s = rollouts->StartRollout(Context().get(), start, &started);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(started.waves_size(), 3);
  for (const RolloutWaveProgress& w : started.waves()) EXPECT_EQ(w.databases(), 10);
  const std::string id = started.rollout_id();

  // Paused by itself in the second wave.
  Rollout paused;
  ASSERT_TRUE(WaitFor(
      [&] {
        paused = RolloutNow(*rollouts, id);
        return paused.state() == ROLLOUT_PAUSED && paused.waves(1).running() == 0;
      },
      absl::Minutes(4)))
      << paused.DebugString() << platform->Log("request");
  EXPECT_EQ(paused.current_wave(), 2);
  EXPECT_EQ(paused.waves(0).succeeded(), 10);
  EXPECT_EQ(paused.waves(1).failed(), 4);
  EXPECT_TRUE(absl::StrContains(paused.reason(), "wave 2:")) << paused.reason();
  EXPECT_TRUE(absl::StrContains(paused.reason(), "above the 20% allowed")) << paused.reason();
  // The third wave is untouched: not ordered, no upgrade on record.
  EXPECT_EQ(paused.waves(2).left(), 10);
  for (int i = 20; i < 30; ++i) {
    ListUpgradesRequest req;
    req.set_database(dbs[i]);
    ListUpgradesResponse resp;
    ASSERT_TRUE(platform->status().ListUpgrades(Context().get(), req, &resp).ok());
    EXPECT_EQ(resp.upgrades_size(), 0) << dbs[i];
  }
  // The failures, grouped within the rollout: one step.
  ListFailureGroupsRequest groups_req;
  groups_req.set_rollout_id(id);
  ListFailureGroupsResponse groups;
  ASSERT_TRUE(WaitFor([&] {
    groups.Clear();
    return platform->status().ListFailureGroups(Context().get(), groups_req, &groups).ok() &&
           groups.failures() == 4;
  })) << groups.DebugString();
  ASSERT_EQ(groups.groups_size(), 1) << groups.DebugString();
  EXPECT_EQ(groups.groups(0).where(), "step 17.0->18.0/02b_test_fail");
  EXPECT_EQ(groups.groups(0).count(), 4);

  // Resumed: the rest of the second wave and the third, then done.
  RolloutActionRequest action;
  action.set_rollout_id(id);
  Rollout resumed;
  s = rollouts->ResumeRollout(Context().get(), action, &resumed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  Rollout done;
  ASSERT_TRUE(WaitFor(
      [&] {
        done = RolloutNow(*rollouts, id);
        return done.state() == ROLLOUT_DONE;
      },
      absl::Minutes(4)))
      << done.DebugString() << platform->Log("request");
  EXPECT_EQ(done.reason(), "every wave ended: 26 succeeded, 4 failed, 0 skipped");
  EXPECT_EQ(done.waves(2).succeeded(), 10);
  // The third wave started after the second ended and its bake.
  EXPECT_GE(FromProto(done.waves(2).started_at()), FromProto(done.waves(1).finished_at()) + absl::Seconds(1));
  // Each database once: one upgrade of the rollout on record, as the rollout names it.
  ASSERT_EQ(done.databases_size(), 30);
  for (const RolloutDatabase& d : done.databases()) {
    ListUpgradesRequest req;
    req.set_database(d.database());
    ListUpgradesResponse resp;
    ASSERT_TRUE(platform->status().ListUpgrades(Context().get(), req, &resp).ok());
    int of_rollout = 0;
    for (const Upgrade& u : resp.upgrades()) {
      if (u.rollout_id() == id) {
        ++of_rollout;
        EXPECT_EQ(u.upgrade_id(), d.upgrade_id());
      }
    }
    EXPECT_EQ(of_rollout, 1) << d.database();
  }
  // Audited: its start and resume, and each order it placed, as its starter's, naming it.
  auto audit = AuditService::NewStub(grpc::CreateChannel(platform->request_address(), platform->client_credentials()));
  ListAuditRecordsRequest audit_req;
  audit_req.set_page_size(1000);
  ListAuditRecordsResponse trail;
  ASSERT_TRUE(audit->ListAuditRecords(Context().get(), audit_req, &trail).ok());
  std::map<std::string, int> of_rollout;
  for (const AuditRecord& r : trail.records()) {
    if (r.rollout_id() != id) continue;
    ++of_rollout[r.method()];
    EXPECT_EQ(r.code(), 0) << r.DebugString();
  }
  EXPECT_EQ(of_rollout["upgrade.v1.RolloutService/ResumeRollout"], 1);
  // The start, and each of the 30 orders placed under it.
  EXPECT_EQ(of_rollout["upgrade.v1.RolloutService/StartRollout"], 31);
  audit_req.set_database("fleet_25");
  ASSERT_TRUE(audit->ListAuditRecords(Context().get(), audit_req, &trail).ok());
  ASSERT_EQ(trail.records_size(), 1);
  EXPECT_EQ(trail.records(0).tenant(), "tenant_fleet");
  EXPECT_TRUE(trail.records(0).by_operator());
  EXPECT_EQ(trail.records(0).upgrade_id(), done.databases(25).upgrade_id());
  // The same key again: the same rollout, nothing new.
  Rollout again;
  ASSERT_TRUE(rollouts->StartRollout(Context().get(), start, &again).ok());
  EXPECT_EQ(again.rollout_id(), id);
  // A tenant's token may not start one.
  auto tenant = RolloutService::NewStub(grpc::CreateChannel(
      platform->request_address(),
      platform->CredentialsWithToken(platform->Token(
          {"", "", "owner", "tenant_fleet", {scopes::kRead, scopes::kTest, scopes::kProduction}}))));
  Rollout refused;
  EXPECT_EQ(tenant->StartRollout(Context().get(), start, &refused).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST(Failures, AStepThatFailsOnSeveralDatabasesIsOneGroupNamingTheStep) {
  const std::vector<std::string> dbs = {"failgrp_a", "failgrp_b"};
  for (const std::string& db : dbs) {
    ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20).ok());
    ASSERT_TRUE(platform->postgres()
                    .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.fail_upgrade', '1')")
                    .ok());
    Upgrade accepted;
    ASSERT_TRUE(Request(Order(db, PURPOSE_TEST), &accepted).ok());
    EXPECT_EQ(WatchToEnd(accepted.upgrade_id()).state(), STATE_FAILED);
  }
  ListFailureGroupsRequest req;
  req.set_target_version("18.0");
  ListFailureGroupsResponse groups;
  grpc::Status s = platform->status().ListFailureGroups(Context().get(), req, &groups);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const FailureGroup* step = nullptr;
  for (const FailureGroup& g : groups.groups()) {
    if (std::find(g.databases().begin(), g.databases().end(), dbs[0]) != g.databases().end()) step = &g;
  }
  ASSERT_NE(step, nullptr) << groups.DebugString();
  EXPECT_EQ(step->where(), "step 17.0->18.0/02b_test_fail");
  EXPECT_NE(std::find(step->databases().begin(), step->databases().end(), dbs[1]), step->databases().end())
      << groups.DebugString();
  EXPECT_GE(step->count(), 2);
  EXPECT_TRUE(absl::StrContains(step->signature(), "forced failure for the rollback test")) << step->signature();
  EXPECT_FALSE(absl::StrContains(step->signature(), "failgrp")) << step->signature();
}

// A plan slower than its max_offline: stopped at the bound, in the middle of a step of the
// customer's database (its session ended), and rolled back. The database was offline for at most
// the bound plus the rollback, is its old self, and its owner is told why.
TEST(Production, APlanSlowerThanItsMaxOfflineIsStoppedAtTheBoundAndRolledBack) {
  const std::string db = "prodbound";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 150, "tenant_prodbound").ok());
  PassTest(db);
  // Slower in production than in its Test: a step of 120 s.
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '120')")
                  .ok());
  std::map<std::string, std::string> before = Checksums(db);

  RequestUpgradeRequest req = Order(db, PURPOSE_PRODUCTION);
  const absl::Duration bound = absl::Seconds(8);
  ToProto(bound, req.mutable_max_offline());
  Upgrade accepted;
  grpc::Status s = Request(req, &accepted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(FromProto(accepted.max_offline()), bound);
  absl::Time rolling_back_seen = absl::InfiniteFuture();
  Upgrade done = WatchToEnd(accepted.upgrade_id(), [&](const Upgrade& u) {
    if (u.state() == STATE_ROLLING_BACK) rolling_back_seen = std::min(rolling_back_seen, absl::Now());
  });
  ASSERT_EQ(done.state(), STATE_ROLLED_BACK) << done.error() << platform->Logs();
  EXPECT_TRUE(absl::StrContains(done.error(), "downtime bound (max_offline 8s)")) << done.error();
  EXPECT_EQ(FromProto(done.max_offline()), bound);
  // Offline for the bound, then the rollback: the rollback began within the bound and the hand-offs
  // (as the watch saw it, so a little later), far from the step's 120 s.
  ASSERT_TRUE(done.has_offline_at() && done.has_online_at());
  ASSERT_NE(rolling_back_seen, absl::InfiniteFuture());
  EXPECT_LE(rolling_back_seen - FromProto(done.offline_at()), bound + absl::Seconds(5));
  EXPECT_LT(FromProto(done.online_at()) - FromProto(done.offline_at()), absl::Seconds(60));

  // The database is its old self, online; no session of the stopped step is left in it.
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_EQ(Checksums(db), before);
  EXPECT_TRUE(AppConnects(db).ok());
  EXPECT_EQ(Value("postgres", "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(value::float)%' "
                              "AND pid <> pg_backend_pid()"),
            "0");
  const std::string owner = absl::StrCat("owner+", db, "@example.com");
  EXPECT_TRUE(WaitFor([&] { return AnyMessageContains(owner, "It stays offline at most 8 s:"); })) << platform->Logs();
  ASSERT_TRUE(WaitFor([&] { return AnyMessageContains(owner, "Subject: Upgrade rolled back: prodbound is back at 16.0"); }))
      << platform->Logs();
  EXPECT_TRUE(AnyMessageContains(owner, "downtime bound (max_offline 8s)"));
}

TEST(Production, TheDowntimeEstimateHoldsForADatabaseFourTimesLargerThanAtItsTest) {
  const std::string db = "prodgrow";
  // 57 MB of tables at the Test, 226 MB at the Production: large enough that the work the estimate
  // scales (reads, checksums, steps) outweighs what a copy costs whatever the size (0.1-0.3 s
  // here, which the estimate scales too: at 15 MB -> 57 MB it ran 2.3-2.6 times high).
  const int partners = 40000;
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, partners).ok());
  PassTest(db);
  ASSERT_TRUE(platform->postgres().AppendSampleData(db, 3 * partners).ok());
  EXPECT_EQ(Value(db, "SELECT count(*) FROM res_partner"), std::to_string(4 * partners));

  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  Upgrade done = WatchToEnd(accepted.upgrade_id());
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  absl::Duration estimate = FromProto(accepted.estimated_downtime());
  absl::Duration offline = FromProto(done.online_at()) - FromProto(done.offline_at());
  double ratio = absl::FDivDuration(estimate, offline);
  std::cout << "estimated downtime " << estimate << ", measured " << offline << ", ratio " << ratio << "\n";
  EXPECT_GE(ratio, 0.5) << "estimated " << estimate << " but offline " << offline;
  EXPECT_LE(ratio, 2.0) << "estimated " << estimate << " but offline " << offline;
}

grpc::Status Check(const std::string& db, Upgrade* out, const std::string& target = "18.0") {
  CheckUpgradeRequest req;
  req.set_database(db);
  req.set_target_version(target);
  CheckUpgradeResponse resp;
  grpc::Status s = platform->requests().CheckUpgrade(Context().get(), req, &resp);
  *out = resp.upgrade();
  return s;
}

std::string DatabasesLike(const std::string& prefix) {
  return Value("postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname LIKE '", prefix, "%'"));
}

TEST(Check, RunsThePlanOnAThrowawayCopyAndChangesNothing) {
  const std::string db = "checkok";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 100).ok());
  // A slow step keeps the check running long enough to look at it from outside.
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '3')")
                  .ok());
  std::map<std::string, std::string> before = Checksums(db);
  size_t messages_before = platform->smtp().Messages().size();

  Upgrade accepted;
  grpc::Status s = Check(db, &accepted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(accepted.purpose(), PURPOSE_CHECK);
  EXPECT_EQ(accepted.state(), STATE_ACCEPTED);
  const std::string copy = CheckDatabaseName(db, accepted.upgrade_id());

  // One check at a time, and a Test may run beside it.
  Upgrade second;
  EXPECT_EQ(Check(db, &second).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  bool looked = false;
  std::set<int> main_tags;
  std::vector<Database> copies;
  Upgrade done = WatchToEnd(accepted.upgrade_id(), [&](const Upgrade& u) {
    if (u.current_step() == "17.0->18.0/02_rename_partner_phone" && !looked) {  // the slow step runs now
      looked = true;
      Database main = GetDatabase(db);
      main_tags = Tags(main);
      copies.assign(main.test_copies().begin(), main.test_copies().end());
    }
  });
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  ASSERT_TRUE(looked);
  EXPECT_EQ(main_tags, std::set<int>{}) << "a check must not mark its database as being upgraded";
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].name(), copy);
  EXPECT_EQ(Tags(copies[0]), std::set<int>{TAG_CHECK_COPY});

  std::vector<std::string> checks;
  for (const CheckReport& c : done.report().checks()) {
    EXPECT_TRUE(c.passed()) << c.name() << ": " << c.detail();
    checks.push_back(c.kind() + " " + c.name());
  }
  EXPECT_EQ(checks, (std::vector<std::string>{"pre-check of hop 17.0->18.0 order_line_quantities_positive",
                                              "post-check order_lines_reference_products",
                                              "post-check order_totals_match_lines"}));
  EXPECT_EQ(done.report().steps_size(), 8);  // the plan's steps, no neutralization
  EXPECT_TRUE(done.test_database().empty());

  // The copy is gone; the database is as it was, still at 16.0, untagged; nobody was emailed.
  ASSERT_TRUE(WaitFor([&] { return DatabasesLike(copy) == "0"; })) << platform->Logs();
  EXPECT_EQ(Checksums(db), before);
  Database after = GetDatabase(db);
  EXPECT_EQ(after.version(), "16.0");
  EXPECT_EQ(Tags(after), std::set<int>{});
  EXPECT_EQ(after.test_copies_size(), 0);
  EXPECT_EQ(platform->smtp().Messages().size(), messages_before);
}

TEST(Check, ReportsAFailingPreCheckAsAFindingWithoutMarkingTheDatabase) {
  const std::string db = "checkbad";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 100).ok());
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO sale_order_line (order_id, product_id, product_uom_qty, price_unit, "
                            "price_subtotal) VALUES (1, 1, 0, 10, 0)")
                  .ok());
  std::map<std::string, std::string> before = Checksums(db);
  Upgrade accepted;
  ASSERT_TRUE(Check(db, &accepted).ok());
  Upgrade done = WatchToEnd(accepted.upgrade_id());
  ASSERT_EQ(done.state(), STATE_FAILED) << platform->Logs();
  EXPECT_EQ(done.error(), "pre-check of hop 17.0->18.0 order_line_quantities_positive returned false");
  ASSERT_EQ(done.report().checks_size(), 1);
  EXPECT_FALSE(done.report().checks(0).passed());
  EXPECT_EQ(done.report().checks(0).detail(), "returned false");
  EXPECT_EQ(done.report().steps_size(), 3);  // the first hop ran on the copy

  ASSERT_TRUE(WaitFor([&] { return DatabasesLike(CheckDatabaseName(db, accepted.upgrade_id())) == "0"; }))
      << platform->Logs();
  EXPECT_EQ(Checksums(db), before);
  EXPECT_EQ(Tags(GetDatabase(db)), std::set<int>{});  // a finding is not a failed upgrade
}

TEST(Check, BadInputGetsItsCode) {
  Upgrade out;
  EXPECT_EQ(Check("Bad Name", &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Check("acme'; DROP DATABASE x; --", &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Check("nosuchdb", &out).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase("checkcodes", 10).ok());
  EXPECT_EQ(Check("checkcodes", &out, "16.0").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Check("checkcodes", &out, "not a version").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = 'checkcodes'"),
            "0");
}

grpc::Status Cancel(const std::string& upgrade_id, Upgrade* out = nullptr) {
  CancelUpgradeRequest req;
  req.set_upgrade_id(upgrade_id);
  CancelUpgradeResponse resp;
  grpc::Status s = platform->requests().CancelUpgrade(Context().get(), req, &resp);
  if (out != nullptr) *out = resp.upgrade();
  return s;
}

TEST(Cancel, ATestCancelledWhileItsCopyIsMigratedEndsCancelledWithoutItsCopy) {
  const std::string db = "canceltest";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 50).ok());
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '3')")
                  .ok());
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_TEST), &accepted).ok());
  EXPECT_TRUE(accepted.cancellable());
  bool asked = false;
  grpc::Status cancel_status;
  Upgrade cancelled;
  Upgrade done = WatchToEnd(accepted.upgrade_id(), [&](const Upgrade& u) {
    if (u.state() == STATE_MIGRATING && !asked) {
      asked = true;
      EXPECT_TRUE(u.cancellable());
      cancel_status = Cancel(u.upgrade_id(), &cancelled);
    }
  });
  ASSERT_TRUE(asked);
  ASSERT_TRUE(cancel_status.ok()) << cancel_status.error_message();
  EXPECT_FALSE(cancelled.cancellable());
  ASSERT_EQ(done.state(), STATE_CANCELLED) << done.error() << platform->Logs();
  EXPECT_TRUE(absl::StrContains(done.error(), "cancelled on request")) << done.error();
  const std::string copy = TestDatabaseName(db, accepted.upgrade_id());
  ASSERT_TRUE(WaitFor([&] {
    return Value("postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '", copy, "'")) == "0";
  })) << "the cancelled Test's copy was not dropped";
  Database after = GetDatabase(db);
  EXPECT_EQ(Tags(after), std::set<int>{});
  EXPECT_EQ(after.test_copies_size(), 0);
  const std::string owner = absl::StrCat("owner+", db, "@example.com");
  ASSERT_TRUE(WaitFor([&] { return AnyMessageContains(owner, "Subject: Upgrade cancelled: canceltest to 18.0 (test)"); }));
  EXPECT_FALSE(AnyMessageContains(owner, "Your test database is ready"));
  // It ended: a second cancellation is refused, and the next order is admitted.
  EXPECT_EQ(Cancel(accepted.upgrade_id()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(WaitFor([&] {
    Upgrade next;
    return Request(Order(db, PURPOSE_TEST, "17.0"), &next).ok();
  }));
}

TEST(Cancel, AProductionCancelledBeforeItsMigrationLeavesTheDatabaseAsItWas) {
  const std::string db = "cancelprod";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 100).ok());
  PassTest(db);
  std::map<std::string, std::string> before = Checksums(db);
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  grpc::Status s = Cancel(accepted.upgrade_id());
  ASSERT_TRUE(s.ok()) << s.error_message();
  Upgrade done = WatchToEnd(accepted.upgrade_id());
  ASSERT_EQ(done.state(), STATE_CANCELLED) << done.error() << platform->Logs();
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_EQ(Checksums(db), before);
  EXPECT_TRUE(AppConnects(db).ok());
  Database after = GetDatabase(db);
  EXPECT_TRUE(after.online());
  EXPECT_EQ(Tags(after), std::set<int>{});  // not TAG_UPGRADE_FAILED: nothing failed
  EXPECT_EQ(Value("postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '",
                                           RestorePointName(db, accepted.upgrade_id()), "'")),
            "0");
}

TEST(Cancel, AProductionPastItsPointOfNoReturnCannotBeCancelled) {
  const std::string db = "cancellate";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 50).ok());
  PassTest(db);
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '3')")
                  .ok());
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  grpc::Status late;
  bool asked = false;
  Upgrade done = WatchToEnd(accepted.upgrade_id(), [&](const Upgrade& u) {
    if (u.state() == STATE_MIGRATING && !asked) {
      asked = true;
      EXPECT_FALSE(u.cancellable());
      late = Cancel(u.upgrade_id());
    }
  });
  ASSERT_TRUE(asked);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(late.error_message(), "can no longer be cancelled")) << late.error_message();
  EXPECT_EQ(done.state(), STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "18.0");
}

TEST(Cancel, BadAndUnknownIdsGetTheirCodes) {
  EXPECT_EQ(Cancel("not-an-id").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Cancel("00000000-0000-4000-8000-000000000000").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(Production, AnUpgradeWhoseMigratorDiesIsRolledBackWhenItsLeaseExpires) {
  const std::string db = "proddead";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 100).ok());
  PassTest(db);
  ASSERT_TRUE(platform->postgres()
                  .Exec(db, "INSERT INTO ir_config_parameter (key, value) VALUES ('upshift.test.slow_upgrade', '3')")
                  .ok());
  std::map<std::string, std::string> before = Checksums(db);
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  bool killed = false;
  bool stalled = false;  // shown stalled before the lease expired
  Upgrade done = WatchToEnd(accepted.upgrade_id(), [&](const Upgrade& u) {
    if (u.state() == STATE_MIGRATING && !killed) {
      killed = true;
      platform->service("migrator").Kill();  // in the middle of its plan, no goodbye
    }
    if (u.stalled() && u.state() == STATE_MIGRATING) stalled = true;
  });
  ASSERT_TRUE(killed);
  EXPECT_TRUE(stalled) << "never shown stalled while its migrator was dead";
  EXPECT_FALSE(done.stalled());
  ASSERT_EQ(done.state(), STATE_ROLLED_BACK) << done.error() << platform->Logs();
  EXPECT_TRUE(absl::StrContains(done.error(), "made no progress")) << done.error();
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_EQ(Checksums(db), before);
  EXPECT_TRUE(AppConnects(db).ok());
  EXPECT_EQ(Tags(GetDatabase(db)), std::set<int>{TAG_UPGRADE_FAILED});

  // A migrator that comes back gets the unfinished record again and must leave the restored database alone.
  ASSERT_TRUE(platform->RestartService("migrator").ok());
  Upgrade again = PassTest(db, "17.0");  // and the platform keeps working
  EXPECT_EQ(again.state(), STATE_SUCCEEDED);
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_EQ(Checksums(db), before);
}

// Issue 20: a tenant plants code in its own database that tries, whenever it runs, to act as the
// hosting server's superuser (RESET ROLE, then COPY ... TO PROGRAM and ALTER ROLE ... SUPERUSER), then
// hides by taking its role back. It rides on everything the platform does there: a trigger on the
// tables the steps and the neutralization change, functions and an operator that shadow what the
// platform's own queries call, a CHECK constraint. Test, check and Production upgrades all go
// through, and nothing escapes.
TEST(Security, PlantedCodeNeverRunsAsTheSuperuserInATestACheckOrAProduction) {
  const std::string db = "prodtrap", tenant = "tenant_prodtrap";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 100, tenant).ok());
  const std::string dir = MakeTempDir("upshift-escapes");
  const absl::Cleanup remove_proof = [&] { std::filesystem::remove_all(dir); };  // also when an assertion ends the test
  chmod(dir.c_str(), 0777);  // the server's OS user writes the proof
  ASSERT_TRUE(platform->postgres().Exec("postgres", absl::StrCat("ALTER ROLE ", tenant, " LOGIN")).ok());
  const std::string traps = absl::StrCat(
      "CREATE TABLE public.trap_runs (what text, session_user_name text);"
      "CREATE FUNCTION public.escape(what text) RETURNS integer LANGUAGE plpgsql AS $f$ "
      "DECLARE was text := current_user; BEGIN "
      // Evidence of who ran it, except from the CHECK constraint: rows a restore adds would make
      // the copy differ from its source (which the platform refuses, rightly).
      "  IF what <> 'check' THEN "
      "    BEGIN INSERT INTO public.trap_runs VALUES (what, session_user); EXCEPTION WHEN OTHERS THEN NULL; END; "
      "  END IF; "
      "  BEGIN RESET ROLE; EXCEPTION WHEN OTHERS THEN NULL; END; "
      "  BEGIN EXECUTE pg_catalog.format('COPY (SELECT 1) TO PROGRAM %L', 'touch ", dir, "/' || what); "
      "  EXCEPTION WHEN OTHERS THEN NULL; END; "
      "  BEGIN EXECUTE 'ALTER ROLE ", tenant, " SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END; "
      "  BEGIN EXECUTE pg_catalog.format('SET ROLE %I', was); EXCEPTION WHEN OTHERS THEN NULL; END; "
      "  RETURN 1; END $f$;"
      "CREATE FUNCTION public.pg_total_relation_size(oid) RETURNS bigint LANGUAGE plpgsql AS "
      "$f$ BEGIN PERFORM public.escape('size'); RETURN 0; END $f$;"
      "CREATE FUNCTION public.hashtextextended(text, integer) RETURNS bigint LANGUAGE plpgsql AS "
      "$f$ BEGIN PERFORM public.escape('hash'); RETURN 0; END $f$;"
      "CREATE FUNCTION public.cat(bigint, text) RETURNS text LANGUAGE plpgsql AS "
      "$f$ BEGIN PERFORM public.escape('operator'); RETURN $1::text || $2; END $f$;"
      "CREATE OPERATOR public.|| (LEFTARG = bigint, RIGHTARG = text, FUNCTION = public.cat);"
      "CREATE FUNCTION public.on_change() RETURNS trigger LANGUAGE plpgsql AS "
      "$f$ BEGIN PERFORM public.escape('trigger_' || TG_TABLE_NAME); RETURN NEW; END $f$;"
      "CREATE TRIGGER watched BEFORE UPDATE ON public.res_partner FOR EACH ROW EXECUTE FUNCTION public.on_change();"
      "CREATE TRIGGER watched BEFORE UPDATE ON public.ir_cron FOR EACH ROW EXECUTE FUNCTION public.on_change();"
      "CREATE TRIGGER watched BEFORE UPDATE ON public.ir_module_module FOR EACH ROW EXECUTE FUNCTION public.on_change();"
      "CREATE TABLE public.checked (n integer CHECK (public.escape('check') = 1));"
      "INSERT INTO public.checked VALUES (1);");
  ASSERT_TRUE(pg::WithConnection(absl::StrCat(platform->postgres().conninfo(), " user=", tenant), db,
                                 [&](pqxx::connection& conn) {
                                   pqxx::nontransaction(conn).exec(traps);
                                   return absl::OkStatus();
                                 })
                  .ok());
  auto escaped = [&] {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename());
    return names;
  };
  auto superuser = [&] { return Value("postgres", absl::StrCat("SELECT rolsuper FROM pg_roles WHERE rolname = '", tenant, "'")); };
  // The Test's copy is made by pg_dump | pg_restore when the source is in use: so it is here.
  Upgrade test;
  {
    pqxx::connection busy(absl::StrCat(platform->postgres().conninfo(), " user=", tenant, " dbname=", db));
    test = PassTest(db);
  }
  // The neutralization ran the trigger on ir_cron in the copy: as the tenant's login.
  const std::string login = Value("postgres", absl::StrCat("SELECT rolname FROM pg_roles WHERE rolname LIKE 'upshift\\_t\\_%' "
                                                           "AND pg_has_role(rolname, '", tenant, "', 'MEMBER')"));
  ASSERT_FALSE(login.empty());
  EXPECT_EQ(Value(test.test_database(), "SELECT string_agg(DISTINCT what || ' as ' || session_user_name, ', ' ORDER BY "
                                        "what || ' as ' || session_user_name) FROM public.trap_runs "
                                        "WHERE what = 'trigger_ir_cron'"),
            absl::StrCat("trigger_ir_cron as ", login));

  Upgrade check;
  ASSERT_TRUE(Check(db, &check).ok());
  Upgrade checked = WatchToEnd(check.upgrade_id());
  EXPECT_EQ(checked.state(), STATE_SUCCEEDED) << checked.error();
  AwaitNoActiveUpgrade(db);

  std::map<std::string, std::string> before = Checksums(db);
  Upgrade accepted;
  ASSERT_TRUE(Request(Order(db, PURPOSE_PRODUCTION), &accepted).ok());
  absl::Status while_offline = absl::OkStatus();
  bool probed = false;
  Upgrade done = WatchToEnd(accepted.upgrade_id(), [&](const Upgrade& u) {
    if (u.state() == STATE_MIGRATING && !probed) {
      probed = true;
      while_offline = AppConnects(db);
    }
  });
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  ASSERT_TRUE(probed);
  EXPECT_FALSE(while_offline.ok()) << "an application could connect while the database was offline";
  EXPECT_TRUE(AppConnects(db).ok());
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "18.0");
  EXPECT_EQ(Checksums(done.restore_point()), before);

  // set_version changed ir_module_module in place: its trigger ran as the login too.
  EXPECT_EQ(Value(db, "SELECT string_agg(DISTINCT session_user_name, ',') FROM public.trap_runs "
                      "WHERE what = 'trigger_ir_module_module'"),
            login);
  // The traps ran, and never escaped.
  EXPECT_EQ(escaped(), std::vector<std::string>{});
  EXPECT_EQ(superuser(), "f");
}

// Issue 20: a tenant makes its own version query block (a lock held on the table it reads) and
// calls GetUpgradeOptions 200 times at once. request holds at most --max_database_reads sessions
// for it, each ended by --database_read_timeout; every call ends with DEADLINE_EXCEEDED or
// RESOURCE_EXHAUSTED; another tenant's application connects throughout.
TEST(Security, ABlockedVersionQueryCannotExhaustTheHostingServer) {
  const std::string db = "blocker", tenant = "tenant_blocker";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 10, tenant).ok());
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase("bystander", 10, "tenant_bystander").ok());
  ASSERT_TRUE(platform->postgres().Exec("postgres", "ALTER ROLE tenant_blocker LOGIN").ok());
  ASSERT_TRUE(platform->postgres().Exec("postgres", "ALTER ROLE tenant_bystander LOGIN").ok());
  pqxx::connection holder(absl::StrCat(platform->postgres().conninfo(), " user=", tenant, " dbname=", db));
  pqxx::work lock(holder);
  lock.exec("LOCK TABLE ir_module_module IN ACCESS EXCLUSIVE MODE");

  std::atomic<bool> storm{true};
  std::atomic<int> most_sessions{0}, bystander_refused{0}, bystander_connected{0};
  std::thread watcher([&] {
    while (storm) {
      absl::StatusOr<std::string> n = platform->postgres().QueryValue(
          "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'blocker' AND usename LIKE 'upshift\\_t\\_%'");
      if (n.ok()) most_sessions = std::max(most_sessions.load(), std::stoi(*n));
      absl::Status app = pg::WithConnection(
          absl::StrCat(platform->postgres().conninfo(), " user=tenant_bystander connect_timeout=2"), "bystander",
          [](pqxx::connection& conn) {
            pqxx::nontransaction(conn).exec("SELECT 1");
            return absl::OkStatus();
          });
      ++(app.ok() ? bystander_connected : bystander_refused);
    }
  });
  std::vector<grpc::StatusCode> codes(200);
  ForEachConcurrently(codes.size(), codes.size(), [&](size_t i) {
    GetUpgradeOptionsRequest req;
    req.set_database(db);
    GetUpgradeOptionsResponse resp;
    codes[i] = platform->requests().GetUpgradeOptions(Context(absl::Seconds(30)).get(), req, &resp).error_code();
  });
  storm = false;
  watcher.join();
  // A caller who waits 1 s gets DEADLINE_EXCEEDED, and its read ends on the server with it, not at
  // --database_read_timeout (5 s): the caller's deadline bounds the statement.
  {
    GetUpgradeOptionsRequest req;
    req.set_database(db);
    GetUpgradeOptionsResponse resp;
    EXPECT_EQ(platform->requests().GetUpgradeOptions(Context(absl::Seconds(1)).get(), req, &resp).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_TRUE(WaitFor(
        [&] {
          return platform->postgres().QueryValue("postgres",
                                                 "SELECT count(*) FROM pg_stat_activity WHERE datname = 'blocker' "
                                                 "AND usename LIKE 'upshift\\_t\\_%' AND state = 'active'") ==
                 absl::StatusOr<std::string>("0");
        },
        absl::Seconds(2)))
        << "a read outlived its caller's deadline";
  }
  lock.abort();

  std::map<grpc::StatusCode, int> by_code;
  for (grpc::StatusCode c : codes) ++by_code[c];
  EXPECT_EQ(by_code[grpc::StatusCode::DEADLINE_EXCEEDED] + by_code[grpc::StatusCode::RESOURCE_EXHAUSTED], 200);
  EXPECT_GE(by_code[grpc::StatusCode::DEADLINE_EXCEEDED], 1);
  EXPECT_GE(by_code[grpc::StatusCode::RESOURCE_EXHAUSTED], 1);
  EXPECT_LE(most_sessions.load(), 8);  // request's --max_database_reads
  EXPECT_GE(bystander_connected.load(), 1);
  EXPECT_EQ(bystander_refused.load(), 0);
  // Once the lock is gone, the database answers again.
  GetUpgradeOptionsRequest req;
  req.set_database(db);
  GetUpgradeOptionsResponse resp;
  ASSERT_TRUE(WaitFor([&] { return platform->requests().GetUpgradeOptions(Context().get(), req, &resp).ok(); }));
  EXPECT_EQ(resp.version(), "16.0");
}

TEST(Production, IsRefusedWithoutAMatchingFreshTest) {
  const std::string db = "prodrules";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20).ok());
  Upgrade u;
  grpc::Status s = Request(Order(db, PURPOSE_PRODUCTION), &u);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "no successful Test")) << s.error_message();

  Upgrade test = PassTest(db, "17.0");
  s = Request(Order(db, PURPOSE_PRODUCTION, "18.0"), &u);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "went to 17.0")) << s.error_message();

  // The same Test, grown stale.
  ASSERT_TRUE(platform->postgres()
                  .Exec("upshift", absl::StrCat("UPDATE request.orders SET finished_at = now() - interval '31 days' "
                                                "WHERE upgrade_id = '", test.upgrade_id(), "'"))
                  .ok());
  s = Request(Order(db, PURPOSE_PRODUCTION, "17.0"), &u);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "31 days ago")) << s.error_message();
  GetUpgradeOptionsRequest oreq;
  oreq.set_database(db);
  GetUpgradeOptionsResponse options;
  ASSERT_TRUE(platform->requests().GetUpgradeOptions(Context().get(), oreq, &options).ok());
  for (const TargetOption& o : options.options()) {
    for (int p : o.purposes()) EXPECT_NE(p, PURPOSE_PRODUCTION) << o.version();
  }
  // Nothing was admitted and the database never went offline.
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = 'prodrules' AND purpose = 2"), "0");
  EXPECT_TRUE(AppConnects(db).ok());
}

}  // namespace
}  // namespace upshift::testing
