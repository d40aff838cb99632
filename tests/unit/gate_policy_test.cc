// Who may ask request's gate for what (issue 20): the workers' certificates, each for its own work.

#include "services/request/gate_policy.h"

#include <gtest/gtest.h>

namespace upshift::request {
namespace {

using upgrade::v1::CHECKPOINT_BEGIN_MIGRATION;
using upgrade::v1::CHECKPOINT_FINISH;
using upgrade::v1::CHECKPOINT_TAKE_OFFLINE;

TEST(GatePolicy, ACertificateIsTheWorkerItsCommonNameOrOneOfItsNamesSays) {
  GatePolicy policy({{"upshift-cloner"}, {"upshift-migrator"}, {"upshift-status"}, {"upshift-notifier"}});
  EXPECT_EQ(*policy.Identify({"upshift-cloner"}), GateWorker::kCloner);
  EXPECT_EQ(*policy.Identify({"localhost", "127.0.0.1", "upshift-migrator"}), GateWorker::kMigrator);
}

TEST(GatePolicy, AnyOtherCertificateOfTheCaIsRefused) {
  GatePolicy policy(GateIdentities{});
  for (const std::vector<std::string>& names :
       {std::vector<std::string>{"request", "localhost"}, {"upshift-request"}, {"upshift-kafka"}, {}}) {
    absl::StatusOr<GateWorker> worker = policy.Identify(names);
    EXPECT_EQ(worker.status().code(), absl::StatusCode::kPermissionDenied) << worker.status();
  }
  // One certificate naming two services is neither.
  EXPECT_EQ(policy.Identify({"cloner", "migrator"}).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(policy.Identify({"upshift-status", "upshift-cloner"}).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(policy.Identify({"upshift-notifier", "upshift-status"}).status().code(), absl::StatusCode::kPermissionDenied);
}

// status and the notifier read orders there (an announcement that never reached them), and
// nothing else.
TEST(GatePolicy, StatusAndTheNotifierAreKnownButPassNoCheckpointAndClaimNoWork) {
  GatePolicy policy(GateIdentities{});
  EXPECT_EQ(*policy.Identify({"upshift-status", "localhost"}), GateWorker::kStatus);
  EXPECT_EQ(*policy.Identify({"upshift-notifier", "localhost"}), GateWorker::kNotifier);
  for (GateWorker reader : {GateWorker::kStatus, GateWorker::kNotifier}) {
    for (auto checkpoint : {CHECKPOINT_TAKE_OFFLINE, CHECKPOINT_BEGIN_MIGRATION, CHECKPOINT_FINISH}) {
      EXPECT_EQ(GatePolicy::MayPass(reader, checkpoint).code(), absl::StatusCode::kPermissionDenied);
    }
    for (const char* work : {"copy", "snapshot", "plan"}) {
      EXPECT_EQ(GatePolicy::MayClaim(reader, work).code(), absl::StatusCode::kPermissionDenied) << work;
    }
  }
  EXPECT_EQ(GatePolicy::MayClaim(GateWorker::kNotifier, "plan").message(),
            "the notifier may not claim \"plan\" work: it is the migrator's");
}

TEST(GatePolicy, EachWorkerPassesOnlyItsOwnCheckpoints) {
  EXPECT_TRUE(GatePolicy::MayPass(GateWorker::kCloner, CHECKPOINT_TAKE_OFFLINE).ok());
  EXPECT_TRUE(GatePolicy::MayPass(GateWorker::kMigrator, CHECKPOINT_BEGIN_MIGRATION).ok());
  EXPECT_TRUE(GatePolicy::MayPass(GateWorker::kMigrator, CHECKPOINT_FINISH).ok());
  EXPECT_EQ(GatePolicy::MayPass(GateWorker::kCloner, CHECKPOINT_BEGIN_MIGRATION).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(GatePolicy::MayPass(GateWorker::kCloner, CHECKPOINT_FINISH).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(GatePolicy::MayPass(GateWorker::kMigrator, CHECKPOINT_TAKE_OFFLINE).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(GatePolicy, EachWorkerClaimsOnlyItsOwnWork) {
  EXPECT_TRUE(GatePolicy::MayClaim(GateWorker::kCloner, "copy").ok());
  EXPECT_TRUE(GatePolicy::MayClaim(GateWorker::kCloner, "snapshot").ok());
  EXPECT_TRUE(GatePolicy::MayClaim(GateWorker::kMigrator, "plan").ok());
  EXPECT_EQ(GatePolicy::MayClaim(GateWorker::kCloner, "plan").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(GatePolicy::MayClaim(GateWorker::kMigrator, "copy").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(GatePolicy::MayClaim(GateWorker::kMigrator, "snapshot").code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace upshift::request
