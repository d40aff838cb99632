// TLS on gRPC (libs/common/tls.h) with certificates made by deploy/local/make-certs, over TCP.

#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/common/grpc_util.h"
#include "libs/common/tls.h"
#include "tests/support/servers.h"
#include "tests/support/wait.h"

namespace upshift::testing {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("upshift-tls");
    other_ = MakeTempDir("upshift-tls-other");
    ASSERT_TRUE(MakeCertificates(dir_, {"server", "worker"}).ok());
    ASSERT_TRUE(MakeCertificates(other_, {"stranger"}).ok());  // another CA
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  void Serve(bool require_client_certs) {
    TlsOptions options{dir_ + "/server.pem", dir_ + "/server.key", dir_ + "/ca.pem", absl::Seconds(1)};
    auto credentials = ServerCredentials(options, require_client_certs);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    auto started = StartGrpcServer("127.0.0.1:0", {}, *credentials, &port_);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
  }

  // The health check's status through a new channel with `credentials`, and the certificate the
  // server presented.
  grpc::Status Check(const std::shared_ptr<grpc::ChannelCredentials>& credentials, std::string* peer_cert = nullptr) {
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), credentials));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp);
    if (s.ok() && peer_cert != nullptr) {
      std::vector<grpc::string_ref> pem = ctx.auth_context()->FindPropertyValues("x509_pem_cert");
      if (!pem.empty()) peer_cert->assign(pem[0].data(), pem[0].size());
    }
    return s;
  }
  std::shared_ptr<grpc::ChannelCredentials> Client(const std::string& ca, const std::string& cert = "",
                                                   const std::string& key = "") {
    auto credentials = ChannelCredentials({cert, key, ca, absl::Seconds(1)});
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return *credentials;
  }

  std::string dir_, other_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(TlsTest, AClientThatTrustsTheCaGetsThroughAndOthersDoNot) {
  Serve(false);
  EXPECT_TRUE(Check(Client(dir_ + "/ca.pem")).ok());
  EXPECT_EQ(Check(grpc::InsecureChannelCredentials()).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Check(Client(other_ + "/ca.pem")).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsAdmitsOnlyClientsWithACertificateOfTheCa) {
  Serve(true);
  EXPECT_TRUE(Check(Client(dir_ + "/ca.pem", dir_ + "/worker.pem", dir_ + "/worker.key")).ok());
  EXPECT_EQ(Check(Client(dir_ + "/ca.pem")).error_code(), grpc::StatusCode::UNAVAILABLE);  // no certificate
  EXPECT_EQ(Check(Client(dir_ + "/ca.pem", other_ + "/stranger.pem", other_ + "/stranger.key")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, ARotatedCertificateIsServedWithoutARestart) {
  Serve(false);
  std::string before;
  ASSERT_TRUE(Check(Client(dir_ + "/ca.pem"), &before).ok());
  ASSERT_FALSE(before.empty());
  ASSERT_TRUE(MakeCertificates(dir_, {"server"}).ok());  // new key and certificate, same CA
  std::string now;
  EXPECT_TRUE(WaitFor([&] { return Check(Client(dir_ + "/ca.pem"), &now).ok() && !now.empty() && now != before; },
                      absl::Seconds(20)));
}

TEST_F(TlsTest, MissingFilesAreRefusedAtStart) {
  EXPECT_EQ(ServerCredentials({"", "", ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ServerCredentials({dir_ + "/none.pem", dir_ + "/server.key", ""}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ServerCredentials({dir_ + "/server.pem", dir_ + "/server.key", ""}, true).status().code(),
            absl::StatusCode::kInvalidArgument);  // mTLS needs the CA
  EXPECT_EQ(ChannelCredentials({"", "", ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ServerCredentials({"", "", "", absl::Seconds(1), /*plaintext=*/true}).ok());
}

}  // namespace
}  // namespace upshift::testing
