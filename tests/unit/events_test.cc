#include "libs/kafka/events.h"

#include <gtest/gtest.h>

#include "tests/unit/fakes.h"

namespace upshift {
namespace {

using upshift::testing::RecordOf;
using upshift::testing::SampleOrder;

upgrade::v1::Event Accepted() {
  upgrade::v1::Event e;
  e.set_event_id("0f8fad5b-d9cb-469f-a165-70867728950e/accepted");
  *e.mutable_order() = SampleOrder();
  e.mutable_accepted();
  return e;
}

TEST(ParseEvent, AWellFormedEventParses) { EXPECT_TRUE(ParseEvent(RecordOf(Accepted())).ok()); }

// Issue 20: each kind of event is said by the service whose work it reports, and no other: a
// record whose signer may not say it is refused, whoever's key signed it validly.
TEST(ParseEvent, AnEventSignedByAServiceThatMayNotSayItIsRefused) {
  auto signed_by = [](const std::string& signer, const std::function<void(upgrade::v1::Event&)>& kind) {
    upgrade::v1::Event e = Accepted();
    kind(e);
    ConsumedRecord r = RecordOf(e);
    r.signer = signer;
    return ParseEvent(r).status().code();
  };
  using E = upgrade::v1::Event;
  const std::vector<std::pair<std::string, std::function<void(E&)>>> kinds = {
      {"request", [](E& e) { e.mutable_accepted(); }},
      {"request", [](E& e) { e.mutable_cancel_requested(); }},
      {"request", [](E& e) { e.mutable_test_copy_extended(); }},
      {"cloner", [](E& e) { e.mutable_clone_succeeded(); }},
      {"cloner", [](E& e) { e.mutable_snapshot_succeeded(); }},
      {"cloner", [](E& e) { e.mutable_rolled_back(); }},
      {"cloner", [](E& e) { e.mutable_test_copy_dropped(); }},
      {"migrator", [](E& e) { e.mutable_migrated(); }},
      {"migrator", [](E& e) { e.mutable_migration_failed(); }},
      {"migrator", [](E& e) { e.mutable_step_applied(); }},
  };
  for (const auto& [owner, kind] : kinds) {
    for (const std::string signer : {"request", "cloner", "migrator", "status", "notifier"}) {
      EXPECT_EQ(signed_by(signer, kind), signer == owner ? absl::StatusCode::kOk : absl::StatusCode::kPermissionDenied)
          << signer << " saying what " << owner << " says";
    }
  }
  for (const std::string signer : {"cloner", "migrator"}) {
    EXPECT_TRUE(MaySay(signer, E::kFailed).ok());
    EXPECT_TRUE(MaySay(signer, E::kHeartbeat).ok());
  }
  absl::Status refused = MaySay("request", E::kFailed);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.message(), "a failed event signed by request: only cloner or migrator may say it");
  // Without signatures (--insecure_unsigned_records) there is no signer to check.
  EXPECT_EQ(signed_by("", [](E& e) { e.mutable_migrated(); }), absl::StatusCode::kOk);
}

TEST(ParseEvent, EveryFieldFromOutsideIsBoundedAndValidated) {
  std::vector<std::pair<std::string, std::function<void(upgrade::v1::Event&)>>> bad = {
      {"long event id", [](upgrade::v1::Event& e) { e.set_event_id(std::string(201, 'x')); }},
      {"long source", [](upgrade::v1::Event& e) { e.set_source(std::string(201, 'x')); }},
      {"restore point with sql", [](upgrade::v1::Event& e) { e.mutable_order()->set_restore_point("a; DROP DATABASE b"); }},
      {"bad version", [](upgrade::v1::Event& e) { e.mutable_order()->set_target_version("18.0'; --"); }},
      {"email with a header", [](upgrade::v1::Event& e) { e.mutable_order()->set_notify_email("a@b.example\r\nBcc: c@d"); }},
      {"bad request id", [](upgrade::v1::Event& e) { e.mutable_order()->set_request_id("id with spaces"); }},
      {"bad test upgrade id", [](upgrade::v1::Event& e) { e.mutable_order()->set_test_upgrade_id("nope"); }},
  };
  for (const auto& [what, change] : bad) {
    upgrade::v1::Event e = Accepted();
    change(e);
    EXPECT_EQ(ParseEvent(RecordOf(e)).status().code(), absl::StatusCode::kInvalidArgument) << what;
  }
  ConsumedRecord huge = RecordOf(Accepted());
  huge.payload.append(5 << 20, '\0');
  absl::Status too_big = ParseEvent(huge).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.message().find("4 MiB"), std::string::npos) << too_big;
}

TEST(AgreesWithStoredOrder, NamesTheFirstFieldThatDiffers) {
  upgrade::v1::Order stored = SampleOrder();
  EXPECT_TRUE(AgreesWithStoredOrder(stored, stored).ok());
  upgrade::v1::Order claimed = stored;
  claimed.set_test_database("globex");
  absl::Status s = AgreesWithStoredOrder(stored, claimed);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("test_database"), std::string::npos) << s;
}

}  // namespace
}  // namespace upshift
