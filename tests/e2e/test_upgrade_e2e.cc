// The five service binaries as processes, on real PostgreSQL, a Kafka-protocol broker and an SMTP
// server, driven over gRPC the way a frontend drives them.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "libs/auth/principal.h"
#include "libs/auth/token_minter.h"
#include "libs/common/time.h"
#include "libs/common/tls.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/producer.h"
#include "libs/kafka/topics.h"
#include "libs/security/record_signature.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "tests/support/platform.h"
#include "tests/support/wait.h"
#include "upgrade/v1/audit.grpc.pb.h"
#include "upgrade/v1/gate.grpc.pb.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::testing {
namespace {

using namespace upgrade::v1;

Platform* platform = nullptr;

class PlatformEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    // Two hosting servers (issue 24): every test uses the first, and those about placement the second.
    Platform::Options options;
    options.hosting_servers = 2;
    absl::StatusOr<std::unique_ptr<Platform>> p = Platform::Start(options);
    ASSERT_TRUE(p.ok()) << p.status();
    owned_ = *std::move(p);
    platform = owned_.get();
  }
  void TearDown() override {
    platform = nullptr;
    owned_.reset();
  }

 private:
  std::unique_ptr<Platform> owned_;
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new PlatformEnvironment());

grpc::Status Request(const RequestUpgradeRequest& req, RequestUpgradeResponse* resp) {
  return platform->requests().RequestUpgrade(Context().get(), req, resp);
}

RequestUpgradeRequest TestOrder(const std::string& db, const std::string& target = "18.0") {
  RequestUpgradeRequest req;
  req.set_database(db);
  req.set_target_version(target);
  req.set_notify_email(absl::StrCat("owner+", db, "@example.com"));
  req.set_purpose(PURPOSE_TEST);
  return req;
}

absl::StatusOr<Database> GetDatabase(const std::string& name) {
  GetDatabaseRequest req;
  req.set_name(name);
  Database db;
  grpc::Status s = platform->status().GetDatabase(Context().get(), req, &db);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  return db;
}

bool HasTag(const Database& db, Tag tag) {
  for (int t : db.tags()) {
    if (t == tag) return true;
  }
  return false;
}

// Follows WatchUpgrade to its end; returns every Upgrade the stream carried.
std::vector<Upgrade> WatchToEnd(const std::string& upgrade_id) {
  WatchUpgradeRequest req;
  req.set_upgrade_id(upgrade_id);
  auto ctx = Context(absl::Minutes(5));
  auto reader = platform->status().WatchUpgrade(ctx.get(), req);
  std::vector<Upgrade> seen;
  Upgrade u;
  while (reader->Read(&u)) seen.push_back(u);
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  return seen;
}

std::map<std::string, std::string> Checksums(const std::string& db) {
  std::map<std::string, std::string> out;
  auto tables = platform->postgres().Query(
      db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  EXPECT_TRUE(tables.ok()) << tables.status();
  for (const auto& row : *tables) {
    auto sum = platform->postgres().QueryValue(
        db, absl::StrCat("SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM public.\"", row[0],
                         "\" AS t"));
    EXPECT_TRUE(sum.ok()) << sum.status();
    out[row[0]] = *sum;
  }
  return out;
}

std::vector<std::string> MessagesTo(const std::string& address) {
  std::vector<std::string> out;
  for (const std::string& m : platform->smtp().Messages()) {
    if (absl::StrContains(m, absl::StrCat("To: <", address, ">"))) out.push_back(m);
  }
  return out;
}

std::string Value(const std::string& db, const std::string& sql) {
  absl::StatusOr<std::string> v = platform->postgres().QueryValue(db, sql);
  EXPECT_TRUE(v.ok()) << v.status() << " in " << db << ": " << sql;
  return v.ok() ? *v : "";
}

TEST(TestUpgrade, UpgradesANeutralizedCopyAndLeavesTheSourceUntouched) {
  const std::string db = "shop";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 300).ok());
  std::map<std::string, std::string> before = Checksums(db);
  ASSERT_FALSE(before.empty());
  absl::StatusOr<std::unique_ptr<TopicTap>> tap = TopicTap::Start(platform->broker().bootstrap(), {topics::kStatus, topics::kEvents});
  ASSERT_TRUE(tap.ok()) << tap.status();

  RequestUpgradeResponse resp;
  grpc::Status s = Request(TestOrder(db), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const Upgrade& accepted = resp.upgrade();
  EXPECT_EQ(accepted.state(), STATE_ACCEPTED);
  EXPECT_EQ(accepted.from_version(), "16.0");
  EXPECT_EQ(accepted.target_version(), "18.0");

  // The red tag appears on the main database while the upgrade runs.
  bool tagged = WaitFor([&] {
    absl::StatusOr<Database> d = GetDatabase(db);
    return d.ok() && HasTag(*d, TAG_UPGRADE_IN_PROGRESS);
  });
  EXPECT_TRUE(tagged) << platform->Logs();

  std::vector<Upgrade> seen = WatchToEnd(accepted.upgrade_id());
  ASSERT_FALSE(seen.empty());
  const Upgrade& done = seen.back();
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << "\n" << platform->Logs();
  std::set<State> states;
  for (const Upgrade& u : seen) states.insert(u.state());
  EXPECT_TRUE(states.count(STATE_SUCCEEDED));
  const std::string copy = done.test_database();
  ASSERT_FALSE(copy.empty());
  EXPECT_TRUE(done.has_finished_at());

  // The tag is gone; the copy is nested under its main database, at 18.0, tagged as a test copy.
  absl::StatusOr<Database> main_db = GetDatabase(db);
  ASSERT_TRUE(main_db.ok()) << main_db.status();
  EXPECT_FALSE(HasTag(*main_db, TAG_UPGRADE_IN_PROGRESS));
  EXPECT_EQ(main_db->version(), "16.0");
  ListDatabasesResponse list;
  ASSERT_TRUE(platform->status().ListDatabases(Context().get(), ListDatabasesRequest(), &list).ok());
  const Database* listed = nullptr;
  for (const Database& d : list.databases()) {
    EXPECT_NE(d.name(), copy) << "the copy must be nested, not listed on its own";
    if (d.name() == db) listed = &d;
  }
  ASSERT_NE(listed, nullptr);
  ASSERT_EQ(listed->test_copies_size(), 1);
  EXPECT_EQ(listed->test_copies(0).name(), copy);
  EXPECT_EQ(listed->test_copies(0).parent(), db);
  EXPECT_EQ(listed->test_copies(0).version(), "18.0");
  EXPECT_TRUE(HasTag(listed->test_copies(0), TAG_TEST_COPY));
  // GetDatabase reads only the database and its copies, and shows what the list shows.
  EXPECT_EQ(main_db->SerializeAsString(), listed->SerializeAsString());
  absl::StatusOr<Database> copy_db = GetDatabase(copy);
  ASSERT_TRUE(copy_db.ok()) << copy_db.status();
  EXPECT_EQ(copy_db->SerializeAsString(), listed->test_copies(0).SerializeAsString());
  // The copy lives 30 days unless extended.
  absl::Duration lifetime = FromProto(listed->test_copies(0).expires_at()) - FromProto(done.finished_at());
  EXPECT_GT(lifetime, absl::Hours(24 * 30) - absl::Minutes(5));
  EXPECT_LE(lifetime, absl::Hours(24 * 30));

  // Row counts right after cloning equal the source's, table by table.
  ASSERT_GT(done.source_rows_size(), 5);
  ASSERT_EQ(done.source_rows_size(), done.copy_rows_size());
  for (int i = 0; i < done.source_rows_size(); ++i) {
    EXPECT_EQ(done.source_rows(i).table(), done.copy_rows(i).table());
    EXPECT_EQ(done.source_rows(i).rows(), done.copy_rows(i).rows()) << done.source_rows(i).table();
  }

  // The copy's data is migrated to 18.0.
  EXPECT_EQ(Value(copy, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "18.0");
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM res_partner"), "300");
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'res_partner' "
                        "AND column_name = 'address'"),
            "0");
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM res_partner WHERE street IS NULL OR zip !~ '^[0-9]+$' OR city = ''"),
            "0");
  EXPECT_EQ(Value(db, "SELECT address FROM res_partner WHERE id = 7"),
            Value(copy, "SELECT street || ', ' || zip || ' ' || city FROM res_partner WHERE id = 7"));
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM product_template"), Value(db, "SELECT count(*) FROM product_product"));
  EXPECT_EQ(Value(copy, "SELECT sum(quantity)::text FROM sale_order_line"),
            Value(db, "SELECT sum(product_uom_qty)::text FROM sale_order_line"));
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM account_move WHERE state = 'cancel'"), "0");
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM account_move WHERE state = 'cancelled'"),
            Value(db, "SELECT count(*) FROM account_move WHERE state = 'cancel'"));
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM upshift.migration_history"), "7");  // 6 steps + neutralize

  // The integrity report: every table the plan keeps has the same rows; the tables declared
  // unchanged are identical; the NOT VALID constraint of 18.0 was validated; every step is listed.
  const IntegrityReport& report = done.report();
  ASSERT_EQ(report.tables_size(), 10);  // nine tables at 16.0, product_template new in 18.0
  for (const TableReport& t : report.tables()) {
    if (t.table() == "public.product_template") {
      EXPECT_EQ(t.rows_before(), 0);
      EXPECT_EQ(t.rows_after(), std::stoll(Value(db, "SELECT count(*) FROM product_product")));
    } else {
      EXPECT_EQ(t.rows_before(), t.rows_after()) << t.table();
    }
    if (t.table() == "public.sale_order") {
      EXPECT_TRUE(t.declared_unchanged() && t.content_unchanged());
    }
  }
  EXPECT_EQ(std::vector<std::string>(report.constraints_validated().begin(), report.constraints_validated().end()),
            std::vector<std::string>{"sale_order_line.sale_order_line_quantity_positive"});
  EXPECT_EQ(report.steps_size(), 7);
  EXPECT_EQ(report.checks_size(), 6);  // 1 pre-check, 3 neutralization assertions, 2 post-checks

  // The copy is neutralized.
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM ir_mail_server WHERE active"), "0");
  EXPECT_EQ(Value(copy, "SELECT count(*) FROM ir_cron WHERE active"), "0");
  EXPECT_EQ(Value(copy, "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"), "true");

  // The source is untouched.
  EXPECT_EQ(Value(db, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_EQ(Checksums(db), before);
  EXPECT_EQ(Value(db, "SELECT count(*) FROM ir_mail_server WHERE active"), "2");

  // Exactly the expected emails: acceptance, then the copy is ready.
  const std::string owner = "owner+shop@example.com";
  ASSERT_TRUE(WaitFor([&] { return MessagesTo(owner).size() >= 2; })) << platform->Logs();
  std::vector<std::string> mails = MessagesTo(owner);
  ASSERT_EQ(mails.size(), 2u);
  int in_progress = 0, ready = 0;
  for (const std::string& m : mails) {
    if (absl::StrContains(m, "Subject: Upgrade in progress: shop to 18.0 (test)")) ++in_progress;
    if (absl::StrContains(m, absl::StrCat("Subject: Your test database is ready: ", copy)) &&
        absl::StrContains(m, absl::StrCat("dbname=", copy)) &&
        absl::StrContains(m, "1 constraints validated on every row")) {
      ++ready;
    }
  }
  EXPECT_EQ(in_progress, 1);
  EXPECT_EQ(ready, 1);

  // upgrade.status carried every change, ending with the success, the database view included.
  std::set<State> published;
  ASSERT_TRUE(WaitFor([&] {
    published.clear();
    for (const ConsumedRecord& r : (*tap)->Records()) {
      StatusChanged change;
      if (r.topic == topics::kStatus && change.ParseFromString(r.payload) &&
          change.upgrade().upgrade_id() == accepted.upgrade_id()) {
        EXPECT_EQ(r.key, db);
        EXPECT_EQ(change.database().name(), db);
        published.insert(change.upgrade().state());
      }
    }
    return published.count(STATE_SUCCEEDED) > 0;
  }));
  EXPECT_EQ(published, (std::set<State>{STATE_ACCEPTED, STATE_CLONING, STATE_MIGRATING, STATE_SUCCEEDED})) << platform->Logs();

  // The cloner timed the copy alone, within the copy and its check.
  bool timed = false;
  for (const ConsumedRecord& r : (*tap)->Records()) {
    Event e;
    if (r.topic != topics::kEvents || !e.ParseFromString(r.payload) || !e.has_clone_succeeded() ||
        e.order().upgrade_id() != accepted.upgrade_id()) {
      continue;
    }
    timed = true;
    absl::Duration copy = FromProto(e.clone_succeeded().copy_duration());
    EXPECT_GT(copy, absl::ZeroDuration());
    EXPECT_LE(copy, FromProto(e.clone_succeeded().duration()));
  }
  EXPECT_TRUE(timed) << "no CloneSucceeded on upgrade.events";

  // The upgrade is listed for its database.
  ListUpgradesRequest lreq;
  lreq.set_database(db);
  ListUpgradesResponse lresp;
  ASSERT_TRUE(platform->status().ListUpgrades(Context().get(), lreq, &lresp).ok());
  ASSERT_EQ(lresp.upgrades_size(), 1);
  EXPECT_EQ(lresp.upgrades(0).upgrade_id(), accepted.upgrade_id());
}

struct BadOrder {
  std::string name;
  RequestUpgradeRequest request;
  grpc::StatusCode code;
};

TEST(TestUpgrade, ADatabaseItsApplicationKeepsWritingIsCopiedAsOfOneMoment) {
  const std::string db = "busyshop";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 100).ok());
  ASSERT_TRUE(platform->postgres().Exec(db, "CREATE TABLE live_writes (id serial PRIMARY KEY)").ok());
  // The application stays connected (so the database cannot be a template) and keeps writing,
  // paced, until the Test has ended.
  std::atomic<bool> ended{false};
  std::atomic<int> written{0};
  std::future<absl::Status> application = std::async(std::launch::async, [&] {
    return pg::WithConnection(platform->postgres().conninfo(), db, [&](pqxx::connection& conn) {
      while (!ended) {
        pqxx::nontransaction(conn).exec("INSERT INTO live_writes DEFAULT VALUES");
        ++written;
        absl::SleepFor(absl::Milliseconds(2));
      }
      return absl::OkStatus();
    });
  });
  ASSERT_TRUE(WaitFor([&] { return written > 0; }));
  RequestUpgradeResponse resp;
  grpc::Status s = Request(TestOrder(db), &resp);
  std::vector<Upgrade> seen = s.ok() ? WatchToEnd(resp.upgrade().upgrade_id()) : std::vector<Upgrade>{};
  ended = true;
  absl::Status wrote = application.get();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(wrote.ok()) << wrote;
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().state(), STATE_SUCCEEDED) << seen.back().error() << platform->Logs();
  // The copy is the database as it was at one moment; the application went on writing after it.
  ASSERT_FALSE(seen.back().test_database().empty());
  int64_t copied = std::stoll(Value(seen.back().test_database(), "SELECT count(*) FROM live_writes"));
  int64_t now = std::stoll(Value(db, "SELECT count(*) FROM live_writes"));
  EXPECT_GT(copied, 0);
  EXPECT_LT(copied, now);
}

// Issue 24: a database on the second hosting server is found there; its Test copy is made there,
// beside it, and nowhere else; the API shows the server of the database, its copy and its upgrade.
TEST(HostingServers, ATestOnTheSecondServerCopiesThereAndTheApiShowsItsServer) {
  const std::string db = "eastshop";
  PostgresServer& east = platform->hosting(1);
  ASSERT_TRUE(east.GenerateSampleDatabase(db, 50).ok());
  RequestUpgradeResponse resp;
  grpc::Status s = Request(TestOrder(db), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.upgrade().server(), "pg-2");
  std::vector<Upgrade> seen = WatchToEnd(resp.upgrade().upgrade_id());
  ASSERT_FALSE(seen.empty());
  const Upgrade& done = seen.back();
  ASSERT_EQ(done.state(), STATE_SUCCEEDED) << done.error() << platform->Logs();
  EXPECT_EQ(done.server(), "pg-2");
  auto on = [&](PostgresServer& server, const std::string& name) {
    absl::StatusOr<std::string> n =
        server.QueryValue("postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '", name, "'"));
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : "";
  };
  EXPECT_EQ(on(east, done.test_database()), "1");
  EXPECT_EQ(on(platform->hosting(0), done.test_database()), "0");
  EXPECT_EQ(east.QueryValue(done.test_database(), "SELECT latest_version FROM ir_module_module WHERE name = 'base'")
                .value_or(""),
            "18.0");
  // The database manager: the database and its copy on pg-2, and only there.
  ListDatabasesRequest list;
  list.set_server("pg-2");
  ListDatabasesResponse page;
  ASSERT_TRUE(platform->status().ListDatabases(Context().get(), list, &page).ok());
  const Database* found = nullptr;
  for (const Database& d : page.databases()) {
    EXPECT_EQ(d.server(), "pg-2") << d.name();
    if (d.name() == db) found = &d;
  }
  ASSERT_NE(found, nullptr);
  ASSERT_EQ(found->test_copies_size(), 1);
  EXPECT_EQ(found->test_copies(0).name(), done.test_database());
  EXPECT_EQ(found->test_copies(0).server(), "pg-2");
  list.set_server("pg-1");
  ASSERT_TRUE(platform->status().ListDatabases(Context().get(), list, &page).ok());
  for (const Database& d : page.databases()) EXPECT_NE(d.name(), db);
  absl::StatusOr<Database> one = GetDatabase(db);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->server(), "pg-2");
}

// Issue 24: the same database name on two hosting servers is refused, naming both, and nothing is
// recorded or done on either.
TEST(HostingServers, TheSameNameOnTwoServersIsRefusedNamingBoth) {
  const std::string db = "twinshop";
  ASSERT_TRUE(platform->hosting(0).GenerateSampleDatabase(db, 5).ok());
  ASSERT_TRUE(platform->hosting(1).GenerateSampleDatabase(db, 5).ok());
  RequestUpgradeResponse resp;
  grpc::Status s = Request(TestOrder(db), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "pg-1, pg-2")) << s.error_message();
  ListUpgradesRequest req;
  req.set_database(db);
  ListUpgradesResponse upgrades;
  ASSERT_TRUE(platform->status().ListUpgrades(Context().get(), req, &upgrades).ok());
  EXPECT_EQ(upgrades.upgrades_size(), 0);
  absl::StatusOr<Database> either = GetDatabase(db);
  EXPECT_EQ(either.status().code(), absl::StatusCode::kFailedPrecondition) << either.status();
}

TEST(RequestUpgrade, RejectsBadInputWithTheRightCodeAndRecordsNothing) {
  const std::string db = "badinput";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20).ok());
  auto with = [&](std::function<void(RequestUpgradeRequest&)> change) {
    RequestUpgradeRequest r = TestOrder(db);
    change(r);
    return r;
  };
  std::vector<BadOrder> cases = {
      {"empty database", with([](auto& r) { r.set_database(""); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"uppercase database", with([](auto& r) { r.set_database("Shop"); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"sql in database", with([](auto& r) { r.set_database("x; DROP DATABASE badinput"); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"quote in database", with([](auto& r) { r.set_database("bad'input"); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"nul in database", with([](auto& r) { r.set_database(std::string("bad\0input", 9)); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"too long database", with([](auto& r) { r.set_database(std::string(64, 'a')); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"postgres", with([](auto& r) { r.set_database("postgres"); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"template1", with([](auto& r) { r.set_database("template1"); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"platform database", with([](auto& r) { r.set_database("upshift"); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"empty version", with([](auto& r) { r.set_target_version(""); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"malformed version", with([](auto& r) { r.set_target_version("18.x"); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"version with sql", with([](auto& r) { r.set_target_version("18.0'; --"); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"empty email", with([](auto& r) { r.set_notify_email(""); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"email without domain", with([](auto& r) { r.set_notify_email("owner"); }), grpc::StatusCode::INVALID_ARGUMENT},
      {"email with CRLF header", with([](auto& r) { r.set_notify_email("a@example.com\r\nBcc: x@evil.example"); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"email with quote", with([](auto& r) { r.set_notify_email("a\"b@example.com"); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"email with semicolon", with([](auto& r) { r.set_notify_email("a;b@example.com"); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"over-long email", with([](auto& r) { r.set_notify_email(std::string(250, 'a') + "@example.com"); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"missing purpose", with([](auto& r) { r.set_purpose(PURPOSE_UNSPECIFIED); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"bad request id", with([](auto& r) { r.set_request_id("id with spaces"); }),
       grpc::StatusCode::INVALID_ARGUMENT},
      {"5 MiB request", with([](auto& r) { r.set_notify_email(std::string(5 << 20, 'a')); }),
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {"unknown database", with([](auto& r) { r.set_database("nosuchdb"); }), grpc::StatusCode::NOT_FOUND},
      {"version not in catalog", with([](auto& r) { r.set_target_version("19.0"); }),
       grpc::StatusCode::FAILED_PRECONDITION},
      {"version not newer", with([](auto& r) { r.set_target_version("16.0"); }),
       grpc::StatusCode::FAILED_PRECONDITION},
      {"production without test", with([](auto& r) { r.set_purpose(PURPOSE_PRODUCTION); }),
       grpc::StatusCode::FAILED_PRECONDITION},
  };
  for (const BadOrder& c : cases) {
    RequestUpgradeResponse resp;
    grpc::Status s = Request(c.request, &resp);
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << s.error_message();
    EXPECT_FALSE(s.error_message().empty()) << c.name;
  }
  // Nothing was admitted: no upgrade for the database, no red tag, no email.
  ListUpgradesRequest lreq;
  lreq.set_database(db);
  ListUpgradesResponse lresp;
  ASSERT_TRUE(platform->status().ListUpgrades(Context().get(), lreq, &lresp).ok());
  EXPECT_EQ(lresp.upgrades_size(), 0);
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = 'badinput'"), "0");
  EXPECT_EQ(Value("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'badinput%'"), "1");
  EXPECT_TRUE(MessagesTo("owner+badinput@example.com").empty());
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE notify_email LIKE '%evil%'"), "0");
}

TEST(RequestUpgrade, RefusesASecondOrderWhileOneIsActiveAndATestCopyAsDatabase) {
  const std::string db = "busy";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 50).ok());
  RequestUpgradeResponse first;
  ASSERT_TRUE(Request(TestOrder(db), &first).ok());
  RequestUpgradeResponse second;
  grpc::Status s = Request(TestOrder(db, "17.0"), &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), first.upgrade().upgrade_id())) << s.error_message();

  std::vector<Upgrade> seen = WatchToEnd(first.upgrade().upgrade_id());
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().state(), STATE_SUCCEEDED) << platform->Logs();

  // The copy cannot itself be upgraded.
  RequestUpgradeResponse on_copy;
  s = Request(TestOrder(seen.back().test_database()), &on_copy);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  // Once the Test ended, the next order is admitted again (request learned the end from upgrade.events).
  ASSERT_TRUE(WaitFor([&] {
    GetUpgradeOptionsRequest oreq;
    oreq.set_database(db);
    GetUpgradeOptionsResponse oresp;
    return platform->requests().GetUpgradeOptions(Context().get(), oreq, &oresp).ok() &&
           oresp.active_upgrade_id().empty();
  }));
  GetUpgradeOptionsRequest oreq;
  oreq.set_database(db);
  GetUpgradeOptionsResponse oresp;
  ASSERT_TRUE(platform->requests().GetUpgradeOptions(Context().get(), oreq, &oresp).ok());
  EXPECT_EQ(oresp.version(), "16.0");
  EXPECT_EQ(std::vector<std::string>(oresp.target_versions().begin(), oresp.target_versions().end()),
            (std::vector<std::string>{"17.0", "18.0"}));
  ASSERT_EQ(oresp.options_size(), 2);
  ASSERT_EQ(oresp.options(0).purposes_size(), 2);
  EXPECT_EQ(oresp.options(0).purposes(0), PURPOSE_TEST);
  EXPECT_EQ(oresp.options(0).purposes(1), PURPOSE_CHECK);
}

TEST(RequestUpgrade, ARepeatedRequestIdReturnsTheFirstOrder) {
  const std::string db = "idem";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20).ok());
  RequestUpgradeRequest req = TestOrder(db);
  req.set_request_id("frontend-click-42");
  RequestUpgradeResponse first, again;
  ASSERT_TRUE(Request(req, &first).ok());
  grpc::Status s = Request(req, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.upgrade().upgrade_id(), first.upgrade().upgrade_id());
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = 'idem'"), "1");
  std::vector<Upgrade> seen = WatchToEnd(first.upgrade().upgrade_id());
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().state(), STATE_SUCCEEDED);
  // Asking again after it ended still returns the same order, now finished.
  ASSERT_TRUE(Request(req, &again).ok());
  EXPECT_EQ(again.upgrade().upgrade_id(), first.upgrade().upgrade_id());
  // The same key for another order is refused, whatever differs, and records nothing.
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase("idem_other", 20).ok());
  for (auto change : std::vector<std::function<void(RequestUpgradeRequest&)>>{
           [](RequestUpgradeRequest& r) { r.set_database("idem_other"); },
           [](RequestUpgradeRequest& r) { r.set_target_version("17.0"); },
           [](RequestUpgradeRequest& r) { r.set_notify_email("someone.else@example.com"); },
           [](RequestUpgradeRequest& r) { r.set_purpose(PURPOSE_PRODUCTION); }}) {
    RequestUpgradeRequest other = req;
    change(other);
    RequestUpgradeResponse refused;
    s = Request(other, &refused);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), first.upgrade().upgrade_id())) << s.error_message();
  }
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database LIKE 'idem%'"), "1");
}

// TLS is on by default: a client without it, or without the platform's CA, gets nothing, and the
// gate answers only workers presenting a client certificate of the platform's CA.
TEST(Tls, EveryServerRefusesPlaintextAndTheGateRefusesClientsWithoutACertificate) {
  auto health = [](const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(address, credentials));
    grpc::health::v1::HealthCheckResponse resp;
    return stub->Check(Context(absl::Seconds(3)).get(), grpc::health::v1::HealthCheckRequest(), &resp);
  };
  for (const char* name : {"request", "status", "cloner", "migrator", "notifier"}) {
    EXPECT_TRUE(health(platform->health_address(name), platform->client_credentials()).ok()) << name;
    EXPECT_EQ(health(platform->health_address(name), grpc::InsecureChannelCredentials()).error_code(),
              grpc::StatusCode::UNAVAILABLE)
        << name;
  }
  const std::string tls = platform->tls_dir();
  EXPECT_EQ(health(platform->gate_address(), grpc::InsecureChannelCredentials()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(health(platform->gate_address(), platform->client_credentials()).error_code(),
            grpc::StatusCode::UNAVAILABLE);  // TLS, but no client certificate
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> worker =
      ChannelCredentials({tls + "/cloner.pem", tls + "/cloner.key", tls + "/ca.pem"});
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_TRUE(health(platform->gate_address(), *worker).ok());
  // Every certificate of the CA passes the gate's TLS, but only the workers' are served, each its
  // own work (issue 20), and status's and the notifier's, which read orders only: request's is
  // refused before anything is looked up.
  auto gate_as = [&](const std::string& service) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        ChannelCredentials({tls + "/" + service + ".pem", tls + "/" + service + ".key", tls + "/ca.pem"});
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return upgrade::v1::UpgradeGate::NewStub(grpc::CreateChannel(platform->gate_address(), *credentials));
  };
  upgrade::v1::GetOrderRequest unknown;
  unknown.set_upgrade_id("00000000-0000-4000-8000-000000000000");
  upgrade::v1::GetOrderResponse order;
  grpc::Status refused = gate_as("request")->GetOrder(Context().get(), unknown, &order);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  for (const char* service : {"cloner", "migrator", "status", "notifier"}) {
    EXPECT_EQ(gate_as(service)->GetOrder(Context().get(), unknown, &order).error_code(), grpc::StatusCode::NOT_FOUND)
        << service;
  }
  upgrade::v1::ClaimWorkRequest claim;
  claim.set_upgrade_id(unknown.upgrade_id());
  claim.set_work("plan");
  claim.set_holder("cloner/test");
  claim.mutable_ttl()->set_seconds(10);
  upgrade::v1::ClaimWorkResponse claimed;
  EXPECT_EQ(gate_as("cloner")->ClaimWork(Context().get(), claim, &claimed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  upgrade::v1::PassCheckpointRequest pass;
  pass.set_upgrade_id(unknown.upgrade_id());
  pass.set_checkpoint(upgrade::v1::CHECKPOINT_BEGIN_MIGRATION);
  upgrade::v1::PassCheckpointResponse passed;
  EXPECT_EQ(gate_as("cloner")->PassCheckpoint(Context().get(), pass, &passed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // status and the notifier read orders, and nothing more.
  for (const char* service : {"status", "notifier"}) {
    claim.set_holder(absl::StrCat(service, "/test"));
    EXPECT_EQ(gate_as(service)->ClaimWork(Context().get(), claim, &claimed).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << service;
    EXPECT_EQ(gate_as(service)->PassCheckpoint(Context().get(), pass, &passed).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << service;
  }
  // The gate is not on the public port any more.
  auto gate = upgrade::v1::UpgradeGate::NewStub(grpc::CreateChannel(platform->request_address(), platform->client_credentials()));
  upgrade::v1::GetOrderRequest req;
  req.set_upgrade_id("00000000-0000-4000-8000-000000000000");
  upgrade::v1::GetOrderResponse resp;
  EXPECT_EQ(gate->GetOrder(Context().get(), req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

// An acceptance that never reaches status or the notifier (the fault suite saw one lost by each)
// must not leave the upgrade invisible or its customer uninformed. Here both are down while a Test
// is ordered, and another member of each one's consumer group takes request's record of the
// acceptance, so neither reads it. The workers carry the Test out; status and the notifier, back,
// hold their records, ask request's gate for the stored order (each with its own certificate):
// status shows the upgrade to its end, and the customer gets both emails, each once.
TEST(LateAcceptance, AnAcceptanceThatNeverReachedStatusOrTheNotifierIsReadFromRequestsStoredOrder) {
  const std::string db = "late_accept";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 50).ok());
  platform->service("status").Kill();
  platform->service("notifier").Kill();
  RequestUpgradeRequest order = TestOrder(db);
  order.set_notify_email("late@acme.example.com");
  RequestUpgradeResponse resp;
  ASSERT_TRUE(Request(order, &resp).ok());
  const std::string id = resp.upgrade().upgrade_id();
  for (const char* group : {"upshift-status", "upshift-notifier"}) {
    std::atomic<bool> taken{false};
    KafkaOptions options{platform->broker().bootstrap(), absl::StrCat("test-stand-in-", group), LocalKafkaProperties()};
    absl::StatusOr<std::unique_ptr<KafkaConsumer>> stand_in = KafkaConsumer::Create(
        options, group, {topics::kOrders}, nullptr, [&](const ConsumedRecord& r) {
          Event e;
          if (e.ParseFromString(r.payload) && e.order().upgrade_id() == id) taken = true;
          return absl::OkStatus();
        });
    ASSERT_TRUE(stand_in.ok()) << stand_in.status();
    StopToken stop;
    std::thread polling([&] { (*stand_in)->Run(stop); });
    // The killed member leaves the group after its session; then the stand-in is given its partitions.
    EXPECT_TRUE(WaitFor([&] { return taken.load(); }, absl::Seconds(60))) << group;
    stop.Stop();
    polling.join();  // its offsets, past the acceptance, are committed as it leaves
    ASSERT_TRUE(taken.load()) << group;
  }
  ASSERT_TRUE(platform->RestartService("status").ok());
  ASSERT_TRUE(platform->RestartService("notifier").ok());
  Upgrade shown;
  EXPECT_TRUE(WaitFor([&] {
    GetUpgradeRequest req;
    req.set_upgrade_id(id);
    return platform->status().GetUpgrade(Context().get(), req, &shown).ok() && shown.state() == STATE_SUCCEEDED;
  }, absl::Seconds(120))) << shown.DebugString() << platform->Log("status");
  EXPECT_EQ(shown.database(), db);
  EXPECT_FALSE(shown.test_database().empty());
  for (const char* service : {"status", "notifier"}) {
    EXPECT_TRUE(absl::StrContains(platform->Log(service),
                                  absl::StrCat("the announcement of upgrade ", id, " of ", db, " never reached ",
                                               service, "; took it from request's stored order")))
        << service;
  }
  absl::StatusOr<Database> main = GetDatabase(db);
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_FALSE(HasTag(*main, TAG_UPGRADE_IN_PROGRESS));
  // The acceptance's email and the end's, each once, to the order's address (the sink lists them
  // in no particular order).
  std::vector<std::string> mails;
  EXPECT_TRUE(WaitFor([&] {
    mails = MessagesTo("late@acme.example.com");
    return mails.size() >= 2;
  }, absl::Seconds(60))) << platform->Log("notifier");
  ASSERT_EQ(mails.size(), 2u);
  int in_progress = 0, ready = 0;
  for (const std::string& m : mails) {
    in_progress += absl::StrContains(m, "Subject: Upgrade in progress: late_accept to 18.0 (test)");
    ready += absl::StrContains(m, "Subject: Your test database is ready: ");
  }
  EXPECT_EQ(in_progress, 1);
  EXPECT_EQ(ready, 1);
}

TEST(TestCopy, CanBeExtendedOnceHandedOverAndTheViewShowsTheNewExpiry) {
  const std::string db = "extendme";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20).ok());
  RequestUpgradeResponse accepted;
  ASSERT_TRUE(Request(TestOrder(db), &accepted).ok());
  std::vector<Upgrade> seen = WatchToEnd(accepted.upgrade().upgrade_id());
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().state(), STATE_SUCCEEDED);
  const std::string copy = seen.back().test_database();
  absl::StatusOr<Database> before = GetDatabase(copy);
  ASSERT_TRUE(before.ok() && before->has_expires_at());

  ExtendTestCopyRequest req;
  req.set_database(copy);
  ExtendTestCopyResponse resp;
  // request learns the copy's expiry from upgrade.events: wait until it can extend.
  ASSERT_TRUE(WaitFor([&] {
    resp.Clear();
    return platform->requests().ExtendTestCopy(Context().get(), req, &resp).ok();
  }));
  EXPECT_EQ(FromProto(resp.expires_at()), FromProto(before->expires_at()) + absl::Hours(24 * 30));
  EXPECT_TRUE(WaitFor([&] {
    absl::StatusOr<Database> after = GetDatabase(copy);
    return after.ok() && FromProto(after->expires_at()) == FromProto(resp.expires_at());
  }));
  req.set_database(db);
  EXPECT_EQ(platform->requests().ExtendTestCopy(Context().get(), req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  req.set_database("Not Valid");
  EXPECT_EQ(platform->requests().ExtendTestCopy(Context().get(), req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(StatusService, AnswersBadAndUnknownIdsWithTheirCodes) {
  GetUpgradeRequest req;
  Upgrade u;
  req.set_upgrade_id("not-a-uuid");
  EXPECT_EQ(platform->status().GetUpgrade(Context().get(), req, &u).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_upgrade_id("00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(platform->status().GetUpgrade(Context().get(), req, &u).error_code(), grpc::StatusCode::NOT_FOUND);
  GetDatabaseRequest dreq;
  Database d;
  dreq.set_name("no_such_database");
  EXPECT_EQ(platform->status().GetDatabase(Context().get(), dreq, &d).error_code(), grpc::StatusCode::NOT_FOUND);
  dreq.set_name("Bad Name");
  EXPECT_EQ(platform->status().GetDatabase(Context().get(), dreq, &d).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(Health, BothServersReportServing) {
  EXPECT_EQ(*platform->Health(platform->request_address()), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(*platform->Health(platform->status_address()), grpc::health::v1::HealthCheckResponse::SERVING);
}

// --- The trust boundary: forged and tampered records change nothing ---------------------------

// Signs as `signer` with a signature given beforehand: a record replayed with the signature it had.
class ReplayedSignature final : public RecordSigner {
 public:
  ReplayedSignature(std::string signer, std::string signature)
      : signer_(std::move(signer)), signature_(std::move(signature)) {}
  const std::string& signer() const override { return signer_; }
  std::string Sign(absl::string_view, absl::string_view, absl::string_view) const override { return signature_; }

 private:
  std::string signer_, signature_;
};

absl::StatusOr<std::unique_ptr<KafkaProducer>> ProducerSigningWith(std::shared_ptr<const RecordSigner> signer) {
  KafkaOptions options{platform->broker().bootstrap(), "forger", LocalKafkaProperties()};
  options.signer = std::move(signer);
  return KafkaProducer::Create(options);
}

Upgrade UpgradeNamed(const std::string& id) {
  GetUpgradeRequest req;
  req.set_upgrade_id(id);
  Upgrade u;
  grpc::Status s = platform->status().GetUpgrade(Context().get(), req, &u);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return u;
}

// A forged record: how it is published, and which consumer groups must refuse it for what reason.
struct Forgery {
  std::string what;
  KafkaProducer* producer;
  std::string topic;
  Event event;
  std::string payload;  // as published (the event, serialized, unless set)
  std::map<std::string, std::string> refused_by;  // consumer group -> part of the reason
};

TEST(ForgedRecords, ChangeNothingAndGoToTheDeadLetterQueueWithTheirReason) {
  // Three customer databases; one has a finished Test, whose order the forgeries name.
  const std::string a = "forge_a", b = "forge_b", c = "forge_c";
  for (const std::string& db : {a, b, c}) ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 50).ok());
  absl::StatusOr<std::unique_ptr<TopicTap>> tap =
      TopicTap::Start(platform->broker().bootstrap(), {topics::kOrders, topics::kDeadLetters});
  ASSERT_TRUE(tap.ok()) << tap.status();
  RequestUpgradeResponse resp;
  ASSERT_TRUE(Request(TestOrder(a), &resp).ok());
  const Upgrade test = WatchToEnd(resp.upgrade().upgrade_id()).back();
  ASSERT_EQ(test.state(), STATE_SUCCEEDED) << test.error() << platform->Logs();
  const std::string copy = test.test_database();
  std::map<std::string, std::map<std::string, std::string>> before;
  for (const std::string& db : {a, b, c, copy}) before[db] = Checksums(db);

  // The order as request stored it, from its signed acceptance on upgrade.orders.
  ConsumedRecord accepted;
  ASSERT_TRUE(WaitFor([&] {
    for (const ConsumedRecord& r : (*tap)->Records()) {
      Event e;
      if (r.topic == topics::kOrders && e.ParseFromString(r.payload) && e.order().upgrade_id() == test.upgrade_id()) {
        accepted = r;
        return true;
      }
    }
    return false;
  }));
  Event stored_event;
  ASSERT_TRUE(stored_event.ParseFromString(accepted.payload));
  const Order stored = stored_event.order();
  EXPECT_EQ(accepted.signer, "request");

  auto as = [](const std::string& service) {
    absl::StatusOr<std::unique_ptr<KafkaProducer>> p = SignedProducer(*platform, service);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  };
  std::unique_ptr<KafkaProducer> as_request = as("request"), as_cloner = as("cloner"), as_migrator = as("migrator");
  const std::string rogue_dir = platform->log_dir() + "/rogue-keys";
  ASSERT_TRUE(WriteRecordKeys(rogue_dir, {"cloner"}).ok());
  absl::StatusOr<std::shared_ptr<const RecordSigner>> rogue_key =
      RecordSigner::FromPemFile("cloner", rogue_dir + "/cloner.key");
  ASSERT_TRUE(rogue_key.ok());
  absl::StatusOr<std::unique_ptr<KafkaProducer>> rogue = ProducerSigningWith(*rogue_key);
  absl::StatusOr<std::unique_ptr<KafkaProducer>> unsigned_producer = ProducerSigningWith(nullptr);
  absl::StatusOr<std::unique_ptr<KafkaProducer>> replayer =
      ProducerSigningWith(std::make_shared<ReplayedSignature>(accepted.signer, accepted.signature));
  ASSERT_TRUE(rogue.ok() && unsigned_producer.ok() && replayer.ok());

  // Every group that consumes a topic, and what a record without a good signature gets from each.
  const std::map<std::string, std::vector<std::string>> groups = {
      {topics::kOrders, {"upshift-status", "upshift-cloner", "upshift-notifier"}},
      {topics::kEvents, {"upshift-request", "upshift-status", "upshift-cloner", "upshift-migrator", "upshift-notifier"}}};
  auto all_groups = [&](const std::string& topic, const std::string& reason) {
    std::map<std::string, std::string> out;
    for (const std::string& g : groups.at(topic)) out[g] = reason;
    return out;
  };
  auto event = [&](const std::string& kind, const std::function<void(Event&)>& fill, const Order& order) {
    Event e;
    e.set_event_id(absl::StrCat(order.upgrade_id(), "/", kind));
    *e.mutable_order() = order;
    e.set_source("forger");
    fill(e);
    return e;
  };
  auto naming = [&](const std::function<void(Order&)>& change) {
    Order o = stored;
    change(o);
    return o;
  };
  const std::string disagrees = "disagrees with the stored order";
  std::vector<Forgery> forgeries = {
      {"an unsigned failed Test naming a live database as its copy", unsigned_producer->get(), topics::kEvents,
       event("failed", [](Event& e) { e.mutable_failed()->set_error("forged"); },
             naming([&](Order& o) { o.set_test_database(b); })),
       "", all_groups(topics::kEvents, "not signed")},
      {"a cancelled Test signed with a key nobody trusts", rogue->get(), topics::kEvents,
       event("cancelled", [](Event& e) { e.mutable_cancelled(); }, naming([&](Order& o) { o.set_test_database(b); })),
       "", all_groups(topics::kEvents, "valid signature")},
      {"request's acceptance replayed with another copy name", replayer->get(), topics::kOrders,
       event("accepted", [](Event& e) { e.mutable_accepted(); }, naming([&](Order& o) { o.set_test_database(c); })),
       "", all_groups(topics::kOrders, "valid signature")},
      {"an acceptance signed by the cloner, which may not write orders", as_cloner.get(), topics::kOrders,
       event("accepted", [](Event& e) { e.mutable_accepted(); }, stored), "",
       all_groups(topics::kOrders, "signed by request, not by \"cloner\"")},
      {"a failed Test naming a live database (signed by the migrator)", as_migrator.get(), topics::kEvents,
       event("failed", [](Event& e) { e.mutable_failed()->set_error("forged"); },
             naming([&](Order& o) { o.set_test_database(b); })),
       "", {{"upshift-cloner", disagrees}, {"upshift-request", disagrees}}},
      // request says a cancellation happened only of a scheduled upgrade that never started (issue
      // 25); one naming a live database disagrees with the stored order for every group that acts
      // on it (the migrator has nothing to do with a cancellation).
      {"a cancelled Test naming a live database (signed by request)", as_request.get(), topics::kEvents,
       event("cancelled", [](Event& e) { e.mutable_cancelled(); }, naming([&](Order& o) { o.set_test_database(c); })),
       "", {{"upshift-cloner", disagrees}, {"upshift-request", disagrees}, {"upshift-status", disagrees},
            {"upshift-notifier", disagrees}}},
      // Nor may request's key say a worker's end of an upgrade.
      {"a failed Test signed by request", as_request.get(), topics::kEvents,
       event("failed", [](Event& e) { e.mutable_failed()->set_error("forged"); }, stored), "",
       all_groups(topics::kEvents, "only cloner or migrator may say it")},
      {"a migrated Test signed by the cloner, which may not say it", as_cloner.get(), topics::kEvents,
       event("migrated", [](Event& e) { e.mutable_migrated(); }, stored), "",
       all_groups(topics::kEvents, "only migrator may say it")},
      {"a check's end naming a live database", as_migrator.get(), topics::kEvents,
       event("succeeded", [](Event& e) { e.mutable_succeeded(); }, naming([&](Order& o) {
               o.set_purpose(PURPOSE_CHECK);
               o.set_test_database(b);
             })),
       "", {{"upshift-cloner", disagrees}, {"upshift-request", disagrees}}},
      {"an acceptance whose copy name is an existing database", as_request.get(), topics::kOrders,
       event("accepted", [](Event& e) { e.mutable_accepted(); }, naming([&](Order& o) { o.set_test_database(c); })),
       "", {{"upshift-cloner", disagrees}, {"upshift-notifier", disagrees}}},
      {"a Production acceptance reusing the Test's id", as_request.get(), topics::kOrders,
       event("accepted", [](Event& e) { e.mutable_accepted(); }, naming([&](Order& o) {
               o.set_purpose(PURPOSE_PRODUCTION);
               o.set_test_database("");
               o.set_restore_point(copy);
             })),
       "", {{"upshift-cloner", disagrees}}},
      {"a failed migration naming another database as the restore point", as_migrator.get(), topics::kEvents,
       event("migration_failed", [](Event& e) { e.mutable_migration_failed()->set_error("forged"); },
             naming([&](Order& o) {
               o.set_purpose(PURPOSE_PRODUCTION);
               o.set_restore_point(copy);
             })),
       "", {{"upshift-cloner", disagrees}}},
      {"a migrated Production naming another restore point", as_migrator.get(), topics::kEvents,
       event("migrated", [](Event& e) { e.mutable_migrated(); }, naming([&](Order& o) {
               o.set_purpose(PURPOSE_PRODUCTION);
               o.set_restore_point(b);
             })),
       "", {{"upshift-cloner", disagrees}}},
      // Records of the stored order itself, signed by a worker's own (leaked) key: each says an end
      // that request's record of the upgrade rules out (issue 20).
      {"a failure of the Test whose copy was handed over (the migrator's key)", as_migrator.get(), topics::kEvents,
       event("failed", [](Event& e) { e.mutable_failed()->set_error("forged"); }, stored), "",
       {{"upshift-cloner", "handed over"}, {"upshift-request", "handed over"},
        {"upshift-notifier", "announced already"}}},
      {"a cancellation nobody asked for (the cloner's key)", as_cloner.get(), topics::kEvents,
       event("cancelled", [](Event& e) { e.mutable_cancelled(); }, stored), "",
       {{"upshift-cloner", "no cancellation was requested"}, {"upshift-request", "no cancellation was requested"},
        {"upshift-notifier", "announced already"}}},
      {"an expiry warning sent to another address (the cloner's key)", as_cloner.get(), topics::kEvents,
       event("test_copy_expiring", [](Event& e) { e.mutable_test_copy_expiring()->set_days_left(1); },
             naming([&](Order& o) { o.set_notify_email("victim@elsewhere.example.com"); })),
       "", {{"upshift-notifier", disagrees}}},
      // Kept by status and the notifier for an acceptance that never comes: never shown, never sent.
      {"an expiry warning of an upgrade request never announced (the cloner's key)", as_cloner.get(),
       topics::kEvents,
       event("test_copy_expiring", [](Event& e) { e.mutable_test_copy_expiring()->set_days_left(1); },
             naming([&](Order& o) {
               o.set_upgrade_id("6b2d1f0e-3c4a-4e5b-9f8a-7d6c5b4a3e2f");
               o.set_notify_email("victim@elsewhere.example.com");
             })),
       "", {}},
      {"a clone_succeeded naming a live database as the copy", as_cloner.get(), topics::kEvents,
       event("clone_succeeded", [](Event& e) { e.mutable_clone_succeeded(); },
             naming([&](Order& o) { o.set_test_database(b); })),
       "", {{"upshift-migrator", disagrees}, {"upshift-request", disagrees}}},
  };

  // And a terminal event ahead of the real one, for an upgrade still running.
  ASSERT_TRUE(Request(TestOrder(c), &resp).ok());
  const std::string running = resp.upgrade().upgrade_id();
  Order running_order = stored;
  running_order.set_upgrade_id(running);
  running_order.set_database(c);
  running_order.set_test_database(resp.upgrade().test_database());
  forgeries.push_back({"a terminal event ahead of the real one", rogue->get(), topics::kEvents,
                       event("succeeded", [](Event& e) { e.mutable_succeeded()->set_version("99.0"); }, running_order),
                       "", all_groups(topics::kEvents, "valid signature")});

  for (Forgery& f : forgeries) {
    f.event.set_source(f.what);  // tells the dead letters of forgeries that are otherwise alike apart
    f.payload = f.event.SerializeAsString();
    ASSERT_TRUE(f.producer->Publish(f.topic, f.event.order().database(), f.payload).ok()) << f.what;
  }
  // Each one reaches the DLQ from every group that must refuse it, with its reason.
  auto letters_of = [&](const Forgery& f) {
    std::map<std::string, std::string> out;
    for (const ConsumedRecord& r : (*tap)->Records()) {
      DeadLetter d;
      if (r.topic == topics::kDeadLetters && d.ParseFromString(r.payload) && d.payload() == f.payload &&
          d.origin_topic() == f.topic) {
        out[d.consumer_group()] = d.reason();
      }
    }
    return out;
  };
  for (const Forgery& f : forgeries) {
    SCOPED_TRACE(f.what);
    EXPECT_TRUE(WaitFor(
        [&] {
          std::map<std::string, std::string> letters = letters_of(f);
          for (const auto& [group, reason] : f.refused_by) {
            if (letters.count(group) == 0) return false;
          }
          return true;
        },
        absl::Seconds(30)));
    std::map<std::string, std::string> letters = letters_of(f);
    for (const auto& [group, reason] : f.refused_by) {
      ASSERT_TRUE(letters.count(group)) << group << " did not refuse it";
      EXPECT_TRUE(absl::StrContains(letters[group], reason)) << group << ": " << letters[group];
    }
  }

  // The upgrade still running ends by itself, as it would have.
  Upgrade ended = WatchToEnd(running).back();
  EXPECT_EQ(ended.state(), STATE_SUCCEEDED) << ended.error();
  absl::StatusOr<Database> c_db = GetDatabase(c);
  ASSERT_TRUE(c_db.ok());
  ASSERT_EQ(c_db->test_copies_size(), 1);
  EXPECT_EQ(c_db->test_copies(0).version(), "18.0");
  // Nothing changed: every database by checksum, the finished Test's state, and its copy is still there.
  for (const std::string& db : {a, b, c, copy}) EXPECT_EQ(Checksums(db), before[db]) << db;
  EXPECT_EQ(forgeries.size(), 19u);
  Upgrade after = UpgradeNamed(test.upgrade_id());
  EXPECT_EQ(after.state(), STATE_SUCCEEDED);
  EXPECT_EQ(after.test_database(), copy);
  absl::StatusOr<Database> main_db = GetDatabase(a);
  ASSERT_TRUE(main_db.ok());
  ASSERT_EQ(main_db->test_copies_size(), 1);
  EXPECT_EQ(main_db->test_copies(0).name(), copy);
  EXPECT_FALSE(HasTag(*main_db, TAG_UPGRADE_FAILED));
  // No email went to the address only forgeries named, and none announced a second end.
  for (const std::string& m : platform->smtp().Messages()) {
    EXPECT_FALSE(absl::StrContains(m, "victim@elsewhere.example.com")) << m;
  }
  GetUpgradeRequest never;
  never.set_upgrade_id("6b2d1f0e-3c4a-4e5b-9f8a-7d6c5b4a3e2f");
  Upgrade none;
  EXPECT_EQ(platform->status().GetUpgrade(Context().get(), never, &none).error_code(), grpc::StatusCode::NOT_FOUND);
}

// --- Tenancy: a token's tenant scopes every RPC -------------------------------------------------

// One tenant's view of the platform: both services, with its token on every call.
struct Tenant {
  explicit Tenant(const std::string& token)
      : requests(UpgradeService::NewStub(
            grpc::CreateChannel(platform->request_address(), platform->CredentialsWithToken(token)))),
        status(StatusService::NewStub(
            grpc::CreateChannel(platform->status_address(), platform->CredentialsWithToken(token)))) {}

  std::vector<std::string> Databases() {
    ListDatabasesResponse resp;
    grpc::Status s = status->ListDatabases(Context().get(), ListDatabasesRequest(), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> names;
    for (const Database& db : resp.databases()) names.push_back(db.name());
    return names;
  }

  std::unique_ptr<UpgradeService::Stub> requests;
  std::unique_ptr<StatusService::Stub> status;
};

// Each tenant sees and acts only on its own databases; an operator on all. Another tenant's database,
// copy or upgrade answers NOT_FOUND with the very message of one that does not exist, for every RPC.
TEST(Tenancy, EachTenantSeesAndActsOnlyOnItsOwnDatabasesAndAnOperatorOnAll) {
  const std::string a_db = "tenancy_acme", b_db = "tenancy_globex";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(a_db, 20, "acme_owner").ok());
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(b_db, 20, "globex_owner").ok());
  const std::vector<std::string> all = {scopes::kRead, scopes::kTest, scopes::kProduction};
  Tenant acme(platform->Token({"", "", "alice@acme", "acme_owner", all}));
  Tenant globex(platform->Token({"", "", "bob@globex", "globex_owner", all}));

  // acme orders a Test of its database with a key globex uses too: two orders, one per tenant.
  RequestUpgradeRequest a_order = TestOrder(a_db);
  a_order.set_request_id("tenancy-key-1");
  RequestUpgradeResponse a_accepted;
  ASSERT_TRUE(acme.requests->RequestUpgrade(Context().get(), a_order, &a_accepted).ok());
  const Upgrade& a_upgrade = a_accepted.upgrade();
  EXPECT_EQ(a_upgrade.tenant(), "acme_owner");
  RequestUpgradeRequest b_order = TestOrder(b_db);
  b_order.set_request_id("tenancy-key-1");
  b_order.set_purpose(PURPOSE_TEST);
  RequestUpgradeResponse b_accepted;
  ASSERT_TRUE(globex.requests->RequestUpgrade(Context().get(), b_order, &b_accepted).ok());
  EXPECT_NE(b_accepted.upgrade().upgrade_id(), a_upgrade.upgrade_id());
  std::vector<Upgrade> seen = WatchToEnd(a_upgrade.upgrade_id());
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().state(), STATE_SUCCEEDED);
  const std::string copy = seen.back().test_database();
  ASSERT_EQ(WatchToEnd(b_accepted.upgrade().upgrade_id()).back().state(), STATE_SUCCEEDED);
  // The copy is acme's, made with the source's owner.
  EXPECT_EQ(Value("postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '" + copy + "'"),
            "acme_owner");
  // Once request knows the copy is handed over, acme itself may extend it.
  ExtendTestCopyRequest extend;
  extend.set_database(copy);
  ExtendTestCopyResponse extended;
  ASSERT_TRUE(WaitFor([&] { return acme.requests->ExtendTestCopy(Context().get(), extend, &extended).ok(); }));
  const std::string expiry = Value("upshift", "SELECT copy_expires_at::text FROM request.orders WHERE upgrade_id = '" +
                                                  a_upgrade.upgrade_id() + "'");

  // globex, for each RPC, on acme's database, copy and upgrade, and on names that do not exist.
  const std::string ghost_db = "tenancy_ghost", ghost_id = "00000000-0000-4000-8000-00000000beef";
  auto same_not_found = [](const grpc::Status& foreign, const grpc::Status& absent, const std::string& name,
                           const std::string& ghost, const std::string& rpc) {
    EXPECT_EQ(foreign.error_code(), grpc::StatusCode::NOT_FOUND) << rpc << ": " << foreign.error_message();
    EXPECT_EQ(absent.error_code(), grpc::StatusCode::NOT_FOUND) << rpc << ": " << absent.error_message();
    std::string expected = absent.error_message();
    for (size_t at = expected.find(ghost); at != std::string::npos; at = expected.find(ghost, at + name.size())) {
      expected.replace(at, ghost.size(), name);
    }
    EXPECT_EQ(foreign.error_message(), expected) << rpc;
  };
  // A watch of an unknown upgrade waits a few seconds for it to appear: run it meanwhile.
  auto watch = [&](const std::string& id) {
    return std::async(std::launch::async, [&globex, id] {
      WatchUpgradeRequest req;
      req.set_upgrade_id(id);
      auto ctx = Context(absl::Minutes(1));
      auto reader = globex.status->WatchUpgrade(ctx.get(), req);
      Upgrade u;
      int received = 0;
      while (reader->Read(&u)) ++received;
      grpc::Status s = reader->Finish();
      return std::make_pair(s, received);
    });
  };
  auto foreign_watch = watch(a_upgrade.upgrade_id());
  auto absent_watch = watch(ghost_id);
  {
    RequestUpgradeRequest r = TestOrder(a_db, "17.0");
    RequestUpgradeRequest g = TestOrder(ghost_db, "17.0");
    RequestUpgradeResponse resp;
    same_not_found(globex.requests->RequestUpgrade(Context().get(), r, &resp),
                   globex.requests->RequestUpgrade(Context().get(), g, &resp), a_db, ghost_db, "RequestUpgrade");
    r.set_purpose(PURPOSE_PRODUCTION);
    g.set_purpose(PURPOSE_PRODUCTION);
    same_not_found(globex.requests->RequestUpgrade(Context().get(), r, &resp),
                   globex.requests->RequestUpgrade(Context().get(), g, &resp), a_db, ghost_db, "RequestUpgrade production");
  }
  {
    CheckUpgradeRequest r, g;
    r.set_database(a_db);
    r.set_target_version("18.0");
    g = r;
    g.set_database(ghost_db);
    CheckUpgradeResponse resp;
    same_not_found(globex.requests->CheckUpgrade(Context().get(), r, &resp),
                   globex.requests->CheckUpgrade(Context().get(), g, &resp), a_db, ghost_db, "CheckUpgrade");
  }
  {
    GetUpgradeOptionsRequest r, g;
    r.set_database(a_db);
    g.set_database(ghost_db);
    GetUpgradeOptionsResponse resp;
    same_not_found(globex.requests->GetUpgradeOptions(Context().get(), r, &resp),
                   globex.requests->GetUpgradeOptions(Context().get(), g, &resp), a_db, ghost_db, "GetUpgradeOptions");
  }
  {
    CancelUpgradeRequest r, g;
    r.set_upgrade_id(a_upgrade.upgrade_id());
    g.set_upgrade_id(ghost_id);
    CancelUpgradeResponse resp;
    same_not_found(globex.requests->CancelUpgrade(Context().get(), r, &resp),
                   globex.requests->CancelUpgrade(Context().get(), g, &resp), a_upgrade.upgrade_id(), ghost_id,
                   "CancelUpgrade");
  }
  {
    ExtendTestCopyRequest r, g;
    r.set_database(copy);
    g.set_database(ghost_db);
    ExtendTestCopyResponse resp;
    same_not_found(globex.requests->ExtendTestCopy(Context().get(), r, &resp),
                   globex.requests->ExtendTestCopy(Context().get(), g, &resp), copy, ghost_db, "ExtendTestCopy");
  }
  for (const std::string& name : {a_db, copy}) {
    GetDatabaseRequest r, g;
    r.set_name(name);
    g.set_name(ghost_db);
    Database resp;
    same_not_found(globex.status->GetDatabase(Context().get(), r, &resp),
                   globex.status->GetDatabase(Context().get(), g, &resp), name, ghost_db, "GetDatabase");
  }
  {
    GetUpgradeRequest r, g;
    r.set_upgrade_id(a_upgrade.upgrade_id());
    g.set_upgrade_id(ghost_id);
    Upgrade resp;
    same_not_found(globex.status->GetUpgrade(Context().get(), r, &resp),
                   globex.status->GetUpgrade(Context().get(), g, &resp), a_upgrade.upgrade_id(), ghost_id,
                   "GetUpgrade");
  }
  {
    ListUpgradesRequest r;
    r.set_database(a_db);
    ListUpgradesResponse resp;
    ASSERT_TRUE(globex.status->ListUpgrades(Context().get(), r, &resp).ok());
    EXPECT_EQ(resp.upgrades_size(), 0);
  }
  std::vector<std::string> globex_sees = globex.Databases();
  EXPECT_EQ(std::count(globex_sees.begin(), globex_sees.end(), a_db), 0);
  EXPECT_EQ(std::count(globex_sees.begin(), globex_sees.end(), b_db), 1);
  for (const std::string& name : globex_sees) EXPECT_NE(name, copy);
  auto [foreign_status, foreign_received] = foreign_watch.get();
  auto [absent_status, absent_received] = absent_watch.get();
  same_not_found(foreign_status, absent_status, a_upgrade.upgrade_id(), ghost_id, "WatchUpgrade");
  EXPECT_EQ(foreign_received, 0);

  // Nothing of acme's changed: one order of its database, still succeeded, the copy's expiry as
  // acme left it, and globex ordered nothing on it.
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = '" + a_db + "'"), "1");
  EXPECT_EQ(Value("upshift", "SELECT outcome || ' ' || (cancel_requested_at IS NULL) FROM request.orders WHERE "
                             "upgrade_id = '" + a_upgrade.upgrade_id() + "'"),
            "succeeded true");
  EXPECT_EQ(Value("upshift", "SELECT copy_expires_at::text FROM request.orders WHERE upgrade_id = '" +
                                 a_upgrade.upgrade_id() + "'"),
            expiry);

  // acme sees its own, with their tenant; its ListUpgrades has its Test.
  std::vector<std::string> acme_sees = acme.Databases();
  EXPECT_EQ(std::count(acme_sees.begin(), acme_sees.end(), a_db), 1);
  EXPECT_EQ(std::count(acme_sees.begin(), acme_sees.end(), b_db), 0);
  GetDatabaseRequest own;
  own.set_name(copy);
  Database own_copy;
  ASSERT_TRUE(acme.status->GetDatabase(Context().get(), own, &own_copy).ok());
  EXPECT_EQ(own_copy.tenant(), "acme_owner");
  EXPECT_EQ(own_copy.parent(), a_db);
  ListUpgradesRequest list;
  list.set_database(a_db);
  ListUpgradesResponse listed;
  ASSERT_TRUE(acme.status->ListUpgrades(Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.upgrades_size(), 1);
  EXPECT_EQ(listed.upgrades(0).upgrade_id(), a_upgrade.upgrade_id());
  EXPECT_EQ(listed.upgrades(0).tenant(), "acme_owner");

  // The operator (the platform's own client) sees both tenants' databases and upgrades.
  ListDatabasesResponse everything;
  ASSERT_TRUE(platform->status().ListDatabases(Context().get(), ListDatabasesRequest(), &everything).ok());
  std::set<std::string> names;
  for (const Database& db : everything.databases()) names.insert(db.name());
  EXPECT_TRUE(names.count(a_db) && names.count(b_db));
  GetUpgradeRequest theirs;
  theirs.set_upgrade_id(b_accepted.upgrade().upgrade_id());
  Upgrade b_upgrade;
  ASSERT_TRUE(platform->status().GetUpgrade(Context().get(), theirs, &b_upgrade).ok());
  EXPECT_EQ(b_upgrade.tenant(), "globex_owner");
}

// --- Callers authenticate with bearer tokens; scopes say what they may do ------------------------

grpc::StatusCode OrderWith(const std::string& token, const RequestUpgradeRequest& req) {
  auto stub = UpgradeService::NewStub(grpc::CreateChannel(platform->request_address(), platform->CredentialsWithToken(token)));
  RequestUpgradeResponse resp;
  return stub->RequestUpgrade(Context().get(), req, &resp).error_code();
}

grpc::StatusCode ListWith(const std::string& token) {
  auto stub = StatusService::NewStub(grpc::CreateChannel(platform->status_address(), platform->CredentialsWithToken(token)));
  ListDatabasesResponse resp;
  return stub->ListDatabases(Context().get(), ListDatabasesRequest(), &resp).error_code();
}

TEST(Auth, ACallWithoutAValidTokenIsUnauthenticatedAndChangesNothing) {
  const std::string db = "authless";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20, "authless_owner").ok());
  const std::vector<std::string> all = {scopes::kRead, scopes::kTest, scopes::kProduction};
  absl::StatusOr<TokenKey> other_key = GenerateTokenKey(kTestKeyId);  // same key id, another key
  ASSERT_TRUE(other_key.ok());
  TokenClaims good{"", "", "someone", "authless_owner", all};
  auto with = [&](const std::function<void(TokenClaims&)>& change) {
    TokenClaims c = good;
    change(c);
    return platform->Token(c);
  };
  TokenClaims forged = good;
  forged.issuer = kTestIssuer;
  forged.audience = kTestAudience;
  forged.expires_at = absl::Now() + absl::Hours(1);
  absl::StatusOr<std::string> wrong_signature = MintToken(other_key->private_pem, kTestKeyId, forged);
  ASSERT_TRUE(wrong_signature.ok());
  // {"alg":"none"} with the good token's claims and no signature.
  std::string good_token = platform->Token(good);
  std::string unsigned_token = absl::StrCat("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.",
                                            good_token.substr(good_token.find('.') + 1,
                                                              good_token.rfind('.') - good_token.find('.') - 1),
                                            ".");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no token", ""},
      {"not a JWT", "not-a-jwt"},
      {"expired", with([](TokenClaims& c) { c.expires_at = absl::Now() - absl::Minutes(5); })},
      {"not valid yet", with([](TokenClaims& c) { c.not_before = absl::Now() + absl::Minutes(5); })},
      {"wrong audience", with([](TokenClaims& c) { c.audience = "someone-else"; })},
      {"wrong issuer", with([](TokenClaims& c) { c.issuer = "https://evil.example"; })},
      {"wrong signature", *wrong_signature},
      {"alg none", unsigned_token},
      {"no subject", with([](TokenClaims& c) { c.subject = ""; })},
  };
  for (const auto& [what, token] : cases) {
    EXPECT_EQ(OrderWith(token, TestOrder(db)), grpc::StatusCode::UNAUTHENTICATED) << what;
    EXPECT_EQ(ListWith(token), grpc::StatusCode::UNAUTHENTICATED) << what;
  }
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = 'authless'"), "0");
  // The same order with a good token goes through.
  EXPECT_EQ(OrderWith(good_token, TestOrder(db)), grpc::StatusCode::OK);
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = 'authless'"), "1");
}

TEST(Auth, ScopesSeparateReadingTestsProductionAndOperators) {
  const std::string db = "scoped";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20, "scoped_owner").ok());
  const std::string reader = platform->Token({"", "", "viewer", "scoped_owner", {scopes::kRead}});
  const std::string tester = platform->Token({"", "", "owner", "scoped_owner", {scopes::kRead, scopes::kTest}});
  const std::string nothing = platform->Token({"", "", "nobody", "scoped_owner", {}});
  const std::string no_tenant = platform->Token({"", "", "stranger", "", {scopes::kRead, scopes::kTest}});
  EXPECT_EQ(ListWith(reader), grpc::StatusCode::OK);
  EXPECT_EQ(ListWith(nothing), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ListWith(no_tenant), grpc::StatusCode::PERMISSION_DENIED);  // only operators act without a tenant
  EXPECT_EQ(OrderWith(no_tenant, TestOrder(db)), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(OrderWith(reader, TestOrder(db)), grpc::StatusCode::PERMISSION_DENIED);
  RequestUpgradeRequest production = TestOrder(db);
  production.set_purpose(PURPOSE_PRODUCTION);
  EXPECT_EQ(OrderWith(tester, production), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = 'scoped'"), "0");
  EXPECT_EQ(OrderWith(tester, TestOrder(db)), grpc::StatusCode::OK);
  EXPECT_EQ(Value("upshift", "SELECT count(*) FROM request.orders WHERE database = 'scoped'"), "1");
}

// --- The audit trail: every mutating call, durably and on upgrade.audit ------------------------

TEST(Audit, EveryMutatingCallIsRecordedWithWhoFromWhereWhatAndTheAnswer) {
  const std::string db = "audited";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20, "audited_owner").ok());
  absl::StatusOr<std::unique_ptr<TopicTap>> tap = TopicTap::Start(platform->broker().bootstrap(), {topics::kAudit});
  ASSERT_TRUE(tap.ok()) << tap.status();
  Tenant owner(platform->Token({"", "", "carol@audited", "audited_owner", {scopes::kRead, scopes::kTest}}));
  Tenant stranger(platform->Token({"", "", "mallory@elsewhere", "elsewhere_owner", {scopes::kRead, scopes::kTest}}));

  RequestUpgradeRequest order = TestOrder(db);
  order.set_request_id("audit-key-1");
  RequestUpgradeResponse accepted;
  ASSERT_TRUE(owner.requests->RequestUpgrade(Context().get(), order, &accepted).ok());
  RequestUpgradeResponse ignored;
  EXPECT_EQ(stranger.requests->RequestUpgrade(Context().get(), order, &ignored).error_code(), grpc::StatusCode::NOT_FOUND);
  RequestUpgradeRequest production = order;
  production.set_purpose(PURPOSE_PRODUCTION);
  production.set_request_id("");
  EXPECT_EQ(owner.requests->RequestUpgrade(Context().get(), production, &ignored).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  CancelUpgradeRequest cancel;
  cancel.set_upgrade_id(accepted.upgrade().upgrade_id());
  CancelUpgradeResponse cancelled;
  ASSERT_TRUE(owner.requests->CancelUpgrade(Context().get(), cancel, &cancelled).ok());
  // An extension of the cancelled Test's copy is refused, and recorded with the tenant and upgrade
  // it acted on (issue 20).
  ExtendTestCopyRequest extend;
  const std::string copy = TestDatabaseName(db, accepted.upgrade().upgrade_id());
  extend.set_database(copy);
  ExtendTestCopyResponse extended;
  EXPECT_EQ(owner.requests->ExtendTestCopy(Context().get(), extend, &extended).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Reads are not audited; an unauthenticated call is logged, not recorded.
  GetUpgradeOptionsRequest options;
  options.set_database(db);
  GetUpgradeOptionsResponse options_resp;
  ASSERT_TRUE(owner.requests->GetUpgradeOptions(Context().get(), options, &options_resp).ok());
  EXPECT_EQ(OrderWith("", order), grpc::StatusCode::UNAUTHENTICATED);

  // Operators read it, newest first; a tenant's token may not.
  auto audit = upgrade::v1::AuditService::NewStub(
      grpc::CreateChannel(platform->request_address(), platform->client_credentials()));
  ListAuditRecordsRequest req;
  req.set_database(db);
  ListAuditRecordsResponse resp;
  req.set_database(copy);
  ASSERT_TRUE(audit->ListAuditRecords(Context().get(), req, &resp).ok());
  ASSERT_EQ(resp.records_size(), 1);
  EXPECT_EQ(resp.records(0).method(), "upgrade.v1.UpgradeService/ExtendTestCopy");
  EXPECT_EQ(resp.records(0).tenant(), "audited_owner");
  EXPECT_EQ(resp.records(0).upgrade_id(), accepted.upgrade().upgrade_id());
  EXPECT_EQ(resp.records(0).code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  req.set_database(db);
  ASSERT_TRUE(audit->ListAuditRecords(Context().get(), req, &resp).ok());
  ASSERT_EQ(resp.records_size(), 4);
  const AuditRecord& cancel_record = resp.records(0);
  EXPECT_EQ(cancel_record.method(), "upgrade.v1.UpgradeService/CancelUpgrade");
  EXPECT_EQ(cancel_record.upgrade_id(), accepted.upgrade().upgrade_id());
  EXPECT_EQ(cancel_record.code(), 0);
  EXPECT_EQ(resp.records(1).code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  const AuditRecord& refused = resp.records(2);
  EXPECT_EQ(refused.subject(), "mallory@elsewhere");
  EXPECT_EQ(refused.caller_tenant(), "elsewhere_owner");
  EXPECT_EQ(refused.code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_TRUE(refused.upgrade_id().empty());
  const AuditRecord& first = resp.records(3);
  EXPECT_EQ(first.method(), "upgrade.v1.UpgradeService/RequestUpgrade");
  EXPECT_EQ(first.subject(), "carol@audited");
  EXPECT_EQ(first.tenant(), "audited_owner");
  EXPECT_FALSE(first.by_operator());
  EXPECT_EQ(first.database(), db);
  EXPECT_EQ(first.upgrade_id(), accepted.upgrade().upgrade_id());
  EXPECT_EQ(first.request_id(), "audit-key-1");
  EXPECT_EQ(first.code(), 0);
  EXPECT_TRUE(absl::StartsWith(first.peer(), "ipv4:127.0.0.1:")) << first.peer();
  // Filtered by tenant, a page at a time.
  req.clear_database();
  req.set_tenant("audited_owner");
  req.set_page_size(2);
  ASSERT_TRUE(audit->ListAuditRecords(Context().get(), req, &resp).ok());
  EXPECT_EQ(resp.records_size(), 2);
  ASSERT_FALSE(resp.next_page_token().empty());
  req.set_page_token(resp.next_page_token());
  ASSERT_TRUE(audit->ListAuditRecords(Context().get(), req, &resp).ok());
  // The owner's four calls, its extension of the copy among them (the stranger's is its own tenant's).
  ASSERT_EQ(resp.records_size(), 2);
  EXPECT_EQ(resp.records(1).upgrade_id(), accepted.upgrade().upgrade_id());
  auto as_owner = upgrade::v1::AuditService::NewStub(grpc::CreateChannel(
      platform->request_address(),
      platform->CredentialsWithToken(platform->Token({"", "", "carol@audited", "audited_owner", {scopes::kRead}}))));
  EXPECT_EQ(as_owner->ListAuditRecords(Context().get(), ListAuditRecordsRequest(), &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // The same records on upgrade.audit, signed by request.
  std::set<std::string> published;
  ASSERT_TRUE(WaitFor([&] {
    published.clear();
    for (const ConsumedRecord& r : (*tap)->Records()) {
      AuditRecord a;
      if (a.ParseFromString(r.payload) && a.database() == db) published.insert(a.method() + " " + std::to_string(a.code()));
    }
    return published.size() == 4;
  })) << published.size();
  EXPECT_EQ(published, (std::set<std::string>{"upgrade.v1.UpgradeService/RequestUpgrade 0",
                                              "upgrade.v1.UpgradeService/RequestUpgrade 5",
                                              "upgrade.v1.UpgradeService/RequestUpgrade 7",
                                              "upgrade.v1.UpgradeService/CancelUpgrade 0"}));
}

// A fault scenario: request is killed between deciding a call and answering it. The decision and
// its audit record are one transaction: both are there, or neither (and the client's retry, with
// the same request_id, makes both).
TEST(Audit, ARequestKilledBetweenItsDecisionAndItsAnswerLeavesBothOrNeither) {
  const std::string db = "audit_killed";
  ASSERT_TRUE(platform->postgres().GenerateSampleDatabase(db, 20, "audit_killed_owner").ok());
  const std::string platform_db = platform->postgres().conninfo("upshift");
  RequestUpgradeRequest order = TestOrder(db);
  order.set_request_id("killed-mid-call");
  // Holding the audit trail stops request right where it writes the call's record.
  pqxx::connection holder(platform_db);
  pqxx::work hold(holder);
  hold.exec("LOCK TABLE request.audit IN ACCESS EXCLUSIVE MODE");
  std::future<grpc::Status> call = std::async(std::launch::async, [&] {
    RequestUpgradeResponse resp;
    return platform->requests().RequestUpgrade(Context(absl::Seconds(30)).get(), order, &resp);
  });
  auto value = [&](const std::string& sql) {
    absl::StatusOr<std::string> v = platform->postgres().QueryValue("upshift", sql);
    return v.ok() ? *v : v.status().ToString();
  };
  ASSERT_TRUE(WaitFor([&] {
    return value("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                 "WHERE c.relname = 'audit' AND NOT l.granted") != "0";
  })) << "request never reached the audit trail";
  platform->service("request").Kill();
  hold.abort();
  EXPECT_FALSE(call.get().ok());  // the caller never got its answer
  auto orders = [&] { return value("SELECT count(*) FROM request.orders WHERE request_id = 'killed-mid-call'"); };
  auto records = [&] {
    return value(absl::StrCat("SELECT count(*) FROM request.audit WHERE database = '", db, "'"));
  };
  EXPECT_EQ(orders(), records());
  EXPECT_EQ(orders(), "0");  // the decision waited for its record, and died with it

  // The client retries with the same request_id: one order, one record of it, naming it.
  ASSERT_TRUE(platform->RestartService("request").ok());
  RequestUpgradeResponse resp;
  grpc::Status retried;
  ASSERT_TRUE(WaitFor([&] {
    retried = platform->requests().RequestUpgrade(Context().get(), order, &resp);
    return retried.error_code() != grpc::StatusCode::UNAVAILABLE;
  }));
  ASSERT_TRUE(retried.ok()) << retried.error_message();
  EXPECT_EQ(orders(), "1");
  EXPECT_EQ(records(), "1");
  auto audit = upgrade::v1::AuditService::NewStub(
      grpc::CreateChannel(platform->request_address(), platform->client_credentials()));
  ListAuditRecordsRequest req;
  req.set_database(db);
  ListAuditRecordsResponse trail;
  ASSERT_TRUE(audit->ListAuditRecords(Context().get(), req, &trail).ok());
  ASSERT_EQ(trail.records_size(), 1);
  EXPECT_EQ(trail.records(0).upgrade_id(), resp.upgrade().upgrade_id());
  EXPECT_EQ(trail.records(0).code(), 0);
  EXPECT_EQ(trail.records(0).tenant(), "audit_killed_owner");
  EXPECT_EQ(WatchToEnd(resp.upgrade().upgrade_id()).back().state(), STATE_SUCCEEDED);
}

// Issue 24: the inventory changes while the platform runs: a third server is added and pg-2's limit
// lowered to one copy. Every service reads it again within seconds: a Test on the new server runs
// there, and three Tests on pg-2 then hold one copy claim at a time. The file is put back after.
TEST(HostingServers, AnInventoryChangedMidWorkAddsAServerAndLowersALimit) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> north = PostgresServer::Start();
  ASSERT_TRUE(north.ok()) << north.status();
  ASSERT_TRUE((*north)->GenerateSampleDatabase("northshop", 20).ok());
  std::vector<std::string> dbs = {"lowered0", "lowered1", "lowered2"};
  for (const std::string& db : dbs) ASSERT_TRUE(platform->hosting(1).GenerateSampleDatabase(db, 500).ok());
  std::string original;
  {
    std::ifstream in(platform->inventory_path());
    original.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto write = [&](const std::string& text) {  // replaced at once, as a ConfigMap update does
    const std::string next = platform->inventory_path() + ".next";
    std::ofstream(next) << text;
    std::filesystem::rename(next, platform->inventory_path());
  };
  const std::string secret = platform->log_dir() + "/pg-3.conninfo";
  std::ofstream(secret) << (*north)->conninfo() << "\n";
  std::string changed = original;
  const std::string pg2 = "name: \"pg-2\"";
  const size_t at = changed.find("max_copies: 2", changed.find(pg2));
  ASSERT_NE(at, std::string::npos) << changed;
  changed.replace(at, 13, "max_copies: 1");
  changed += absl::StrCat("server {\n  name: \"pg-3\"\n  conninfo_file: \"", secret,
                          "\"\n  max_copies: 2\n  max_plans: 2\n}\n");
  write(changed);
  // request finds the new server's database once it read the inventory again.
  RequestUpgradeResponse resp;
  grpc::Status s;
  ASSERT_TRUE(WaitFor([&] {
    s = Request(TestOrder("northshop"), &resp);
    return s.error_code() != grpc::StatusCode::NOT_FOUND;
  }, absl::Seconds(30))) << s.error_message();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.upgrade().server(), "pg-3");
  Upgrade north_done = WatchToEnd(resp.upgrade().upgrade_id()).back();
  EXPECT_EQ(north_done.state(), STATE_SUCCEEDED) << north_done.error() << platform->Logs();
  EXPECT_EQ((*north)->QueryValue("postgres", absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '",
                                                          north_done.test_database(), "'"))
                .value_or(""),
            "1");
  // pg-2's lowered limit: one copy claim at a time.
  std::atomic<bool> sampling{true};
  std::atomic<int> most_claimed{0};
  std::thread sampler([&] {
    pqxx::connection platform_db(platform->postgres().conninfo("upshift"));
    while (sampling) {
      most_claimed = std::max<int>(
          most_claimed, pqxx::nontransaction(platform_db)
                            .exec("SELECT count(*) FROM request.claims WHERE server = 'pg-2' AND work IN "
                                  "('copy', 'snapshot') AND NOT done AND expires_at > now()")[0][0]
                            .as<int>());
    }
  });
  std::vector<std::string> ids;
  for (const std::string& db : dbs) {
    grpc::Status admitted = Request(TestOrder(db), &resp);
    EXPECT_TRUE(admitted.ok()) << admitted.error_message();  // not ASSERT: the sampler runs
    if (admitted.ok()) ids.push_back(resp.upgrade().upgrade_id());
  }
  for (const std::string& id : ids) EXPECT_EQ(WatchToEnd(id).back().state(), STATE_SUCCEEDED) << platform->Logs();
  sampling = false;
  sampler.join();
  EXPECT_EQ(most_claimed, 1);
  // Back as it was, before the third server goes.
  write(original);
  auto servers = [&] {
    ListServersResponse listed;
    EXPECT_TRUE(platform->requests().ListServers(Context().get(), ListServersRequest(), &listed).ok());
    return listed.servers_size();
  };
  EXPECT_TRUE(WaitFor([&] { return servers() == 2; }, absl::Seconds(30)));
}

// Issue 24: three cloner replicas, each allowed two copies at once, and six Tests of databases on
// pg-2, whose inventory limit is two copies. Sampled from pg-2's own pg_stat_activity (a copy being
// made: CREATE DATABASE, or pg_restore) and from the claims, at no moment do more than two copies
// run there; the others wait, and say so, and every Test succeeds. Last in this file: it leaves
// three cloners behind until it stops the two it added.
TEST(HostingServers, ThreeClonersNeverRunMoreCopiesOnAServerThanItsLimit) {
  PostgresServer& east = platform->hosting(1);
  std::vector<std::string> dbs;
  for (int i = 0; i < 6; ++i) {
    dbs.push_back(absl::StrCat("capacity", i));
    ASSERT_TRUE(east.GenerateSampleDatabase(dbs.back(), 3000).ok());
  }
  std::vector<std::string> replicas;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::string> r = platform->AddReplica("cloner", {"--max_concurrent_copies=4"});
    ASSERT_TRUE(r.ok()) << r.status();
    replicas.push_back(*r);
  }
  ASSERT_TRUE(WaitFor([&] {
    for (const std::string& r : replicas) {
      auto h = platform->Health(platform->health_address(r));
      if (!h.ok() || *h != grpc::health::v1::HealthCheckResponse::SERVING) return false;
    }
    return true;
  })) << platform->Logs();
  std::atomic<bool> sampling{true};
  std::atomic<int> most_copying{0}, most_claimed{0}, samples{0};
  std::thread sampler([&] {
    pqxx::connection server(east.conninfo("postgres"));
    pqxx::connection platform_db(platform->postgres().conninfo("upshift"));
    while (sampling) {
      const int copying = pqxx::nontransaction(server)
                              .exec("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                                    "(query ILIKE 'CREATE DATABASE%' OR application_name = 'pg_restore')")[0][0]
                              .as<int>();
      const int claimed = pqxx::nontransaction(platform_db)
                              .exec("SELECT count(*) FROM request.claims WHERE server = 'pg-2' AND work IN "
                                    "('copy', 'snapshot') AND NOT done AND expires_at > now()")[0][0]
                              .as<int>();
      most_copying = std::max<int>(most_copying, copying);
      most_claimed = std::max<int>(most_claimed, claimed);
      ++samples;
    }
  });
  std::vector<std::string> ids;
  for (const std::string& db : dbs) {
    RequestUpgradeResponse resp;
    grpc::Status s = Request(TestOrder(db), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();  // not ASSERT: the sampler runs
    if (s.ok()) ids.push_back(resp.upgrade().upgrade_id());
  }
  // What the API shows while they run, every upgrade at once (a wait may end before a watch of it
  // would begin).
  std::set<std::string> waited;
  std::atomic<bool> watching{true};
  std::thread shown([&] {
    while (watching) {
      for (const std::string& id : ids) {
        GetUpgradeRequest req;
        req.set_upgrade_id(id);
        Upgrade u;
        if (platform->status().GetUpgrade(Context().get(), req, &u).ok() && !u.waiting_for().empty()) {
          waited.insert(u.waiting_for());
        }
      }
    }
  });
  for (const std::string& id : ids) {
    std::vector<Upgrade> seen = WatchToEnd(id);
    if (seen.empty()) {
      ADD_FAILURE() << "no state of " << id;
      continue;
    }
    EXPECT_EQ(seen.back().state(), STATE_SUCCEEDED) << seen.back().error() << platform->Logs();
  }
  watching = false;
  shown.join();
  sampling = false;
  sampler.join();
  for (const std::string& r : replicas) platform->service(r).Stop();
  EXPECT_GT(samples, 10);
  EXPECT_LE(most_copying, 2) << "copies running at once on pg-2";
  EXPECT_LE(most_claimed, 2) << "copy claims live at once on pg-2";
  EXPECT_EQ(most_claimed, 2) << "six Tests on three replicas never ran two copies at once";
  EXPECT_EQ(waited, std::set<std::string>{"hosting server pg-2 runs 2 copies, its limit"});
}

}  // namespace
}  // namespace upshift::testing
