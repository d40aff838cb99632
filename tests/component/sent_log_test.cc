// The notifier's record of what waits for an acceptance, on the real platform database: an
// acceptance that never came is taken from request's stored order (LateAcceptances), and what
// waited for it is emailed, each once.

#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "libs/common/time.h"
#include "libs/gate/late_acceptances.h"
#include "libs/kafka/events.h"
#include "libs/mail/outbox_mailer.h"
#include "services/notifier/notifier.h"
#include "services/notifier/pg_sent_log.h"
#include "tests/component/environment.h"
#include "tests/support/order_book_gate.h"
#include "tests/support/wait.h"

namespace upshift::notifier {
namespace {

using upshift::testing::Postgres;

int Emails(const std::string& dir) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) n += entry.path().extension() == ".eml";
  return n;
}

ConsumedRecord RecordOf(const upgrade::v1::Event& e, const std::string& topic) {
  ConsumedRecord r;
  r.topic = topic;
  r.key = e.order().database();
  r.payload = e.SerializeAsString();
  return r;
}

TEST(PgSentLogTest, AnEventKeptForALostAcceptanceIsEmailedWithItFromRequestsStoredOrder) {
  const std::string db = absl::StrCat("notifier_", NewUpgradeId().substr(0, 8));
  ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db).ok());
  absl::StatusOr<std::unique_ptr<PgSentLog>> log = PgSentLog::Open(Postgres().conninfo(db));
  ASSERT_TRUE(log.ok()) << log.status();
  const std::string outbox = upshift::testing::MakeTempDir("upshift-late-outbox");
  OutboxMailer mailer(outbox, "upgrades@upshift.test");
  Notifier notifier({}, mailer, **log);
  upgrade::v1::Order order;
  order.set_upgrade_id(NewUpgradeId());
  order.set_database("shop");
  order.set_tenant("acme");
  order.set_from_version("16.0");
  order.set_target_version("18.0");
  order.set_purpose(upgrade::v1::PURPOSE_TEST);
  order.set_notify_email("owner@shop.example.com");
  order.set_test_database("shop_test_1");
  ToProto(absl::Now() - absl::Minutes(1), order.mutable_created_at());
  upgrade::v1::Order never = order;
  never.set_upgrade_id(NewUpgradeId());
  upshift::testing::OrderBookGate gate;
  gate.orders[order.upgrade_id()] = order;
  for (const upgrade::v1::Order& about : {order, never}) {
    upgrade::v1::Event done = MakeEvent(about, "succeeded", "migrator", absl::Now());
    done.mutable_succeeded()->set_version("18.0");
    ASSERT_TRUE(notifier.Handle(RecordOf(done, "upgrade.events")).ok());
  }
  EXPECT_EQ(Emails(outbox), 0);
  // Kept since a moment ago: none within the wait, both once it is over, longest kept first.
  EXPECT_TRUE((*log)->AwaitingAcceptance(absl::Now() - absl::Seconds(10), 100)->empty());
  EXPECT_EQ(*(*log)->AwaitingAcceptance(absl::Now() + absl::Seconds(1), 100),
            (std::vector<std::string>{order.upgrade_id(), never.upgrade_id()}));
  EXPECT_EQ((*log)->AwaitingAcceptance(absl::Now() + absl::Seconds(1), 1)->size(), 1u);

  LateAcceptances late("notifier", notifier, gate, absl::Seconds(10));
  EXPECT_EQ(*late.Resolve(absl::Now()), 0);
  EXPECT_TRUE(gate.asked.empty());
  EXPECT_EQ(*late.Resolve(absl::Now() + absl::Seconds(11)), 1);
  EXPECT_EQ(Emails(outbox), 2);  // the acceptance's, then the success's
  // Nothing waits any more: that upgrade's event was emailed, the one never admitted forgotten.
  EXPECT_TRUE((*log)->AwaitingAcceptance(absl::Now() + absl::Seconds(1), 100)->empty());
  // request's record of the acceptance, late after all: nothing is sent again.
  ASSERT_TRUE(notifier.Handle(RecordOf(AcceptanceOf(order, FromProto(order.created_at())), "upgrade.orders")).ok());
  EXPECT_EQ(Emails(outbox), 2);
  EXPECT_EQ(*late.Resolve(absl::Now() + absl::Seconds(12)), 0);
  EXPECT_EQ(gate.asked[never.upgrade_id()], 1);
  EXPECT_EQ(gate.asked[order.upgrade_id()], 1);
  std::filesystem::remove_all(outbox);
}

}  // namespace
}  // namespace upshift::notifier
