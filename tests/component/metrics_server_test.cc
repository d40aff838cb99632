// /metrics over HTTPS and HTTP (libs/metrics/metrics_server.h), over TCP, with certificates made by
// deploy/local/make-certs.

#include "libs/metrics/metrics_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/support/http.h"
#include "tests/support/servers.h"
#include "tests/support/wait.h"

namespace upshift::testing {
namespace {

using ::testing::HasSubstr;

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("upshift-metrics");
    other_ = MakeTempDir("upshift-metrics-other");
    ASSERT_TRUE(MakeCertificates(dir_, {"server"}).ok());
    ASSERT_TRUE(MakeCertificates(other_, {"server"}).ok());  // another CA
    registry_.Counter("upshift_things_total", "Things", {"kind"}).Increment({"big"}, 3);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    std::filesystem::remove_all(other_);
  }
  TlsOptions Tls() const { return {dir_ + "/server.pem", dir_ + "/server.key", dir_ + "/ca.pem"}; }
  std::string Address(const metrics::MetricsServer& server) const { return absl::StrCat("127.0.0.1:", server.port()); }

  std::string dir_, other_;
  metrics::Registry registry_;
};

TEST_F(MetricsServerTest, ServesTheRegistryOverHttps) {
  auto server = metrics::MetricsServer::Start("127.0.0.1:0", Tls(), registry_);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> body = HttpGet(Address(**server), "/metrics", dir_ + "/ca.pem");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "# HELP upshift_things_total Things\n# TYPE upshift_things_total counter\n"
                   "upshift_things_total{kind=\"big\"} 3\n");
  // Nothing else is served.
  EXPECT_EQ(HttpGet(Address(**server), "/", dir_ + "/ca.pem").status().code(), absl::StatusCode::kInternal);
}

TEST_F(MetricsServerTest, AClientOfAnotherCaAndAPlainClientGetNothing) {
  auto server = metrics::MetricsServer::Start("127.0.0.1:0", Tls(), registry_);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(HttpGet(Address(**server), "/metrics", other_ + "/ca.pem").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(HttpGet(Address(**server), "/metrics", "").ok());
}

TEST_F(MetricsServerTest, ARotatedCertificateIsServedFromTheNextConnection) {
  auto server = metrics::MetricsServer::Start("127.0.0.1:0", Tls(), registry_);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(HttpGet(Address(**server), "/metrics", dir_ + "/ca.pem").ok());
  for (const char* file : {"/server.pem", "/server.key"}) {
    std::filesystem::copy_file(other_ + file, dir_ + file, std::filesystem::copy_options::overwrite_existing);
  }
  absl::StatusOr<std::string> body = HttpGet(Address(**server), "/metrics", other_ + "/ca.pem");
  EXPECT_TRUE(body.ok()) << body.status();
  EXPECT_FALSE(HttpGet(Address(**server), "/metrics", dir_ + "/ca.pem").ok());
}

TEST_F(MetricsServerTest, PlaintextOnlyWhenAskedFor) {
  TlsOptions plaintext;
  plaintext.plaintext = true;
  auto server = metrics::MetricsServer::Start("127.0.0.1:0", plaintext, registry_);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> body = HttpGet(Address(**server), "/metrics", "");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body, HasSubstr("upshift_things_total{kind=\"big\"} 3\n"));
  // Without the choice, TLS needs its files.
  EXPECT_EQ(metrics::MetricsServer::Start("127.0.0.1:0", TlsOptions{}, registry_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MetricsServerTest, ATakenPortOrABadAddressIsRefused) {
  auto first = metrics::MetricsServer::Start("127.0.0.1:0", Tls(), registry_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(metrics::MetricsServer::Start(Address(**first), Tls(), registry_).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(metrics::MetricsServer::Start("127.0.0.1", Tls(), registry_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(metrics::MetricsServer::Start("127.0.0.1:0", {dir_ + "/server.pem", other_ + "/server.key"}, registry_)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace upshift::testing
