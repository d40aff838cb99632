// pg::Pool against real PostgreSQL.

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "libs/pg/pool.h"
#include "tests/component/environment.h"

namespace upshift {
namespace {

using upshift::testing::Postgres;

TEST(Pool, AFailedTransactionEndsBeforeItsConnectionServesAnother) {
  const std::string db = absl::StrCat("pool_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(Postgres().Exec("postgres", absl::StrCat("CREATE DATABASE ", db)).ok());
  ASSERT_TRUE(Postgres().Exec(db, "CREATE TABLE kept (n int)").ok());
  pg::Pool pool(Postgres().conninfo(db), 1);
  // Two threads take turns on the pool's one connection. Every other transaction of each writes,
  // then fails (its function returns an error); the others commit.
  constexpr int kEach = 200;
  auto work = [&] {
    int committed = 0;
    for (int i = 0; i < kEach; ++i) {
      const bool fail = i % 2 == 1;
      absl::Status s = pool.Transact([&](pqxx::work& tx) {
        tx.exec("INSERT INTO kept VALUES (1)");
        return fail ? absl::FailedPreconditionError("refused") : absl::OkStatus();
      });
      if (s.ok() == fail) return -1;
      committed += fail ? 0 : 1;
    }
    return committed;
  };
  std::future<int> a = std::async(std::launch::async, work), b = std::async(std::launch::async, work);
  // Two threads talking over one connection at once wait forever for answers the other one read:
  // after a bounded wait their sessions are ended, so that the threads return and the test fails.
  bool finished = a.wait_for(std::chrono::seconds(60)) == std::future_status::ready &&
                  b.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  if (!finished) {
    Postgres()
        .Exec("postgres",
              absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '", db, "'"))
        .IgnoreError();
  }
  ASSERT_TRUE(finished) << "a connection went to a second thread while its transaction was still open";
  EXPECT_EQ(a.get(), kEach / 2);
  EXPECT_EQ(b.get(), kEach / 2);
  EXPECT_EQ(*Postgres().QueryValue(db, "SELECT count(*) FROM kept"), std::to_string(kEach));
}

TEST(Pool, AWaitForABusyPoolEndsAfterItsTimeout) {
  const std::string db = absl::StrCat("pool_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(Postgres().Exec("postgres", absl::StrCat("CREATE DATABASE ", db)).ok());
  pg::Pool pool(Postgres().conninfo(db), 1, absl::Milliseconds(300));
  std::promise<void> holding, release;
  std::future<absl::Status> holder = std::async(std::launch::async, [&] {
    return pool.Transact([&](pqxx::work&) {
      holding.set_value();
      release.get_future().wait();
      return absl::OkStatus();
    });
  });
  holding.get_future().wait();
  absl::Status waited = pool.Transact([](pqxx::work&) { return absl::OkStatus(); });
  EXPECT_EQ(waited.code(), absl::StatusCode::kResourceExhausted) << waited;
  release.set_value();
  EXPECT_TRUE(holder.get().ok());
  EXPECT_TRUE(pool.Transact([](pqxx::work&) { return absl::OkStatus(); }).ok());  // free again
}

}  // namespace
}  // namespace upshift
