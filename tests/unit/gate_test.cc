#include "libs/gate/grpc_gate.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "libs/common/grpc_util.h"
#include "libs/common/retry.h"
#include "upgrade/v1/gate.grpc.pb.h"

namespace upshift {
namespace {

// A gate server. It answers "unknown" with NOT_FOUND. It holds "held" until its call is cancelled,
// as request holds a call it is still serving when it stops. It drops "dropped" with CANCELLED, as a
// stopping gRPC server drops a call it received but had not yet started to serve.
class HoldingGate final : public upgrade::v1::UpgradeGate::Service {
 public:
  grpc::Status PassCheckpoint(grpc::ServerContext* context, const upgrade::v1::PassCheckpointRequest* request,
                              upgrade::v1::PassCheckpointResponse* response) override {
    if (request->upgrade_id() == "unknown") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no upgrade unknown");
    if (request->upgrade_id() == "dropped") return grpc::Status(grpc::StatusCode::CANCELLED, "CANCELLED");
    held_.Notify();
    while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    response->set_proceed(true);
    return grpc::Status::OK;
  }
  // Knows one order, "known", to request's database "acme".
  grpc::Status GetOrder(grpc::ServerContext*, const upgrade::v1::GetOrderRequest* request,
                        upgrade::v1::GetOrderResponse* response) override {
    if (request->upgrade_id() != "known") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no upgrade");
    response->mutable_order()->set_upgrade_id("known");
    response->mutable_order()->set_database("acme");
    response->mutable_order()->set_test_database("acme_test_0000");
    return grpc::Status::OK;
  }
  absl::Notification held_;
};

class GrpcGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<grpc::Server>> started = StartGrpcServer("127.0.0.1:0", {&service_}, grpc::InsecureServerCredentials(), &port_);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  HoldingGate service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(GrpcGateTest, ACallCutShortByRequestStoppingIsAskedAgainLater) {
  GrpcGate gate(absl::StrCat("127.0.0.1:", port_), absl::Seconds(30), grpc::InsecureChannelCredentials());
  std::future<absl::StatusOr<Passage>> passed =
      std::async(std::launch::async, [&] { return gate.Pass("held", upgrade::v1::CHECKPOINT_FINISH); });
  ASSERT_TRUE(service_.held_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  server_->Shutdown(std::chrono::system_clock::now());  // cancels the call in flight
  server_.reset();

  absl::StatusOr<Passage> got = passed.get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_TRUE(IsRetryable(got.status()));
}

TEST_F(GrpcGateTest, ACallDroppedByRequestStoppingIsAskedAgainLater) {
  GrpcGate gate(absl::StrCat("127.0.0.1:", port_), absl::Seconds(30), grpc::InsecureChannelCredentials());
  absl::StatusOr<Passage> got = gate.Pass("dropped", upgrade::v1::CHECKPOINT_BEGIN_MIGRATION);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_TRUE(IsRetryable(got.status()));
}

TEST_F(GrpcGateTest, AnAnswerOfRequestKeepsItsCode) {
  GrpcGate gate(absl::StrCat("127.0.0.1:", port_), absl::Seconds(30), grpc::InsecureChannelCredentials());
  absl::StatusOr<Passage> got = gate.Pass("unknown", upgrade::v1::CHECKPOINT_FINISH);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  EXPECT_EQ(got.status().message(), "no upgrade unknown");
  EXPECT_FALSE(IsRetryable(got.status()));
}

TEST_F(GrpcGateTest, TheAuthoritativeOrderIsRequestsAndARecordThatDisagreesIsRefused) {
  GrpcGate gate(absl::StrCat("127.0.0.1:", port_), absl::Seconds(30), grpc::InsecureChannelCredentials());
  upgrade::v1::Order claimed;
  claimed.set_upgrade_id("known");
  claimed.set_database("acme");
  claimed.set_test_database("acme_test_0000");
  absl::StatusOr<upgrade::v1::Order> got = AuthoritativeOrder(gate, claimed);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->test_database(), "acme_test_0000");

  claimed.set_test_database("globex");
  got = AuthoritativeOrder(gate, claimed);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(got.status().message().find("test_database: \"acme_test_0000\" -> \"globex\""), std::string::npos)
      << got.status();

  claimed.set_upgrade_id("unknown");
  got = AuthoritativeOrder(gate, claimed);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(IsRetryable(got.status()));
}

// Counts the orders it is asked for; knows "known" only, and is down when `down` is set.
class CountingGate final : public Gate {
 public:
  absl::StatusOr<Passage> Pass(const std::string&, upgrade::v1::Checkpoint) override {
    ++passes;
    return Passage{};
  }
  absl::StatusOr<upgrade::v1::Order> GetOrder(const std::string& upgrade_id) override {
    ++asked;
    if (down) return absl::UnavailableError("request is restarting");
    if (upgrade_id != "known" && upgrade_id != "other") return absl::NotFoundError("no such upgrade");
    upgrade::v1::Order order;
    order.set_upgrade_id(upgrade_id);
    return order;
  }
  int asked = 0, passes = 0;
  bool down = false;
};

TEST(CachingGate, AsksForAnOrderOnceAndKeepsAnsweringWhileRequestIsAway) {
  CountingGate request;
  CachingGate gate(request, /*capacity=*/1);
  ASSERT_TRUE(gate.GetOrder("known").ok());
  request.down = true;
  absl::StatusOr<upgrade::v1::Order> again = gate.GetOrder("known");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->upgrade_id(), "known");
  EXPECT_EQ(request.asked, 1);
  // Checkpoints are never cached; unknown upgrades are asked about again.
  ASSERT_TRUE(gate.Pass("known", upgrade::v1::CHECKPOINT_FINISH).ok());
  ASSERT_TRUE(gate.Pass("known", upgrade::v1::CHECKPOINT_FINISH).ok());
  EXPECT_EQ(request.passes, 2);
  request.down = false;
  EXPECT_EQ(gate.GetOrder("unknown").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gate.GetOrder("unknown").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(request.asked, 3);
  // Past its capacity the oldest order is asked for again.
  ASSERT_TRUE(gate.GetOrder("other").ok());
  ASSERT_TRUE(gate.GetOrder("known").ok());
  EXPECT_EQ(request.asked, 5);
}

}  // namespace
}  // namespace upshift
