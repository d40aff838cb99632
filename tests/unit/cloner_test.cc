#include "services/cloner/cloner.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/unit/fakes.h"

namespace upshift::cloner {
namespace {

using namespace upgrade::v1;
using upshift::testing::FakeClock;
using upshift::testing::FakeHosting;
using upshift::testing::FakePublisher;
using upshift::testing::SampleOrder;

class FakeCloneStore final : public CloneStore {
 public:
  absl::StatusOr<std::optional<CloneSucceeded>> Find(const std::string& id) override {
    auto it = clones.find(id);
    if (it == clones.end()) return std::nullopt;
    return it->second;
  }
  absl::Status Save(const std::string& id, const std::string&, const CloneSucceeded& r) override {
    clones.emplace(id, r);
    return absl::OkStatus();
  }
  absl::Status RecordDrop(const std::string& id, const std::string& db, const std::string&) override {
    drops.push_back(db);
    return absl::OkStatus();
  }
  std::map<std::string, CloneSucceeded> clones;
  std::vector<std::string> drops;
};

class ClonerTest : public ::testing::Test {
 protected:
  ClonerTest() { hosting_.dbs["acme"] = {"16.0", {{"public.a", 3}, {"public.b", 7}}, false, true}; }
  Cloner Make(CloneMethod method = CloneMethod::kAuto) {
    return Cloner({method, "file_copy"}, hosting_, store_, publisher_, clock_);
  }
  FakeHosting hosting_;
  FakeCloneStore store_;
  FakePublisher publisher_;
  FakeClock clock_;
};

TEST_F(ClonerTest, CopiesWithATemplateAndAnnouncesEqualRowCounts) {
  ASSERT_TRUE(Make().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(hosting_.calls, (std::vector<std::string>{"template acme_test_0f8fad5b"}));
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].has_clone_started());
  ASSERT_TRUE(events[1].has_clone_succeeded());
  ASSERT_EQ(events[1].clone_succeeded().copy_rows_size(), 2);
  EXPECT_EQ(events[1].clone_succeeded().copy_rows(1).rows(), 7);
  EXPECT_EQ(store_.clones.size(), 1u);
}

TEST_F(ClonerTest, ARedeliveredOrderRepublishesTheResultWithoutCopyingAgain) {
  ASSERT_TRUE(Make().OnAccepted(SampleOrder()).ok());
  hosting_.calls.clear();
  publisher_.records.clear();
  ASSERT_TRUE(Make().OnAccepted(SampleOrder()).ok());
  EXPECT_TRUE(hosting_.calls.empty());
  auto events = publisher_.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].has_clone_succeeded());
}

TEST_F(ClonerTest, ALeftoverCopyFromACrashedAttemptIsReplaced) {
  hosting_.dbs["acme_test_0f8fad5b"] = {"16.0", {{"public.a", 1}}, false, true};
  ASSERT_TRUE(Make().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(hosting_.calls, (std::vector<std::string>{"template acme_test_0f8fad5b", "drop acme_test_0f8fad5b",
                                                      "template acme_test_0f8fad5b"}));
  EXPECT_TRUE(publisher_.Events().back().has_clone_succeeded());
  EXPECT_EQ(hosting_.dbs["acme_test_0f8fad5b"].rows.at("public.b"), 7);
}

TEST_F(ClonerTest, ASourceInUseIsCopiedByDumpInAutoMode) {
  hosting_.dbs["acme"].busy = true;
  ASSERT_TRUE(Make().OnAccepted(SampleOrder()).ok());
  EXPECT_EQ(hosting_.calls.back(), "dump acme_test_0f8fad5b");
  EXPECT_TRUE(publisher_.Events().back().has_clone_succeeded());
}

TEST_F(ClonerTest, ASourceInUseFailsTheUpgradeInTemplateMode) {
  hosting_.dbs["acme"].busy = true;
  ASSERT_TRUE(Make(CloneMethod::kTemplate).OnAccepted(SampleOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_EQ(last.failed().phase(), "clone");
}

TEST_F(ClonerTest, ACopyThatDiffersFromItsSourceIsDroppedAndTheUpgradeFails) {
  hosting_.corrupt_copies = true;
  ASSERT_TRUE(Make().OnAccepted(SampleOrder()).ok());
  Event last = publisher_.Events().back();
  ASSERT_TRUE(last.has_failed());
  EXPECT_TRUE(absl::StrContains(last.failed().error(), "public.a")) << last.failed().error();
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
  EXPECT_TRUE(store_.clones.empty());
}

TEST_F(ClonerTest, AnUnreachableServerIsRetried) {
  hosting_.down = absl::UnavailableError("down");
  EXPECT_EQ(Make().OnAccepted(SampleOrder()).code(), absl::StatusCode::kUnavailable);
  for (const Event& e : publisher_.Events()) EXPECT_FALSE(e.has_failed());
}

TEST_F(ClonerTest, AFailedTestsCopyIsDroppedAndRecorded) {
  ASSERT_TRUE(Make().OnAccepted(SampleOrder()).ok());
  ASSERT_TRUE(Make().OnFailed(SampleOrder()).ok());
  EXPECT_EQ(hosting_.dbs.count("acme_test_0f8fad5b"), 0u);
  EXPECT_EQ(store_.drops, (std::vector<std::string>{"acme_test_0f8fad5b"}));
}

TEST_F(ClonerTest, ProductionOrdersAreNotCopied) {
  Event e;
  e.set_event_id("0f8fad5b-d9cb-469f-a165-70867728950e/accepted");
  *e.mutable_order() = SampleOrder(PURPOSE_PRODUCTION);
  e.mutable_accepted();
  ASSERT_TRUE(Make().Handle(upshift::testing::RecordOf(e, "upgrade.orders")).ok());
  EXPECT_TRUE(hosting_.calls.empty());
}

}  // namespace
}  // namespace upshift::cloner
