#include "services/notifier/notifier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/time.h"
#include "libs/kafka/events.h"

#include "tests/support/order_book_gate.h"
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
    if (unavailable_marks > 0) {
      --unavailable_marks;
      return absl::UnavailableError("database connection lost");
    }
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
  absl::Status Defer(const Event& e) override {
    for (const Event& p : pending) {
      if (p.event_id() == e.event_id()) return absl::OkStatus();
    }
    pending.push_back(e);
    kept_at.emplace(e.event_id(), absl::Now());
    return absl::OkStatus();
  }
  absl::Status ForgetHeld(const std::string& upgrade_id) override {
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [&](const Event& p) { return p.order().upgrade_id() == upgrade_id; }),
                  pending.end());
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time kept_before, int limit) override {
    std::vector<std::string> ids;
    for (const Event& p : pending) {
      const std::string& id = p.order().upgrade_id();
      if (kept_at.at(p.event_id()) < kept_before && std::find(ids.begin(), ids.end(), id) == ids.end() &&
          static_cast<int>(ids.size()) < limit) {
        ids.push_back(id);
      }
    }
    return ids;
  }
  absl::StatusOr<std::vector<Event>> Deferred(const std::string& upgrade_id) override {
    std::vector<Event> out;
    for (const Event& p : pending) {
      if (p.order().upgrade_id() == upgrade_id) out.push_back(p);
    }
    return out;
  }
  absl::Status ForgetDeferred(const std::string& event_id) override {
    pending.erase(std::remove_if(pending.begin(), pending.end(), [&](const Event& p) { return p.event_id() == event_id; }),
                  pending.end());
    return absl::OkStatus();
  }
  // Forgets every ended upgrade and kept event (the cutoffs are PgSentLog's to honour).
  absl::StatusOr<int> Prune(absl::Time, absl::Time, int batch) override {
    int n = static_cast<int>(pending.size());
    pending.clear();
    while (!ends_.empty() && n < batch) {
      orders.erase(ends_.begin()->first);
      ends_.erase(ends_.begin());
      ++n;
    }
    return n;
  }
  int unavailable_marks = 0;  // MarkSent fails this many times first
  std::set<std::string> ids;
  std::map<std::string, std::string> ends_;  // upgrade id -> the event that announced its end
  std::map<std::string, Order> orders;
  std::vector<Event> pending;
  std::map<std::string, absl::Time> kept_at;  // event id -> when it was deferred
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

// Issue 25: a scheduled upgrade is announced by its scheduling; its customer is emailed when it is
// scheduled, reminded, and told when it starts, each once, with the time and the downtime.
TEST(Notifier, AScheduledUpgradeIsAnnouncedRemindedAndStartedEachEmailedOnce) {
  FakeMailer mailer;
  FakeSentLog log;
  Notifier n({}, mailer, log);
  Order order = upshift::testing::SampleOrder(PURPOSE_PRODUCTION);
  order.mutable_not_before()->set_seconds(1'800'003'600);  // 2027-01-15 09:00 UTC
  order.mutable_estimated_downtime()->set_seconds(95);
  order.mutable_max_offline()->set_seconds(300);
  auto from_request = [&](const std::string& kind, const std::function<void(Event&)>& fill) {
    Event e;
    e.set_event_id(absl::StrCat(order.upgrade_id(), "/", kind));
    *e.mutable_order() = order;
    fill(e);
    return upshift::testing::RecordOf(e, "upgrade.orders");
  };
  ConsumedRecord scheduled = from_request("scheduled", [](Event& e) { e.mutable_scheduled(); });
  ASSERT_TRUE(n.Handle(scheduled).ok());
  ASSERT_TRUE(n.Handle(scheduled).ok());
  ASSERT_EQ(mailer.sent.size(), 1u);
  EXPECT_EQ(mailer.sent[0].subject, "Upgrade scheduled: acme to 18.0 (production) starts at 2027-01-15 09:00 UTC");
  EXPECT_THAT(mailer.sent[0].body, ::testing::HasSubstr("offline during the upgrade: about 1 min 35 s"));
  EXPECT_THAT(mailer.sent[0].body, ::testing::HasSubstr("upgradectl cancel " + order.upgrade_id()));
  ASSERT_TRUE(n.Handle(from_request("reminder", [](Event& e) {
                 e.mutable_reminder()->mutable_starts_in()->set_seconds(3600);
               })).ok());
  ASSERT_EQ(mailer.sent.size(), 2u);
  EXPECT_EQ(mailer.sent[1].subject, "Reminder: upgrade of acme to 18.0 (production) starts in 1 h 0 min");
  ASSERT_TRUE(n.Handle(from_request("accepted", [](Event& e) { e.mutable_accepted(); })).ok());
  ASSERT_EQ(mailer.sent.size(), 3u);
  EXPECT_THAT(mailer.sent[2].subject, ::testing::HasSubstr("Upgrade in progress: acme"));
}

// Issue 24: a Production upgrade's database is offline and its hosting server stops answering: the
// customer is told once, however many heartbeats say so; a wait before going offline, or for
// capacity, tells nobody.
TEST(Notifier, AnOfflineDatabaseWhoseServerIsAwayIsToldOnce) {
  FakeMailer mailer;
  FakeSentLog log;
  Notifier n({}, mailer, log);
  Order production = upshift::testing::SampleOrder();
  production.set_purpose(PURPOSE_PRODUCTION);
  production.mutable_estimated_downtime()->set_seconds(40);
  Event accepted;
  accepted.set_event_id(production.upgrade_id() + "/accepted");
  *accepted.mutable_order() = production;
  accepted.mutable_accepted();
  ASSERT_TRUE(n.Handle(upshift::testing::RecordOf(accepted, "upgrade.orders")).ok());
  auto beat = [&](int i, const std::string& working_on, const std::string& waiting_for) {
    return WorkerSays(absl::StrCat("heartbeat-", i), [&](Event& e) {
      e.mutable_heartbeat()->set_working_on(working_on);
      e.mutable_heartbeat()->set_waiting_for(waiting_for);
    }, production);
  };
  ASSERT_TRUE(n.Handle(beat(1, "accepted", "hosting server pg-2 does not answer")).ok());
  ASSERT_TRUE(n.Handle(beat(2, "snapshot_succeeded", "hosting server pg-2 runs 4 plans, its limit")).ok());
  ASSERT_EQ(mailer.sent.size(), 1u);  // the acceptance only
  for (int i = 3; i < 6; ++i) {
    ASSERT_TRUE(n.Handle(beat(i, "snapshot_succeeded", "hosting server pg-2 does not answer")).ok());
  }
  ASSERT_EQ(mailer.sent.size(), 2u);
  EXPECT_EQ(mailer.sent[1].subject, "Upgrade delayed: acme stays offline while its server is away");
  EXPECT_THAT(mailer.sent[1].body, ::testing::HasSubstr("Nothing is lost"));
  EXPECT_THAT(mailer.sent[1].body, ::testing::HasSubstr("longer than the 40 s we estimated"));
  EXPECT_EQ(mailer.sent[1].message_id, production.upgrade_id() + ".server_away@upshift");
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

// The platform database away between sending and recording delays the record; the email is not
// sent again (as it would be if the record were handled again).
TEST(Notifier, AnEmailSentWhileTheDatabaseIsAwayIsRecordedOnceItIsBackAndNotSentAgain) {
  FakeMailer mailer;
  FakeSentLog log;
  log.unavailable_marks = 3;
  Notifier n({}, mailer, log);
  EXPECT_TRUE(n.Handle(Accepted()).ok());
  EXPECT_EQ(mailer.sent.size(), 1u);
  EXPECT_EQ(log.ids.count("0f8fad5b-d9cb-469f-a165-70867728950e/accepted"), 1u);
  EXPECT_EQ(log.unavailable_marks, 0);
  // Away for longer than its patience: the record is handed back (to be handled again).
  NotifierOptions impatient;
  impatient.record_patience = absl::ZeroDuration();
  FakeSentLog away;
  away.unavailable_marks = 1000;
  Notifier m(impatient, mailer, away);
  EXPECT_EQ(m.Handle(Accepted()).code(), absl::StatusCode::kUnavailable);
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

// The topics are not ordered with each other: a worker's record may come ahead of the acceptance.
// It is kept, and emailed when the acceptance comes, if it carries the very order announced.
TEST(Notifier, ARecordAheadOfItsAcceptanceIsEmailedWhenItComes) {
  FakeMailer mailer;
  FakeSentLog log;
  upshift::testing::FakeClock clock;
  Notifier n({}, mailer, log, clock);
  ASSERT_TRUE(n.Handle(WorkerSays("succeeded", [](Event& e) { e.mutable_succeeded()->set_version("18.0"); })).ok());
  Order elsewhere = upshift::testing::SampleOrder();
  elsewhere.set_notify_email("victim@elsewhere.example.com");
  ASSERT_TRUE(n.Handle(WorkerSays("test_copy_expiring", [](Event& e) { e.mutable_test_copy_expiring(); }, elsewhere)).ok());
  EXPECT_TRUE(mailer.sent.empty());
  EXPECT_EQ(log.pending.size(), 2u);
  ASSERT_TRUE(n.Handle(Accepted()).ok());
  ASSERT_EQ(mailer.sent.size(), 2u);  // the acceptance's, then the success's; never the forgery's
  for (const Email& m : mailer.sent) EXPECT_EQ(m.to, "owner@acme.example.com");
  EXPECT_TRUE(log.pending.empty());
  // An acceptance that never comes: its records are forgotten with the retention.
  Order never = upshift::testing::SampleOrder();
  never.set_upgrade_id("6b2d1f0e-3c4a-4e5b-9f8a-7d6c5b4a3e2f");
  ASSERT_TRUE(n.Handle(WorkerSays("failed", [](Event& e) { e.mutable_failed()->set_error("x"); }, never)).ok());
  EXPECT_EQ(mailer.sent.size(), 2u);
  EXPECT_GE(*n.Prune(), 1);
  EXPECT_TRUE(log.pending.empty());
}

// The acceptance never reached the notifier (the fault suite saw it lost twice in one run): the
// success that waited for it is emailed once the wait is over, after the acceptance's own email,
// both to the address of request's stored order. The acceptance, late after all, sends nothing
// more; what waited for an upgrade request never admitted is forgotten, unsent.
TEST(Notifier, AnAcceptanceThatNeverCameIsTakenFromRequestsStoredOrder) {
  FakeMailer mailer;
  FakeSentLog log;
  Notifier n({}, mailer, log);
  upshift::testing::OrderBookGate gate;
  const Order order = upshift::testing::SampleOrder();
  gate.orders[order.upgrade_id()] = order;
  Order never = order;
  never.set_upgrade_id("6b2d1f0e-3c4a-4e5b-9f8a-7d6c5b4a3e2f");
  ASSERT_TRUE(n.Handle(WorkerSays("succeeded", [](Event& e) { e.mutable_succeeded()->set_version("18.0"); })).ok());
  ASSERT_TRUE(n.Handle(WorkerSays("failed", [](Event& e) { e.mutable_failed()->set_error("x"); }, never)).ok());
  LateAcceptances late("notifier", n, gate, absl::Seconds(10));
  EXPECT_EQ(*late.Resolve(absl::Now()), 0);  // within the wait: it may still come
  EXPECT_TRUE(gate.asked.empty());
  gate.away = true;
  EXPECT_EQ(late.Resolve(absl::Now() + absl::Seconds(11)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(mailer.sent.empty());
  gate.away = false;
  EXPECT_EQ(*late.Resolve(absl::Now() + absl::Seconds(11)), 1);
  ASSERT_EQ(mailer.sent.size(), 2u);
  EXPECT_EQ(mailer.sent[0].subject, "Upgrade in progress: acme to 18.0 (test)");
  EXPECT_EQ(mailer.sent[1].subject, "Your test database is ready: acme_test_0f8fad5b");
  for (const Email& m : mailer.sent) EXPECT_EQ(m.to, "owner@acme.example.com");
  ASSERT_TRUE(n.Handle(Accepted()).ok());
  EXPECT_EQ(mailer.sent.size(), 2u);
  EXPECT_EQ(*late.Resolve(absl::Now() + absl::Seconds(12)), 0);
  EXPECT_EQ(gate.asked[never.upgrade_id()], 1);  // refused once: nothing of it is held any more
  EXPECT_EQ(gate.asked[order.upgrade_id()], 2);  // once while request was away, once answered
  EXPECT_TRUE(log.pending.empty());  // the refused upgrade's record forgotten, not kept for a day
  EXPECT_EQ(mailer.sent.size(), 2u);
}

// An order scheduled for later whose announcement was lost: what waited (its reminder) goes out
// after the scheduling's own email, not after an "in progress" one.
TEST(Notifier, ALostSchedulingIsTakenAsTheScheduling) {
  FakeMailer mailer;
  FakeSentLog log;
  Notifier n({}, mailer, log);
  upshift::testing::OrderBookGate gate;
  Order order = upshift::testing::SampleOrder();
  ToProto(absl::Now() + absl::Hours(48), order.mutable_not_before());
  gate.orders[order.upgrade_id()] = order;
  ASSERT_TRUE(n.Handle(upshift::testing::RecordOf(
                           [&] {
                             Event e = MakeEvent(order, "reminder", "request", absl::Now());
                             ToProto(absl::Hours(24), e.mutable_reminder()->mutable_starts_in());
                             return e;
                           }(),
                           "upgrade.orders"))
                  .ok());
  LateAcceptances late("notifier", n, gate, absl::Seconds(10));
  EXPECT_EQ(*late.Resolve(absl::Now() + absl::Seconds(11)), 1);
  ASSERT_EQ(mailer.sent.size(), 2u);
  EXPECT_TRUE(absl::StartsWith(mailer.sent[0].subject, "Upgrade scheduled: acme")) << mailer.sent[0].subject;
  EXPECT_TRUE(absl::StartsWith(mailer.sent[1].subject, "Reminder: upgrade of acme")) << mailer.sent[1].subject;
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
