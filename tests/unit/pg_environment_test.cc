#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "libs/pg/connections.h"
#include "libs/pg/errors.h"

namespace upshift::pg {
namespace {

TEST(StatusFromException, ALostConnectionIsRetryableAndABadStatementIsNot) {
  // What libpqxx throws when libpq hands back no result (the server died under the query).
  EXPECT_EQ(StatusFromException(pqxx::failure("")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromException(pqxx::broken_connection("gone")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromException(pqxx::sql_error("no such table", "SELECT 1", "42P01")).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(StatusFromException(pqxx::sql_error("crash shutdown", "SELECT 1", "57P02")).code(),
            absl::StatusCode::kUnavailable);
}

TEST(EnvironmentFor, CarriesEveryConnectionSettingIncludingThePassword) {
  absl::StatusOr<std::map<std::string, std::string>> env =
      EnvironmentFor("host=db.internal port=6432 user=upshift password='s3cr3t pw' sslmode=require");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->at("PGHOST"), "db.internal");
  EXPECT_EQ(env->at("PGPORT"), "6432");
  EXPECT_EQ(env->at("PGUSER"), "upshift");
  EXPECT_EQ(env->at("PGPASSWORD"), "s3cr3t pw");
  EXPECT_EQ(env->at("PGSSLMODE"), "require");
  EXPECT_EQ(env->count("PGDATABASE"), 0u);
}

TEST(EnvironmentFor, RefusesAConnectionStringThatDoesNotParse) {
  EXPECT_EQ(EnvironmentFor("host='unterminated").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConnInfoFor, QuotesTheDatabaseName) {
  EXPECT_EQ(ConnInfoFor("host=h", "acme"), "host=h dbname='acme'");
  EXPECT_EQ(ConnInfoFor("host=h", "a'b"), "host=h dbname='a\\'b'");
}

TEST(CheckConnInfo, UsableConnectionStringsPass) {
  for (const char* ok : {"host=127.0.0.1 port=5432 user=upshift", "host=a,b port=5432,5433 sslmode=verify-full",
                         "postgresql://upshift@db:5432/upshift", "host=db connect_timeout=5 password='x y'"}) {
    EXPECT_TRUE(pg::CheckConnInfo(ok).ok()) << ok;
  }
}

TEST(CheckConnInfo, WhatLibpqCouldNeverUseIsInvalidAndKeepsItsPassword) {
  for (const char* bad : {"host=db port=not-a-port", "host=db port=0", "host=db port=5432,x", "hots=db",
                          "host=db sslmode=sometimes", "host=db connect_timeout=soon", "host='unterminated"}) {
    EXPECT_EQ(pg::CheckConnInfo(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  absl::Status status = pg::CheckConnInfo("password=hunter2 port=x");
  EXPECT_EQ(std::string(status.message()).find("hunter2"), std::string::npos) << status;
}

}  // namespace
}  // namespace upshift::pg
