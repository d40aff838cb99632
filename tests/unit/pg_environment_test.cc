#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "libs/pg/pg.h"

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

}  // namespace
}  // namespace upshift::pg
