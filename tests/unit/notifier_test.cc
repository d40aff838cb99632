#include "services/notifier/notifier.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/unit/fakes.h"

namespace upshift::notifier {
namespace {

using namespace upgrade::v1;

class FakeMailer final : public Mailer {
 public:
  absl::Status Send(const Email& email) override {
    if (!fail_with.ok()) return fail_with;
    sent.push_back(email);
    return absl::OkStatus();
  }
  std::vector<Email> sent;
  absl::Status fail_with;
};

class FakeSentLog final : public SentLog {
 public:
  absl::StatusOr<bool> WasSent(const std::string& id) override { return ids.count(id) > 0; }
  absl::Status MarkSent(const std::string& id, const std::string&, const std::string&, const std::string&) override {
    ids.insert(id);
    return absl::OkStatus();
  }
  std::set<std::string> ids;
};

ConsumedRecord Accepted() {
  Event e;
  e.set_event_id("0f8fad5b-d9cb-469f-a165-70867728950e/accepted");
  *e.mutable_order() = upshift::testing::SampleOrder();
  e.mutable_accepted();
  return upshift::testing::RecordOf(e, "upgrade.orders");
}

TEST(Notifier, EmailsOncePerEventWhateverIsRedelivered) {
  FakeMailer mailer;
  FakeSentLog log;
  Notifier n({}, mailer, log);
  ASSERT_TRUE(n.Handle(Accepted()).ok());
  ASSERT_TRUE(n.Handle(Accepted()).ok());
  ASSERT_EQ(mailer.sent.size(), 1u);
  EXPECT_EQ(mailer.sent[0].to, "owner@acme.example.com");
}

TEST(Notifier, AnSmtpOutageIsRetriedAndNothingIsMarkedSent) {
  FakeMailer mailer;
  FakeSentLog log;
  mailer.fail_with = absl::UnavailableError("connection refused");
  Notifier n({}, mailer, log);
  EXPECT_EQ(n.Handle(Accepted()).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(log.ids.empty());
  mailer.fail_with = absl::OkStatus();
  EXPECT_TRUE(n.Handle(Accepted()).ok());
  EXPECT_EQ(mailer.sent.size(), 1u);
}

TEST(Notifier, AnEventWithABadAddressIsPermanent) {
  FakeMailer mailer;
  FakeSentLog log;
  Notifier n({}, mailer, log);
  Event e;
  e.set_event_id("0f8fad5b-d9cb-469f-a165-70867728950e/accepted");
  *e.mutable_order() = upshift::testing::SampleOrder();
  e.mutable_order()->set_notify_email("x@y\r\nBcc: z@example.com");
  e.mutable_accepted();
  EXPECT_EQ(n.Handle(upshift::testing::RecordOf(e)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(mailer.sent.empty());
}

}  // namespace
}  // namespace upshift::notifier
