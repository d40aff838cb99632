#include "libs/gate/grpc_gate.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/common/grpc_util.h"
#include "libs/common/retry.h"
#include "libs/gate/work_claim.h"
#include "tests/unit/fakes.h"
#include "upgrade/v1/gate.grpc.pb.h"

namespace upshift {
namespace {

// Before any gRPC object, as every service does (libs/runtime): reconnections move at once.
const bool kPromptReconnects = (PromptReconnects(), true);

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

// gRPC backs off a channel's reconnections (1 s, then 1.6 s, 2.6 s ... up to 2 min) and fails
// every call at once meanwhile. The worker's retries are paced already: a request replica back
// after an outage is reached by the next one, not once the channel's backoff has run out.
TEST_F(GrpcGateTest, RequestBackAfterAnOutageIsReachedByTheNextCallsNotAfterTheChannelsBackoff) {
  GrpcGate gate(absl::StrCat("127.0.0.1:", port_), absl::Seconds(30), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(gate.GetOrder("known").ok());
  server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<upgrade::v1::Order> got = gate.GetOrder("known");
    ASSERT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  }
  int port = port_;
  absl::StatusOr<std::unique_ptr<grpc::Server>> back = StartGrpcServer(
      absl::StrCat("127.0.0.1:", port_), {&service_}, grpc::InsecureServerCredentials(), &port);
  ASSERT_TRUE(back.ok()) << back.status();
  server_ = *std::move(back);
  // A call may still find the channel failed (its last attempt was refused just before the server
  // came back): it starts a new connection, which a later call rides. Ten calls 20 ms apart end
  // well inside the channel's own 1 s backoff, which would fail them all.
  absl::StatusOr<upgrade::v1::Order> got = gate.GetOrder("known");
  for (int i = 0; i < 10 && !got.ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    got = gate.GetOrder("known");
  }
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->database(), "acme");
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
  // Asked every time: a state is never cached.
  absl::StatusOr<OrderState> GetState(const std::string&) override {
    ++states;
    return OrderState{true, false, false};
  }
  // Grants `holder`'s claims until `refuse_renewals`; then answers that "thief" holds them.
  absl::StatusOr<ClaimAnswer> Claim(const std::string&, const std::string&, const std::string& holder,
                                    absl::Duration ttl, bool resumes) override {
    ++claims;
    (resumes ? resumed : waited) += 1;
    if (!resumes && claims <= full_for) return ClaimAnswer{false, "", {}, false, "hosting server pg-1 runs 2 copies"};
    if (refuse_renewals && claims > 1) return ClaimAnswer{false, "thief", absl::Now() + ttl};
    return ClaimAnswer{true, holder, absl::Now() + ttl};
  }
  absl::Status Release(const std::string&, const std::string&, const std::string&, bool) override {
    ++releases;
    return absl::OkStatus();
  }
  int asked = 0, passes = 0, states = 0;
  std::atomic<int> claims{0}, releases{0};
  bool down = false;
  bool refuse_renewals = false;
  int full_for = 0;  // the first claims find the server's capacity taken
  std::atomic<int> resumed{0}, waited{0};  // claims that may not wait for capacity, and those that may
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
  // Nor is where an order stands.
  ASSERT_TRUE(gate.GetState("known").ok());
  ASSERT_TRUE(gate.GetState("known").ok());
  EXPECT_EQ(request.states, 2);
  request.down = false;
  EXPECT_EQ(gate.GetOrder("unknown").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gate.GetOrder("unknown").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(request.asked, 3);
  // Past its capacity the oldest order is asked for again.
  ASSERT_TRUE(gate.GetOrder("other").ok());
  ASSERT_TRUE(gate.GetOrder("known").ok());
  EXPECT_EQ(request.asked, 5);
}

// Issue 24: a claim on a full server waits, saying once what for, and is granted once a place is
// free; a replica that stops meanwhile leaves; work that resumes, and every renewal, never waits.
TEST(WorkClaim, WaitsForItsServersCapacitySayingWhatForAndRenewalsNeverWait) {
  CountingGate gate;
  gate.full_for = 2;
  std::vector<std::string> said;
  absl::StatusOr<std::unique_ptr<WorkClaim>> held = WorkClaim::Take(
      gate, "u1", "copy", {"cloner/a/1/000001", absl::Milliseconds(30)},
      {false, [&](const std::string& waiting_for) { said.push_back(waiting_for); }});
  ASSERT_TRUE(held.ok() && *held != nullptr) << held.status();
  EXPECT_EQ(said, std::vector<std::string>{"hosting server pg-1 runs 2 copies"});
  EXPECT_EQ(gate.claims, 3);
  // Renewals (every third of the ttl) keep the place: they never wait.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (gate.resumed < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_GE(gate.resumed, 1);
  EXPECT_EQ(gate.waited, 3);
  held->reset();

  CountingGate full;
  full.full_for = 1000;
  StopToken stopping;
  stopping.Stop();
  absl::Status left = WorkClaim::Take(full, "u2", "copy", {"cloner/a/1/000001", absl::Seconds(30), &stopping}).status();
  EXPECT_EQ(left.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(left.message().find("waits elsewhere"), std::string::npos) << left;
  // A restore point resuming after its database went offline takes its place at once.
  absl::StatusOr<std::unique_ptr<WorkClaim>> resumed =
      WorkClaim::Take(full, "u3", "snapshot", {"cloner/a/1/000001", absl::Seconds(30)}, {true, nullptr});
  ASSERT_TRUE(resumed.ok() && *resumed != nullptr) << resumed.status();
}

TEST(WorkClaim, ASecondReplicaIsRefusedWhileTheFirstHoldsTheClaimAndTakesItOnceReleased) {
  testing::FakeGate gate;
  ClaimOptions first{"migrator/a/1/000001", absl::Seconds(30)};
  ClaimOptions second{"migrator/b/2/000002", absl::Seconds(30)};
  absl::StatusOr<std::unique_ptr<WorkClaim>> held = WorkClaim::Take(gate, "u1", "plan", first);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_TRUE((*held)->Held().ok());
  absl::StatusOr<std::unique_ptr<WorkClaim>> refused = WorkClaim::Take(gate, "u1", "plan", second);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);  // retried by the consumer
  EXPECT_TRUE(IsRetryable(refused.status()));
  EXPECT_NE(refused.status().message().find("claimed by migrator/a/1/000001"), std::string::npos) << refused.status();
  // Another piece of work, or another upgrade, is not held.
  EXPECT_TRUE(WorkClaim::Take(gate, "u1", "copy", second).ok());
  EXPECT_TRUE(WorkClaim::Take(gate, "u2", "plan", second).ok());
  held->reset();  // the first replica stopped before the end (UNAVAILABLE, or SIGTERM): released
  absl::StatusOr<std::unique_ptr<WorkClaim>> taken = WorkClaim::Take(gate, "u1", "plan", second);
  ASSERT_TRUE(taken.ok() && *taken != nullptr);
  (*taken)->Done();  // the plan ended, and its outcome was announced
  taken->reset();
  // Whoever is handed the record again from now on has nothing left to do.
  for (const ClaimOptions& replica : {first, second}) {
    absl::StatusOr<std::unique_ptr<WorkClaim>> again = WorkClaim::Take(gate, "u1", "plan", replica);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, nullptr);
  }
}

TEST(WorkClaim, IsRenewedWhileHeldAndSaysSoOnceARenewalFindsItTaken) {
  CountingGate gate;
  {
    absl::StatusOr<std::unique_ptr<WorkClaim>> claim =
        WorkClaim::Take(gate, "u1", "plan", {"migrator/a/1/000001", absl::Milliseconds(30)});
    ASSERT_TRUE(claim.ok());
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (gate.claims < 4 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    EXPECT_GE(gate.claims, 4);  // renewed every 10 ms
    EXPECT_TRUE((*claim)->Held().ok());
  }
  EXPECT_EQ(gate.releases, 1);
  gate.claims = 0;
  gate.refuse_renewals = true;
  absl::StatusOr<std::unique_ptr<WorkClaim>> claim =
      WorkClaim::Take(gate, "u1", "plan", {"migrator/a/1/000001", absl::Milliseconds(30)});
  ASSERT_TRUE(claim.ok());
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*claim)->Held().ok() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  absl::Status held = (*claim)->Held();
  EXPECT_EQ(held.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(held.message().find("lost to another replica"), std::string::npos) << held;
  claim->reset();
  EXPECT_EQ(gate.releases, 1);  // a lost claim is not released: it is another's
}

}  // namespace
}  // namespace upshift

namespace upshift {
namespace {

// What a call to the reflection service answers on a server started now (empty request, one answer).
grpc::StatusCode ReflectionAnswer() {
  int port = 0;
  upgrade::v1::UpgradeGate::Service gate;  // a service of our own beside it
  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      StartGrpcServer("127.0.0.1:0", {&gate}, grpc::InsecureServerCredentials(), &port);
  if (!server.ok()) return grpc::StatusCode::INTERNAL;
  grpc::GenericStub stub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer request, response;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status s) { done.set_value(s); });
  grpc::Status answer = done.get_future().get();
  grpc::StatusCode code = answer.error_code();
  (*server)->Shutdown(std::chrono::system_clock::now());
  return code;
}

// The workers' health port serves gRPC's health service alone: without reflection to fill it, the
// server still starts and answers unknown methods UNIMPLEMENTED.
TEST(StartGrpcServer, AServerWithOnlyTheHealthServiceStarts) {
  int port = 0;
  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      StartGrpcServer("127.0.0.1:0", {}, grpc::InsecureServerCredentials(), &port);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_NE((*server)->GetHealthCheckService(), nullptr);
  (*server)->Shutdown(std::chrono::system_clock::now());
}

// Reflection answers anyone, token or not: it is off unless an operator turns it on.
TEST(ServerReflection, IsOffUnlessTurnedOn) {
  EXPECT_EQ(ReflectionAnswer(), grpc::StatusCode::UNIMPLEMENTED);
  EnableServerReflection();
  EXPECT_NE(ReflectionAnswer(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace upshift
