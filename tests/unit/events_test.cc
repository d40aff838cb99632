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
