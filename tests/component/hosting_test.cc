// PgHostingServer against real PostgreSQL.

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "libs/hosting/pg_hosting_server.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "tests/component/environment.h"
#include "tests/support/wait.h"

namespace upshift {
namespace {

using upshift::testing::Postgres;

class HostingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = absl::StrCat("src_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres().GenerateSampleDatabase(source_, 30).ok());
    hosting_ = std::make_unique<PgHostingServer>(
        PgHostingOptions{Postgres().conninfo(), {"upshift"}, upshift::testing::PgBinDir(), absl::Minutes(5)});
  }
  std::string source_;
  std::unique_ptr<PgHostingServer> hosting_;
};

TEST_F(HostingTest, ReadsVersionsAndTellsMissingFromForeignDatabases) {
  EXPECT_EQ(*hosting_->ReadVersion(source_, "SELECT latest_version FROM ir_module_module WHERE name = 'base'"), "16.0");
  EXPECT_EQ(hosting_->ReadVersion("nope_nope", "SELECT 1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE foreign_app").ok());
  EXPECT_EQ(hosting_->ReadVersion("foreign_app", "SELECT latest_version FROM ir_module_module").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(HostingTest, TheDatabaseSizeNeverWaitsForATableLockedByACustomerSession) {
  pqxx::connection customer(Postgres().conninfo(source_));
  pqxx::work locked(customer);
  locked.exec("LOCK TABLE res_partner IN ACCESS EXCLUSIVE MODE");
  auto size = std::async(std::launch::async, [&] { return hosting_->DatabaseSizeBytes(source_); });
  bool answered = size.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  locked.abort();  // lets a blocked call finish either way
  ASSERT_TRUE(answered) << "DatabaseSizeBytes waited for the customer's lock";
  absl::StatusOr<int64_t> bytes = size.get();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_GE(*bytes, *hosting_->DataSizeBytes(source_));  // the tables and the system catalogs
  EXPECT_EQ(hosting_->DatabaseSizeBytes("nope_nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HostingTest, ATemplateCloneHasTheSameRowsAndChecksums) {
  std::string copy = source_ + "_copy";
  ASSERT_TRUE(hosting_->CloneFromTemplate(source_, copy, "file_copy").ok());
  EXPECT_EQ(*hosting_->CountRows(source_), *hosting_->CountRows(copy));
  EXPECT_EQ(*hosting_->ChecksumTables(source_), *hosting_->ChecksumTables(copy));
  EXPECT_EQ(hosting_->CountRows(copy)->at("public.res_partner"), 30);
  EXPECT_EQ(hosting_->CloneFromTemplate(source_, copy, "wal_log").code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(hosting_->DropDatabase(copy).ok());
  EXPECT_EQ(hosting_->GetDatabase(copy).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(hosting_->DropDatabase(copy).ok());  // idempotent
}

// A copy stays its tenant's: the database and every table in it keep the source's owners, by
// template and by dump alike.
TEST_F(HostingTest, CopiesKeepTheSourcesOwnerAndTheOwnersOfItsTables) {
  const std::string owned = source_ + "_owned";
  ASSERT_TRUE(Postgres().GenerateSampleDatabase(owned, 10, "hosting_tenant").ok());
  absl::StatusOr<HostedDatabase> source = hosting_->GetDatabase(owned);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(source->owner, "hosting_tenant");
  const std::string by_template = owned + "_t", by_dump = owned + "_d";
  ASSERT_TRUE(hosting_->CloneFromTemplate(owned, by_template, "wal_log").ok());
  ASSERT_TRUE(hosting_->CloneByDump(owned, by_dump).ok());
  for (const std::string& copy : {by_template, by_dump}) {
    EXPECT_EQ(hosting_->GetDatabase(copy)->owner, "hosting_tenant") << copy;
    EXPECT_EQ(*Postgres().QueryValue(copy, "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables "
                                           "WHERE schemaname = 'public'"),
              "hosting_tenant")
        << copy;
  }
  absl::StatusOr<std::vector<HostedDatabase>> listed = hosting_->FindDatabases({owned, source_});
  ASSERT_TRUE(listed.ok() && listed->size() == 2);
  EXPECT_EQ((*listed)[0].name, source_);  // by name
  EXPECT_EQ((*listed)[0].owner, "postgres");
  EXPECT_EQ((*listed)[1].owner, "hosting_tenant");
}

// A file-level copy holds its source's files byte for byte; a changed page, a copy made page by page
// through the WAL (its pages carry new LSNs) and a missing database are told apart.
// What a file-level copy begins with, taken beforehand: everything written before it is on disk.
TEST_F(HostingTest, ACheckpointPutsTheRedoPointPastEverythingWrittenBeforeIt) {
  ASSERT_TRUE(Postgres().Exec(source_, "UPDATE res_partner SET name = 'dirty' WHERE id = 2").ok());
  pqxx::connection admin(Postgres().conninfo("postgres"));
  pqxx::nontransaction tx(admin);
  const std::string written = tx.exec1("SELECT pg_current_wal_lsn()::text")[0].as<std::string>();
  ASSERT_TRUE(hosting_->Checkpoint().ok());
  EXPECT_TRUE(tx.exec1("SELECT redo_lsn >= '" + written + "'::pg_lsn FROM pg_control_checkpoint()")[0].as<bool>())
      << "the redo point is before " << written;
}

// The Production's restore point: the database's own files keep their data under the copy's name,
// and the copy serves under the database's, with what PostgreSQL keeps by oid rather than in the
// files (ACL, connection limit, settings, per role too, and the comment). All at once, or nothing.
TEST_F(HostingTest, SwappingGivesTheCopyTheNameItsAclSettingsAndCommentAndKeepsTheFilesApart) {
  const std::string copy = source_ + "_rp", app = source_ + "_app";
  ASSERT_TRUE(Postgres().Exec("postgres", "CREATE ROLE " + app).ok());
  // A tenant's own privileges: no TEMPORARY for PUBLIC, CONNECT for its application role only.
  ASSERT_TRUE(Postgres().Exec("postgres", "REVOKE ALL ON DATABASE " + source_ + " FROM PUBLIC").ok());
  ASSERT_TRUE(Postgres().Exec("postgres", "GRANT CONNECT ON DATABASE " + source_ + " TO " + app).ok());
  ASSERT_TRUE(Postgres().Exec("postgres", "ALTER DATABASE " + source_ + " CONNECTION LIMIT 7").ok());
  ASSERT_TRUE(Postgres().Exec("postgres", "ALTER DATABASE " + source_ + " SET work_mem = '7MB'").ok());
  ASSERT_TRUE(Postgres().Exec("postgres", "ALTER DATABASE " + source_ +
                                              " SET search_path = '$user', public, \"we ird\"").ok());
  ASSERT_TRUE(Postgres().Exec("postgres", "ALTER ROLE postgres IN DATABASE " + source_ + " SET statement_timeout = '9s'").ok());
  ASSERT_TRUE(Postgres().Exec("postgres", "COMMENT ON DATABASE " + source_ + " IS 'acme''s books'").ok());
  ASSERT_TRUE(hosting_->CloneFromTemplate(source_, copy, "file_copy").ok());
  const int64_t original = hosting_->GetDatabase(source_)->oid, copied = hosting_->GetDatabase(copy)->oid;
  ASSERT_NE(original, copied);
  // The copy differs from the original from here on: which files bear which name shows.
  ASSERT_TRUE(Postgres().Exec(copy, "UPDATE res_partner SET name = 'in the copy' WHERE id = 3").ok());
  const TableChecksums original_sums = *hosting_->ChecksumTables(source_);

  // A session in either: nothing changes.
  absl::Status busy = pg::WithConnection(Postgres().conninfo(), copy, [&](pqxx::connection&) {
    return hosting_->SwapDatabases(source_, copy);
  });
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition) << busy;
  EXPECT_EQ(hosting_->GetDatabase(source_)->oid, original);
  EXPECT_EQ(hosting_->SwapDatabases(source_, "nope_nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(hosting_->GetDatabase(source_)->oid, original);

  ASSERT_TRUE(hosting_->SwapDatabases(source_, copy).ok());
  EXPECT_EQ(hosting_->GetDatabase(source_)->oid, copied);
  EXPECT_EQ(hosting_->GetDatabase(copy)->oid, original);
  EXPECT_EQ(*hosting_->ChecksumTables(copy), original_sums);
  EXPECT_NE(*hosting_->ChecksumTables(source_), original_sums);
  pqxx::connection admin(Postgres().conninfo("postgres"));
  pqxx::nontransaction tx(admin);
  for (const std::string& db : {source_, copy}) {
    EXPECT_EQ(tx.exec1("SELECT datacl::text || ' ' || datconnlimit FROM pg_database WHERE datname = " + tx.quote(db))[0]
                  .as<std::string>(),
              absl::StrCat("{postgres=CTc/postgres,", app, "=c/postgres} 7"))
        << db;
    const std::string settings =
        "SELECT coalesce(string_agg(s.setrole::regrole::text || ':' || array_to_string(s.setconfig, '|'), ';' "
        "ORDER BY s.setrole), '') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
        "WHERE d.datname = " + tx.quote(db);
    EXPECT_EQ(tx.exec1(settings)[0].as<std::string>(),
              "-:work_mem=7MB|search_path=\"$user\", public, \"we ird\";postgres:statement_timeout=9s")
        << db;
    EXPECT_EQ(tx.exec1("SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = " +
                       tx.quote(db))[0]
                  .as<std::string>(),
              "acme's books")
        << db;
  }
  // What the swapped name means to a session: the original's settings.
  pqxx::connection served(Postgres().conninfo(source_));
  EXPECT_EQ(pqxx::nontransaction(served).exec1("SHOW work_mem")[0].as<std::string>(), "7MB");
  EXPECT_EQ(pqxx::nontransaction(served).exec1("SHOW statement_timeout")[0].as<std::string>(), "9s");
}

TEST_F(HostingTest, AChecksumSeesAChangedValue) {
  std::string copy = source_ + "_copy";
  ASSERT_TRUE(hosting_->CloneFromTemplate(source_, copy, "wal_log").ok());
  ASSERT_TRUE(Postgres().Exec(copy, "UPDATE res_partner SET name = 'changed' WHERE id = 3").ok());
  TableChecksums a = *hosting_->ChecksumTables(source_), b = *hosting_->ChecksumTables(copy);
  EXPECT_NE(a.at("public.res_partner"), b.at("public.res_partner"));
  EXPECT_EQ(a.at("public.sale_order"), b.at("public.sale_order"));
}

TEST_F(HostingTest, ASourceInUseCannotBeATemplateButCanBeDumped) {
  std::string copy = source_ + "_copy";
  absl::Status cloned = pg::WithConnection(Postgres().conninfo(), source_, [&](pqxx::connection&) {
    absl::Status s = hosting_->CloneFromTemplate(source_, copy, "file_copy");
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    return hosting_->CloneByDump(source_, copy).status();
  });
  ASSERT_TRUE(cloned.ok()) << cloned;
  EXPECT_EQ(*hosting_->CountRows(source_), *hosting_->CountRows(copy));
  EXPECT_EQ(*hosting_->ChecksumTables(source_), *hosting_->ChecksumTables(copy));
}

TEST_F(HostingTest, ADumpCountsTheSourceInTheSnapshotItCopiesWhileTheSourceIsWritten) {
  ASSERT_TRUE(Postgres().Exec(source_, "CREATE TABLE live_writes (id serial PRIMARY KEY)").ok());
  std::string copy = source_ + "_copy";
  std::atomic<bool> dumped{false};
  std::atomic<int> written{0};
  // A session of the application writes all along the dump, and once more after it.
  std::future<absl::Status> writer = std::async(std::launch::async, [&] {
    return pg::WithConnection(Postgres().conninfo(), source_, [&](pqxx::connection& conn) {
      bool last = false;
      do {
        last = dumped;
        pqxx::nontransaction(conn).exec("INSERT INTO live_writes DEFAULT VALUES");
        ++written;
      } while (!last);
      return absl::OkStatus();
    });
  });
  ASSERT_TRUE(upshift::testing::WaitFor([&] { return written > 0; }));
  absl::StatusOr<TableRowCounts> counted = hosting_->CloneByDump(source_, copy);
  dumped = true;
  ASSERT_TRUE(writer.get().ok());
  ASSERT_TRUE(counted.ok()) << counted.status();
  EXPECT_GT(counted->at("public.live_writes"), 0);
  // The copy holds exactly the snapshot that was counted; the source went on after it.
  EXPECT_EQ(*counted, *hosting_->CountRows(copy));
  EXPECT_GT(hosting_->CountRows(source_)->at("public.live_writes"), counted->at("public.live_writes"));
}

TEST_F(HostingTest, ListsCustomerDatabasesButNotTheServersOrThePlatforms) {
  ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE upshift").ok());
  auto all = hosting_->ListDatabases();
  ASSERT_TRUE(all.ok());
  bool found = false;
  for (const HostedDatabase& d : *all) {
    EXPECT_NE(d.name, "postgres");
    EXPECT_NE(d.name, "upshift");
    EXPECT_NE(d.name, "template1");
    if (d.name == source_) {
      found = true;
      EXPECT_TRUE(d.online);
      EXPECT_EQ(d.connection_limit, -1);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(HostingTest, FindsOnlyTheNamedDatabasesThatAreListed) {
  Postgres().Exec("postgres", "CREATE DATABASE upshift").IgnoreError();  // the test above may have made it
  // A name with a quote and a backslash is passed as data, never as SQL or array syntax.
  auto found = hosting_->FindDatabases({"upshift", "postgres", "template1", "no_such_db", source_, "a\"b\\c,d}"});
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].name, source_);
  EXPECT_TRUE((*found)[0].online);
  auto none = hosting_->FindDatabases({});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace upshift
