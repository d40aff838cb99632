#include "services/notifier/notifier.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include "absl/strings/str_cat.h"
#include "libs/common/time.h"

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
  absl::Status MarkSent(const std::string& id, const std::string& upgrade_id, const std::string&, const std::string&,
                        bool ends) override {
    ids.insert(id);
    if (ends) ends_.emplace(upgrade_id, id);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> EndAnnounced(const std::string& upgrade_id) override {
    auto it = ends_.find(upgrade_id);
    if (it == ends_.end()) return std::nullopt;
    return it->second;
  }
  absl::Status RememberOrder(const Order& order) override {
    orders.emplace(order.upgrade_id(), order);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Order>> RememberedOrder(const std::string& upgrade_id) override {
    auto it = orders.find(upgrade_id);
    if (it == orders.end()) return std::nullopt;
    return it->second;
  }
  // Forgets every ended upgrade (the cutoff is PgSentLog's to honour; its own test checks it).
  absl::StatusOr<int> Prune(absl::Time, int batch) override {
    int n = 0;
    while (!ends_.empty() && n < batch) {
      orders.erase(ends_.begin()->first);
      ends_.erase(ends_.begin());
      ++n;
    }
    return n;
  }
  std::set<std::string> ids;
  std::map<std::string, std::string> ends_;  // upgrade id -> the event that announced its end
  std::map<std::string, Order> orders;
};

ConsumedRecord WorkerSays(const std::string& kind, const std::function<void(Event&)>& fill,
                          const Order& order = upshift::testing::SampleOrder()) {
  Event e;
  e.set_event_id(absl::StrCat(order.upgrade_id(), "/", kind));
  *e.mutable_order() = order;
  fill(e);
  return upshift::testing::RecordOf(e);
}

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

// A worker's record carries the order; the email goes by request's acceptance, never by the record.
TEST(Notifier, AWorkersRecordWhoseOrderDiffersFromTheAcceptanceSendsNothing) {
  FakeMailer mailer;
  FakeSentLog log;
  upshift::testing::FakeClock clock;
  Notifier n({}, mailer, log, clock);
  ASSERT_TRUE(n.Handle(Accepted()).ok());
  Order elsewhere = upshift::testing::SampleOrder();
  elsewhere.set_notify_email("victim@elsewhere.example.com");
  absl::Status refused = n.Handle(WorkerSays("failed", [](Event& e) { e.mutable_failed()->set_error("x"); }, elsewhere));
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_EQ(mailer.sent.size(), 1u);  // the acceptance's only
  ASSERT_TRUE(n.Handle(WorkerSays("failed", [](Event& e) { e.mutable_failed()->set_error("x"); })).ok());
  ASSERT_EQ(mailer.sent.size(), 2u);
  EXPECT_EQ(mailer.sent[1].to, "owner@acme.example.com");
}

TEST(Notifier, ARecordAheadOfItsAcceptanceWaitsForItThenIsRefused) {
  FakeMailer mailer;
  FakeSentLog log;
  upshift::testing::FakeClock clock;
  clock.now = FromProto(upshift::testing::SampleOrder().created_at()) + absl::Seconds(5);
  Notifier n({}, mailer, log, clock);
  ConsumedRecord succeeded = WorkerSays("succeeded", [](Event& e) { e.mutable_succeeded()->set_version("18.0"); });
  EXPECT_EQ(n.Handle(succeeded).code(), absl::StatusCode::kUnavailable);  // retried: the acceptance is late
  clock.now += absl::Minutes(10);
  EXPECT_EQ(n.Handle(succeeded).code(), absl::StatusCode::kPermissionDenied);  // request never announced it
  EXPECT_TRUE(mailer.sent.empty());
  // Once announced, the same record is emailed.
  ASSERT_TRUE(n.Handle(Accepted()).ok());
  ASSERT_TRUE(n.Handle(succeeded).ok());
  EXPECT_EQ(mailer.sent.size(), 2u);
}

TEST(Notifier, AnUpgradeEndsOnceAndIsForgottenAfterItsRetention) {
  FakeMailer mailer;
  FakeSentLog log;
  upshift::testing::FakeClock clock;
  Notifier n({}, mailer, log, clock);
  ASSERT_TRUE(n.Handle(Accepted()).ok());
  ConsumedRecord succeeded = WorkerSays("succeeded", [](Event& e) { e.mutable_succeeded()->set_version("18.0"); });
  ASSERT_TRUE(n.Handle(succeeded).ok());
  ASSERT_TRUE(n.Handle(succeeded).ok());  // redelivered: nothing more
  absl::Status second = n.Handle(WorkerSays("failed", [](Event& e) { e.mutable_failed()->set_error("forged"); }));
  EXPECT_EQ(second.code(), absl::StatusCode::kPermissionDenied) << second;
  EXPECT_THAT(std::string(second.message()), ::testing::HasSubstr("announced already"));
  EXPECT_EQ(mailer.sent.size(), 2u);
  EXPECT_EQ(*n.Prune(), 1);
  EXPECT_TRUE(log.orders.empty());
}

}  // namespace
}  // namespace upshift::notifier
