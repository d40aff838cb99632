// The PostgreSQL adapters over TLS with sslmode=verify-full, against a server with a certificate
// the test makes.

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "services/request/pg_order_store.h"
#include "tests/support/servers.h"
#include "tests/support/wait.h"

namespace upshift::testing {
namespace {

class PgTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = PostgresServer::Start(/*durable=*/false, /*tls=*/true);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = started->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static std::string VerifyFull(const std::string& ca, const std::string& host = "127.0.0.1") {
    return absl::StrCat("host=", host, " hostaddr=127.0.0.1 port=", server_->port(),
                        " user=postgres connect_timeout=5 sslmode=verify-full sslrootcert=", ca);
  }
  static PostgresServer* server_;
};

PostgresServer* PgTlsTest::server_ = nullptr;

TEST_F(PgTlsTest, VerifyFullConnectsOverTlsToTheServerItsCaSigned) {
  const std::string conninfo = VerifyFull(server_->tls_ca());
  ASSERT_TRUE(pg::PingServer(conninfo).ok());
  std::string ssl;
  absl::Status s = pg::WithConnection(conninfo, "postgres", [&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    ssl = tx.exec1("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0].as<std::string>();
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ssl, "true");
  // A service's store works over it as over any connection.
  ASSERT_TRUE(server_->Exec("postgres", "CREATE DATABASE tls_platform").ok());
  EXPECT_TRUE(request::PgOrderStore::Open(pg::ConnInfoFor(conninfo, "tls_platform"), 2).ok());
}

TEST_F(PgTlsTest, VerifyFullRefusesAServerOfAnotherCaOrAnotherName) {
  const std::string other = MakeTempDir("upshift-pg-other-ca");
  ASSERT_TRUE(MakeCertificates(other, {"someone"}).ok());
  EXPECT_EQ(pg::PingServer(VerifyFull(other + "/ca.pem")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pg::PingServer(VerifyFull(server_->tls_ca(), "db.elsewhere.example")).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace upshift::testing
