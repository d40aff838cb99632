// PgOrderStore against real PostgreSQL.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/ids.h"
#include "libs/common/time.h"
#include "services/request/pg_order_store.h"
#include "libs/pg/pool.h"
#include "services/request/pg_rate_limiter.h"
#include "tests/component/environment.h"
#include "tests/support/commit_cutter.h"
#include "tests/support/wait.h"

namespace upshift::request {
namespace {

using upshift::testing::Postgres;

class OrderStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = absl::StrCat("orders_", NewUpgradeId().substr(0, 8));
    ASSERT_TRUE(Postgres().Exec("postgres", "CREATE DATABASE " + db_).ok());
    auto store = PgOrderStore::Open(Postgres().conninfo(db_), 4);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  upgrade::v1::Order NewOrder(const std::string& database, const std::string& request_id = "",
                              const std::string& tenant = "acme_owner") {
    upgrade::v1::Order o;
    o.set_upgrade_id(NewUpgradeId());
    o.set_tenant(tenant);
    o.set_database(database);
    o.set_from_version("16.0");
    o.set_target_version("18.0");
    o.set_purpose(upgrade::v1::PURPOSE_TEST);
    o.set_notify_email("a@example.com");
    o.set_request_id(request_id);
    o.set_test_database(TestDatabaseName(database, o.upgrade_id()));
    ToProto(absl::Now(), o.mutable_created_at());
    return o;
  }

  std::string db_;
  std::unique_ptr<PgOrderStore> store_;
};

// Workers compare every record with the stored order field by field: it comes back exactly as admitted.
TEST_F(OrderStoreTest, TheStoredOrderIsTheAdmittedOneToTheNanosecond) {
  upgrade::v1::Order o = NewOrder("acme");
  o.set_purpose(upgrade::v1::PURPOSE_PRODUCTION);
  o.set_test_database("");
  o.set_restore_point(RestorePointName("acme", o.upgrade_id()));
  o.mutable_created_at()->set_nanos(123456789);
  o.mutable_estimated_downtime()->set_seconds(3);
  o.mutable_estimated_downtime()->set_nanos(987654321);
  o.set_test_upgrade_id(NewUpgradeId());
  ASSERT_TRUE(store_->Admit(o, {"upgrade.orders", "acme", "x"}, nullptr).ok());
  auto found = store_->FindByUpgradeId(o.upgrade_id());
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->order.SerializeAsString(), o.SerializeAsString()) << (*found)->order.DebugString();
}

TEST_F(OrderStoreTest, ATestsTimingsAreRecordedPartByPartAndAZeroKeepsWhatWasThere) {
  upgrade::v1::Order o = NewOrder("acme");
  ASSERT_TRUE(store_->Admit(o, {"upgrade.orders", "acme", "x"}, nullptr).ok());
  // The copy's event, then the plan's: each records its own parts.
  ASSERT_TRUE(store_->RecordTimings(o.upgrade_id(), {absl::Seconds(9), absl::ZeroDuration(), 4096, absl::Seconds(1)}).ok());
  ASSERT_TRUE(store_->RecordTimings(o.upgrade_id(), {absl::ZeroDuration(), absl::Seconds(10), 0}).ok());
  auto found = store_->FindByUpgradeId(o.upgrade_id());
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->timings.clone, absl::Seconds(9));
  EXPECT_EQ((*found)->timings.migrate, absl::Seconds(10));
  EXPECT_EQ((*found)->timings.source_size_bytes, 4096);
  EXPECT_EQ((*found)->timings.copy, absl::Seconds(1));  // the plan's timings left the copy's alone
}

// Idempotency keys are per tenant: two tenants may both use "key-1"; one tenant may not twice.
TEST_F(OrderStoreTest, ARequestIdIsUniquePerTenant) {
  upgrade::v1::Order a = NewOrder("acme", "key-1", "acme_owner");
  upgrade::v1::Order b = NewOrder("globex", "key-1", "globex_owner");
  ASSERT_TRUE(store_->Admit(a, {"upgrade.orders", "acme", "x"}, nullptr).ok());
  ASSERT_TRUE(store_->Admit(b, {"upgrade.orders", "globex", "x"}, nullptr).ok());
  absl::Status again = store_->Admit(NewOrder("acme2", "key-1", "acme_owner"), {"upgrade.orders", "acme2", "x"}, nullptr);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  auto of_a = store_->FindByRequestId("acme_owner", "key-1");
  auto of_b = store_->FindByRequestId("globex_owner", "key-1");
  auto of_c = store_->FindByRequestId("initech_owner", "key-1");
  ASSERT_TRUE(of_a.ok() && of_a->has_value() && of_b.ok() && of_b->has_value() && of_c.ok());
  EXPECT_EQ((*of_a)->order.upgrade_id(), a.upgrade_id());
  EXPECT_EQ((*of_b)->order.upgrade_id(), b.upgrade_id());
  EXPECT_EQ((*of_b)->order.tenant(), "globex_owner");
  EXPECT_FALSE(of_c->has_value());
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.orders"), "2");
}

TEST_F(OrderStoreTest, AdmitRecordsTheOrderAndItsOutboxRecordTogether) {
  upgrade::v1::Order o = NewOrder("acme", "key-1");
  ASSERT_TRUE(store_->Admit(o, {"upgrade.orders", "acme", std::string("\0\x01payload", 9)}, nullptr).ok());
  auto found = store_->FindByRequestId("acme_owner", "key-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->order.upgrade_id(), o.upgrade_id());
  EXPECT_EQ((*found)->order.created_at().seconds(), o.created_at().seconds());
  EXPECT_EQ((*found)->outcome, Outcome::kActive);
  std::vector<OutgoingRecord> published;
  int count = 0;
  ASSERT_TRUE(store_->DrainOutbox(10, [&](const std::vector<OutgoingRecord>& r) {
    published = r;
    return absl::OkStatus();
  }, &count).ok());
  ASSERT_EQ(count, 1);
  EXPECT_EQ(published[0].payload, std::string("\0\x01payload", 9));  // bytes survive
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.outbox"), "0");
}

// Issue 25: a scheduled order waits; two replicas serving its start start it once; a reminder is
// recorded once; a cancellation ends it at once; an order that starts at once is never scheduled.
TEST_F(OrderStoreTest, AScheduledOrderStartsOnceAcrossReplicasIsRemindedOnceAndACancellationEndsIt) {
  const absl::Time now = absl::Now();
  upgrade::v1::Order at_once = NewOrder("initech");
  ASSERT_TRUE(store_->Admit(at_once, {"upgrade.orders", "initech", "accepted"}, nullptr).ok());
  upgrade::v1::Order later = NewOrder("acme");
  ToProto(now + absl::Hours(1), later.mutable_not_before());
  ASSERT_TRUE(store_->Admit(later, {"upgrade.orders", "acme", "scheduled"}, nullptr).ok());
  auto found = store_->FindByUpgradeId(later.upgrade_id());
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_TRUE((*found)->scheduled());
  EXPECT_EQ((*found)->order.SerializeAsString(), later.SerializeAsString());
  auto started_at_once = store_->FindByUpgradeId(at_once.upgrade_id());
  ASSERT_TRUE(started_at_once.ok() && started_at_once->has_value());
  EXPECT_FALSE((*started_at_once)->scheduled());
  EXPECT_EQ((*started_at_once)->started_at, absl::FromUnixMicros(absl::ToUnixMicros(FromProto(at_once.created_at()))));

  auto due = store_->Scheduled(now, false, 10);
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_TRUE(due->empty());
  due = store_->Scheduled(now + absl::Hours(2), false, 10);
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].order.upgrade_id(), later.upgrade_id());

  // Reminded once.
  auto reminded = store_->Remind(later.upgrade_id(), now, [](const StoredOrder& s) -> std::optional<OutgoingRecord> {
    return OutgoingRecord{"upgrade.orders", s.order.database(), "reminder"};
  });
  ASSERT_TRUE(reminded.ok() && *reminded);
  reminded = store_->Remind(later.upgrade_id(), now, [](const StoredOrder&) -> std::optional<OutgoingRecord> {
    ADD_FAILURE() << "reminded twice";
    return std::nullopt;
  });
  ASSERT_TRUE(reminded.ok());
  EXPECT_FALSE(*reminded);
  EXPECT_TRUE(store_->Scheduled(now + absl::Hours(2), true, 10)->empty());

  // Two replicas serve its start at once: one starts it.
  auto replica = PgOrderStore::Open(Postgres().conninfo(db_), 2);
  ASSERT_TRUE(replica.ok()) << replica.status();
  std::atomic<int> started{0}, decided{0};
  std::vector<std::thread> sweepers;
  for (PgOrderStore* store : {store_.get(), replica->get(), store_.get(), replica->get()}) {
    sweepers.emplace_back([&, store] {
      auto acted = store->StartScheduled(later.upgrade_id(), now, [&](const StoredOrder& s) {
        ++decided;
        return OrderSchedule::Start{true, {"upgrade.orders", s.order.database(), "accepted"}};
      });
      ASSERT_TRUE(acted.ok()) << acted.status();
      if (*acted) ++started;
    });
  }
  for (std::thread& t : sweepers) t.join();
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(decided.load(), 1);
  found = store_->FindByUpgradeId(later.upgrade_id());
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_FALSE((*found)->scheduled());
  EXPECT_EQ((*found)->outcome, Outcome::kActive);
  EXPECT_TRUE(store_->Scheduled(now + absl::Hours(2), false, 10)->empty());
  std::vector<std::string> payloads;
  int count = 0;
  ASSERT_TRUE(store_->DrainOutbox(10, [&](const std::vector<OutgoingRecord>& r) {
    for (const OutgoingRecord& x : r) payloads.push_back(x.payload);
    return absl::OkStatus();
  }, &count).ok());
  EXPECT_EQ(payloads, (std::vector<std::string>{"accepted", "scheduled", "reminder", "accepted"}));

  // Another, scheduled and cancelled: it ends at once, frees its database, and never starts.
  upgrade::v1::Order cancelled = NewOrder("globex");
  ToProto(now + absl::Hours(1), cancelled.mutable_not_before());
  ASSERT_TRUE(store_->Admit(cancelled, {"upgrade.orders", "globex", "scheduled"}, nullptr).ok());
  auto ended = store_->Cancel(cancelled.upgrade_id(), now, [](const StoredOrder& s) {
    EXPECT_EQ(s.outcome, Outcome::kCancelled);
    return OutgoingRecord{"upgrade.events", s.order.database(), "cancelled"};
  }, nullptr);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->outcome, Outcome::kCancelled);
  EXPECT_FALSE(store_->FindActive("globex")->has_value());
  auto late = store_->StartScheduled(cancelled.upgrade_id(), now + absl::Hours(2), [](const StoredOrder&) {
    ADD_FAILURE() << "a cancelled order started";
    return OrderSchedule::Start{};
  });
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(*late);
}

// Issue 25: a rollout and its databases come back as recorded; one replica at a time leases it
// (until its lease lapses); a decision of a replica that lost the rollout to a pause is not recorded;
// a request_id starts one rollout.
TEST_F(OrderStoreTest, ARolloutIsLeasedByOneReplicaAtATimeAndAPauseWinsOverItsDriver) {
  const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  StoredRollout r;
  r.rollout_id = NewUpgradeId();
  r.spec.set_target_version("18.0");
  r.spec.set_purpose(upgrade::v1::PURPOSE_TEST);
  r.spec.set_request_id("fleet-1");
  r.spec.add_waves()->set_databases(1);
  r.created_by = "ops";
  r.created_at = r.updated_at = now;
  r.waves = 2;
  r.members = {{"acme", "pg-1", "acme_owner", 0}, {"globex", "pg-2", "globex_owner", 1}};
  ASSERT_TRUE(store_->CreateRollout(r).ok());
  StoredRollout again = r;
  again.rollout_id = NewUpgradeId();
  EXPECT_EQ(store_->CreateRollout(again).code(), absl::StatusCode::kAlreadyExists);
  auto by_key = store_->FindRolloutByRequestId("fleet-1");
  ASSERT_TRUE(by_key.ok() && by_key->has_value());
  EXPECT_EQ((*by_key)->rollout_id, r.rollout_id);
  EXPECT_EQ((*by_key)->spec.SerializeAsString(), r.spec.SerializeAsString());
  ASSERT_EQ((*by_key)->members.size(), 2u);
  EXPECT_EQ((*by_key)->members[1].server, "pg-2");
  EXPECT_EQ((*by_key)->members[1].wave, 1);

  auto replica = PgOrderStore::Open(Postgres().conninfo(db_), 2);
  ASSERT_TRUE(replica.ok()) << replica.status();
  std::atomic<int> leased{0};
  std::vector<std::thread> sweepers;
  for (int i = 0; i < 4; ++i) {
    PgOrderStore* store = i % 2 == 0 ? store_.get() : replica->get();
    sweepers.emplace_back([&, store, i] {
      auto got = store->LeaseRollout(r.rollout_id, absl::StrCat("replica-", i), now, absl::Seconds(30));
      ASSERT_TRUE(got.ok()) << got.status();
      if (got->has_value()) ++leased;
    });
  }
  for (std::thread& t : sweepers) t.join();
  EXPECT_EQ(leased.load(), 1);
  auto held = store_->ActiveRollouts();
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(*held, std::vector<std::string>{r.rollout_id});
  // The lease lapses: another takes it and records a member and its decision.
  auto taken = (*replica)->LeaseRollout(r.rollout_id, "replica-late", now + absl::Seconds(31), absl::Seconds(30));
  ASSERT_TRUE(taken.ok() && taken->has_value());
  RolloutMember acme = (*taken)->members[0];
  acme.state = MemberState::kRunning;
  acme.upgrade_id = NewUpgradeId();
  acme.ordered_at = now;
  ASSERT_TRUE((*replica)->SaveMember(r.rollout_id, acme).ok());
  StoredRollout decided = **taken;
  decided.wave = 1;
  decided.next_wave_at = now + absl::Hours(1);
  decided.reason = "wave 1 ended";
  auto saved = (*replica)->AdvanceRollout(decided, "replica-late");
  ASSERT_TRUE(saved.ok() && *saved);
  EXPECT_FALSE(*store_->AdvanceRollout(decided, "replica-0")) << "not the holder";
  // An operator pauses it: a driver's later decision is not recorded.
  auto paused = store_->ChangeRollout(r.rollout_id, [](StoredRollout& x) {
    x.state = upgrade::v1::ROLLOUT_PAUSED;
    x.reason = "paused by ops";
    return absl::OkStatus();
  });
  ASSERT_TRUE(paused.ok()) << paused.status();
  decided.state = upgrade::v1::ROLLOUT_DONE;
  EXPECT_FALSE(*(*replica)->AdvanceRollout(decided, "replica-late"));
  auto refused = store_->ChangeRollout(r.rollout_id, [](StoredRollout&) {
    return absl::FailedPreconditionError("not running");
  });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  auto now_stored = store_->FindRollout(r.rollout_id);
  ASSERT_TRUE(now_stored.ok() && now_stored->has_value());
  const StoredRollout& got = **now_stored;
  EXPECT_EQ(got.state, upgrade::v1::ROLLOUT_PAUSED);
  EXPECT_EQ(got.reason, "paused by ops");
  EXPECT_EQ(got.wave, 1);
  EXPECT_EQ(got.next_wave_at, now + absl::Hours(1));
  EXPECT_EQ(got.members[0].state, MemberState::kRunning);
  EXPECT_EQ(got.members[0].upgrade_id, acme.upgrade_id);
  EXPECT_EQ(got.members[0].ordered_at, now);
  EXPECT_EQ(got.members[1].state, MemberState::kLeft);
  auto listed = store_->ListRollouts(10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].members.size(), 2u);
}

// Issue 25: a database's own maintenance window wins over its tenant's; each change is audited in
// its own transaction; another tenant's windows are never seen.
TEST_F(OrderStoreTest, MaintenanceWindowsOfATenantAndItsDatabasesAreKeptAndAudited) {
  upgrade::v1::MaintenanceWindow weekend;
  weekend.add_weekdays(6);
  weekend.set_start("02:00");
  weekend.mutable_length()->set_seconds(4 * 3600);
  weekend.set_time_zone("Europe/Brussels");
  upgrade::v1::MaintenanceWindow nightly = weekend;
  nightly.add_weekdays(1);
  nightly.set_start("23:00");
  int audits = 0;
  AuditOf audit_of = [&](const upgrade::v1::Order& subject) -> std::optional<AuditEntry> {
    ++audits;
    AuditEntry entry;
    entry.record.set_tenant(subject.tenant());
    entry.record.set_database(subject.database());
    entry.published = {"upgrade.audit", subject.tenant(), "audit"};
    return entry;
  };
  EXPECT_FALSE(store_->WindowOf("acme_owner", "acme")->has_value());
  ASSERT_TRUE(store_->PutWindow("acme_owner", "", weekend, audit_of).ok());
  auto found = store_->WindowOf("acme_owner", "acme");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_FALSE((*found)->own);
  EXPECT_EQ((*found)->window.SerializeAsString(), weekend.SerializeAsString());
  ASSERT_TRUE(store_->PutWindow("acme_owner", "acme", nightly, audit_of).ok());
  found = store_->WindowOf("acme_owner", "acme");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_TRUE((*found)->own);
  EXPECT_EQ((*found)->window.start(), "23:00");
  EXPECT_FALSE(store_->WindowOf("globex_owner", "acme")->has_value());
  ASSERT_TRUE(store_->PutWindow("acme_owner", "acme", std::nullopt, audit_of).ok());
  EXPECT_FALSE((*store_->WindowOf("acme_owner", "acme"))->own);
  EXPECT_EQ(audits, 3);
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.audit WHERE tenant = 'acme_owner'"), "3");
}

TEST_F(OrderStoreTest, TheDatabaseAllowsOneActiveOrderPerDatabase) {
  ASSERT_TRUE(store_->Admit(NewOrder("acme"), {"t", "acme", "p"}, nullptr).ok());
  absl::Status second = store_->Admit(NewOrder("acme"), {"t", "acme", "p"}, nullptr);
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition) << second;
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.outbox"), "1");  // nothing half-written
}

// A connection lost during COMMIT leaves the outcome unknown to the client. The store never runs
// the transaction again blindly: committed, it answers OK (not "still active" about the caller's own
// order) with one order, one audit row and one outbox record each; rolled back, it runs it again,
// once.
TEST_F(OrderStoreTest, ACommitWhoseAnswerIsLostIsResolvedNotRunAgain) {
  absl::StatusOr<std::unique_ptr<upshift::testing::CommitCutter>> cutter =
      upshift::testing::CommitCutter::Start(Postgres().port());
  ASSERT_TRUE(cutter.ok()) << cutter.status();
  const std::string through_cutter = absl::StrCat("host=127.0.0.1 port=", (*cutter)->port(),
                                                  " user=postgres sslmode=disable dbname=", db_);
  auto store = PgOrderStore::Open(through_cutter, 2);
  ASSERT_TRUE(store.ok()) << store.status();
  auto audit_of = [](const upgrade::v1::Order& o) {
    AuditEntry entry;
    entry.record.set_tenant(o.tenant());
    entry.record.set_database(o.database());
    entry.published = {"upgrade.audit", o.database(), "audited"};
    return std::optional<AuditEntry>(entry);
  };
  for (auto cut : {upshift::testing::CommitCutter::Cut::kAfterCommit,
                   upshift::testing::CommitCutter::Cut::kBeforeCommit}) {
    const std::string database = cut == upshift::testing::CommitCutter::Cut::kAfterCommit ? "cut_after" : "cut_before";
    (*cutter)->Arm(cut);
    absl::Status admitted = (*store)->Admit(NewOrder(database), {"upgrade.orders", database, "p"}, audit_of);
    EXPECT_TRUE(admitted.ok()) << database << ": " << admitted;
    const std::string sql_orders = absl::StrCat("SELECT count(*) FROM request.orders WHERE database = '", database, "'");
    const std::string sql_audit = absl::StrCat("SELECT count(*) FROM request.audit WHERE database = '", database, "'");
    const std::string sql_outbox = absl::StrCat("SELECT count(*) FROM request.outbox WHERE key = '", database, "'");
    EXPECT_EQ(*Postgres().QueryValue(db_, sql_orders), "1") << database;
    EXPECT_EQ(*Postgres().QueryValue(db_, sql_audit), "1") << database;
    EXPECT_EQ(*Postgres().QueryValue(db_, sql_outbox), "2") << database;  // the order's and the audit's
  }
  EXPECT_EQ((*cutter)->cuts(), 2);
  // An appended audit record, its commit's answer lost: one row, one outbox record.
  (*cutter)->Arm(upshift::testing::CommitCutter::Cut::kAfterCommit);
  upgrade::v1::AuditRecord record;
  record.set_tenant("acme_owner");
  record.set_database("appended");
  ASSERT_TRUE((*store)->Append(record, {"upgrade.audit", "appended", "a"}).ok());
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.audit WHERE database = 'appended'"), "1");
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.outbox WHERE key = 'appended'"), "1");
  EXPECT_EQ((*cutter)->cuts(), 3);
}

TEST_F(OrderStoreTest, ACheckRunsBesideATestButNotBesideAProductionUpgradeOrAnotherCheck) {
  auto with = [&](upgrade::v1::Purpose purpose) {
    upgrade::v1::Order o = NewOrder("acme");
    o.set_purpose(purpose);
    return o;
  };
  upgrade::v1::Order test = with(upgrade::v1::PURPOSE_TEST);
  ASSERT_TRUE(store_->Admit(test, {"t", "acme", "p"}, nullptr).ok());
  upgrade::v1::Order check = with(upgrade::v1::PURPOSE_CHECK);
  ASSERT_TRUE(store_->Admit(check, {"t", "acme", "p"}, nullptr).ok());
  EXPECT_EQ(store_->Admit(with(upgrade::v1::PURPOSE_CHECK), {"t", "acme", "p"}, nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
  // FindActive names the upgrade, never the check beside it.
  auto active = store_->FindActive("acme");
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->order.upgrade_id(), test.upgrade_id());
  ASSERT_TRUE(store_->MarkFinished(test.upgrade_id(), Outcome::kSucceeded, absl::Now()).ok());
  absl::Status production = store_->Admit(with(upgrade::v1::PURPOSE_PRODUCTION), {"t", "acme", "p"}, nullptr);
  EXPECT_EQ(production.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(production.message().find(check.upgrade_id()), std::string::npos) << production;
  ASSERT_TRUE(store_->MarkFinished(check.upgrade_id(), Outcome::kSucceeded, absl::Now()).ok());
  ASSERT_TRUE(store_->Admit(with(upgrade::v1::PURPOSE_PRODUCTION), {"t", "acme", "p"}, nullptr).ok());
  EXPECT_EQ(store_->Admit(with(upgrade::v1::PURPOSE_CHECK), {"t", "acme", "p"}, nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.outbox"), "3");
}

TEST_F(OrderStoreTest, ConcurrentAdmissionsOfACheckAndAProductionUpgradeLetOneIn) {
  for (int round = 0; round < 10; ++round) {
    std::string database = absl::StrCat("race", round);
    upgrade::v1::Order check = NewOrder(database), production = NewOrder(database);
    check.set_purpose(upgrade::v1::PURPOSE_CHECK);
    production.set_purpose(upgrade::v1::PURPOSE_PRODUCTION);
    absl::Status a, b;
    std::thread first([&] { a = store_->Admit(check, {"t", database, "p"}, nullptr); });
    std::thread second([&] { b = store_->Admit(production, {"t", database, "p"}, nullptr); });
    first.join();
    second.join();
    EXPECT_NE(a.ok(), b.ok()) << a << " / " << b;
  }
}

TEST_F(OrderStoreTest, AnEndedOrderFreesTheDatabase) {
  upgrade::v1::Order o = NewOrder("acme");
  ASSERT_TRUE(store_->Admit(o, {"t", "acme", "p"}, nullptr).ok());
  ASSERT_TRUE(store_->MarkFinished(o.upgrade_id(), Outcome::kSucceeded, absl::Now()).ok());
  ASSERT_TRUE(store_->MarkFinished(o.upgrade_id(), Outcome::kFailed, absl::Now()).ok());  // a late duplicate
  auto orders = store_->ListByDatabase("acme");
  ASSERT_TRUE(orders.ok());
  ASSERT_EQ(orders->size(), 1u);
  EXPECT_EQ((*orders)[0].outcome, Outcome::kSucceeded);
  EXPECT_TRUE(store_->Admit(NewOrder("acme"), {"t", "acme", "p"}, nullptr).ok());
  EXPECT_TRUE(*store_->IsTestCopy(o.test_database()));
  EXPECT_FALSE(*store_->IsTestCopy("acme"));
}

TEST_F(OrderStoreTest, ATakenRequestIdIsAlreadyExists) {
  ASSERT_TRUE(store_->Admit(NewOrder("acme", "same"), {"t", "acme", "p"}, nullptr).ok());
  EXPECT_EQ(store_->Admit(NewOrder("other", "same"), {"t", "other", "p"}, nullptr).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(OrderStoreTest, AFailedPublishKeepsTheRecordsForTheNextRound) {
  ASSERT_TRUE(store_->Admit(NewOrder("acme"), {"t", "acme", "p"}, nullptr).ok());
  int count = 0;
  absl::Status s = store_->DrainOutbox(10, [](const std::vector<OutgoingRecord>&) {
    return absl::InvalidArgumentError("broker refused");
  }, &count);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.outbox"), "1");
}

// Two replicas race for a claim from many threads: exactly one wins, the other sees who holds it;
// the holder renews it; once it expires the other takes it; once done, nobody gets it any more.
TEST_F(OrderStoreTest, OneReplicaHoldsAClaimUntilItExpiresOrIsReleasedAndADoneClaimStaysDone) {
  const std::string id = NewUpgradeId();
  std::atomic<int> granted{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < 8; ++i) {
    racers.emplace_back([&, i] {
      absl::StatusOr<StoredClaim> c = store_->ClaimWork(id, "plan", absl::StrCat("migrator/r", i), absl::Minutes(1));
      ASSERT_TRUE(c.ok()) << c.status();
      if (c->granted) ++granted;
    });
  }
  for (std::thread& t : racers) t.join();
  EXPECT_EQ(granted, 1);
  absl::StatusOr<StoredClaim> held = store_->ClaimWork(id, "plan", "migrator/other", absl::Seconds(1));
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(held->granted);
  const std::string holder = held->holder;
  EXPECT_NE(holder, "migrator/other");
  EXPECT_GT(held->expires_at, absl::Now() + absl::Seconds(30));
  // The holder renews for a short while, then goes silent: the claim expires and the other takes it.
  absl::StatusOr<StoredClaim> renewed = store_->ClaimWork(id, "plan", holder, absl::Seconds(1));
  ASSERT_TRUE(renewed.ok() && renewed->granted);
  ASSERT_TRUE(upshift::testing::WaitFor([&] {
    absl::StatusOr<StoredClaim> c = store_->ClaimWork(id, "plan", "migrator/other", absl::Seconds(30));
    return c.ok() && c->granted;
  }, absl::Seconds(10)));
  // Releasing someone else's claim changes nothing.
  ASSERT_TRUE(store_->ReleaseWork(id, "plan", holder, /*done=*/true).ok());
  EXPECT_FALSE(store_->ClaimWork(id, "plan", holder, absl::Seconds(30))->granted);
  // Released without done: free at once.
  ASSERT_TRUE(store_->ReleaseWork(id, "plan", "migrator/other", /*done=*/false).ok());
  absl::StatusOr<StoredClaim> again = store_->ClaimWork(id, "plan", holder, absl::Seconds(30));
  ASSERT_TRUE(again.ok() && again->granted);
  // Done: kept, and every later claim, the holder's own included, is told so.
  ASSERT_TRUE(store_->ReleaseWork(id, "plan", holder, /*done=*/true).ok());
  for (const std::string& who : {holder, std::string("migrator/other")}) {
    absl::StatusOr<StoredClaim> after = store_->ClaimWork(id, "plan", who, absl::Seconds(30));
    ASSERT_TRUE(after.ok());
    EXPECT_FALSE(after->granted);
    EXPECT_TRUE(after->done);
    EXPECT_EQ(after->holder, holder);
  }
  // Another piece of the same upgrade's work is claimed apart.
  EXPECT_TRUE(store_->ClaimWork(id, "copy", "cloner/a", absl::Seconds(30))->granted);
}

// Issue 24: a server's capacity holds across replicas. With a limit of 2 copies, racing claims of
// five upgrades from as many replicas get exactly 2; a renewal keeps its place, a restore point that
// resumes never waits (but counts), another server and the plan pool are apart, and a claim that
// expires (its replica died) or is done frees its place.
TEST_F(OrderStoreTest, AServersCapacityHoldsAcrossReplicasAndAnExpiredClaimFreesItsPlace) {
  const Capacity copies{"pg-a", 2, {"copy", "snapshot"}};
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(NewUpgradeId());
  std::atomic<int> granted{0}, waiting{0};
  std::vector<std::thread> racers;
  for (int i = 0; i < 5; ++i) {
    racers.emplace_back([&, i] {
      absl::StatusOr<StoredClaim> c =
          store_->ClaimWork(ids[i], "copy", absl::StrCat("cloner/r", i), absl::Minutes(1), copies);
      ASSERT_TRUE(c.ok()) << c.status();
      if (c->granted) ++granted;
      if (!c->granted && c->running == 2) ++waiting;
    });
  }
  for (std::thread& t : racers) t.join();
  EXPECT_EQ(granted, 2);
  EXPECT_EQ(waiting, 3);
  auto live = [&](const std::string& server) {
    return *Postgres().QueryValue(db_, "SELECT count(*) FROM request.claims WHERE server = '" + server +
                                           "' AND work <> 'plan' AND NOT done AND expires_at > now()");
  };
  EXPECT_EQ(live("pg-a"), "2");
  // Which two hold it: their renewals keep their places.
  std::vector<int> holders;
  for (int i = 0; i < 5; ++i) {
    if (*Postgres().QueryValue(db_, "SELECT count(*) FROM request.claims WHERE upgrade_id = '" + ids[i] + "'") == "1") {
      holders.push_back(i);
    }
  }
  ASSERT_EQ(holders.size(), 2u);
  for (int i : holders) {
    EXPECT_TRUE(store_->ClaimWork(ids[i], "copy", absl::StrCat("cloner/r", i), absl::Minutes(1), copies)->granted);
  }
  std::vector<int> others;
  for (int i = 0; i < 5; ++i) {
    if (std::find(holders.begin(), holders.end(), i) == holders.end()) others.push_back(i);
  }
  // A restore point resuming after its database went offline takes a place beyond the limit.
  const std::string offline = NewUpgradeId();
  EXPECT_TRUE(store_->ClaimWork(offline, "snapshot", "cloner/x", absl::Minutes(1), {"pg-a", 0, {"copy", "snapshot"}})
                  ->granted);
  EXPECT_EQ(live("pg-a"), "3");
  absl::StatusOr<StoredClaim> full = store_->ClaimWork(ids[others[0]], "copy", "cloner/y", absl::Minutes(1), copies);
  EXPECT_FALSE(full->granted);
  EXPECT_EQ(full->running, 3);
  // Other servers and the plan pool have places of their own.
  EXPECT_TRUE(store_->ClaimWork(NewUpgradeId(), "copy", "cloner/z", absl::Minutes(1), {"pg-b", 2, {"copy", "snapshot"}})
                  ->granted);
  EXPECT_TRUE(store_->ClaimWork(ids[holders[0]], "plan", "migrator/a", absl::Minutes(1), {"pg-a", 1, {"plan"}})->granted);
  // The restore point ends, and a holder's work is done: their places are free.
  ASSERT_TRUE(store_->ReleaseWork(offline, "snapshot", "cloner/x", /*done=*/true).ok());
  ASSERT_TRUE(store_->ReleaseWork(ids[holders[1]], "copy", absl::StrCat("cloner/r", holders[1]), /*done=*/true).ok());
  absl::StatusOr<StoredClaim> next = store_->ClaimWork(ids[others[0]], "copy", "cloner/y", absl::Minutes(1), copies);
  EXPECT_TRUE(next->granted);
  // A replica that dies lets its claim expire: its place goes to the next one.
  // The first holder renews for a second, then its replica dies.
  ASSERT_TRUE(store_->ClaimWork(ids[holders[0]], "copy", absl::StrCat("cloner/r", holders[0]), absl::Seconds(1), copies)
                  ->granted);
  EXPECT_FALSE(store_->ClaimWork(ids[others[1]], "copy", "cloner/w", absl::Minutes(1), copies)->granted);
  ASSERT_TRUE(upshift::testing::WaitFor([&] {
    absl::StatusOr<StoredClaim> c = store_->ClaimWork(ids[others[1]], "copy", "cloner/w", absl::Minutes(1), copies);
    return c.ok() && c->granted;
  }, absl::Seconds(10)));
  EXPECT_EQ(live("pg-a"), "2");
}

// Retention forgets, a batch at a time, ended orders (a Test's once its copy is gone) with their
// claims, and old audit records; it keeps whatever is still in use.
TEST_F(OrderStoreTest, RetentionForgetsEndedOrdersTheirClaimsAndOldAuditRecordsInBatches) {
  const absl::Time now = absl::Now();
  auto admitted = [&](const std::string& db, upgrade::v1::Purpose purpose) {
    upgrade::v1::Order o = NewOrder(db);
    o.set_purpose(purpose);
    if (purpose != upgrade::v1::PURPOSE_TEST) o.set_test_database("");
    EXPECT_TRUE(store_->Admit(o, {"t", db, "p"}, nullptr).ok());
    EXPECT_TRUE(store_->ClaimWork(o.upgrade_id(), "copy", "cloner/a", absl::Minutes(1)).ok());
    return o.upgrade_id();
  };
  const std::string old_production = admitted("a", upgrade::v1::PURPOSE_PRODUCTION);
  const std::string old_check = admitted("b", upgrade::v1::PURPOSE_CHECK);
  const std::string old_test_copy_gone = admitted("c", upgrade::v1::PURPOSE_TEST);
  const std::string old_test_copy_lives = admitted("d", upgrade::v1::PURPOSE_TEST);
  const std::string recent = admitted("e", upgrade::v1::PURPOSE_PRODUCTION);
  const std::string active = admitted("f", upgrade::v1::PURPOSE_PRODUCTION);
  for (const std::string& id : {old_production, old_check, old_test_copy_gone, old_test_copy_lives}) {
    ASSERT_TRUE(store_->MarkFinished(id, Outcome::kSucceeded, now - absl::Hours(24 * 100)).ok());
  }
  ASSERT_TRUE(store_->RecordCopy(old_test_copy_gone, absl::InfinitePast(), /*removed=*/true).ok());
  ASSERT_TRUE(store_->MarkFinished(recent, Outcome::kFailed, now - absl::Hours(24)).ok());
  for (int i = 0; i < 5; ++i) {
    upgrade::v1::AuditRecord r;
    ToProto(now - absl::Hours(24 * (i < 3 ? 400 : 10)), r.mutable_at());
    r.set_tenant("acme_owner");
    ASSERT_TRUE(store_->Append(r, {"upgrade.audit", "acme_owner", "x"}).ok());
  }

  // Two at a time: the first batch is full, the second short.
  EXPECT_EQ(*store_->PruneEnded(now - absl::Hours(24 * 90), 2), 2);
  EXPECT_EQ(*store_->PruneEnded(now - absl::Hours(24 * 90), 2), 1);
  EXPECT_EQ(*store_->PruneEnded(now - absl::Hours(24 * 90), 2), 0);
  for (const std::string& id : {old_production, old_check, old_test_copy_gone}) {
    EXPECT_FALSE(store_->FindByUpgradeId(id)->has_value()) << id;
    EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.claims WHERE upgrade_id = '" + id + "'"), "0");
  }
  for (const std::string& id : {old_test_copy_lives, recent, active}) {
    EXPECT_TRUE(store_->FindByUpgradeId(id)->has_value()) << id;
  }
  EXPECT_EQ(*store_->PruneAudit(now - absl::Hours(24 * 365), 2), 2);
  EXPECT_EQ(*store_->PruneAudit(now - absl::Hours(24 * 365), 2), 1);
  EXPECT_EQ(*Postgres().QueryValue(db_, "SELECT count(*) FROM request.audit"), "2");
}

// Two replicas of request take from the same buckets: together they admit what one would, also
// when they take at once; each tenant has its own bucket.
TEST_F(OrderStoreTest, ReplicasShareTheirRateLimits) {
  pg::Pool first_replica(Postgres().conninfo(db_), 2), second_replica(Postgres().conninfo(db_), 2);
  PgRateLimiter first(first_replica, "orders", 1, absl::Hours(1), 3);
  PgRateLimiter second(second_replica, "orders", 1, absl::Hours(1), 3);
  std::vector<std::thread> callers;
  std::atomic<int> taken{0}, refused{0};
  for (int i = 0; i < 10; ++i) {
    callers.emplace_back([&, i] {
      absl::Status s = (i % 2 == 0 ? first : second).Take("acme", "acme's orders");
      if (s.ok()) ++taken;
      if (s.code() == absl::StatusCode::kResourceExhausted) ++refused;
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(taken, 3);
  EXPECT_EQ(refused, 7);
  absl::Status again = second.Take("acme", "acme's orders");
  EXPECT_EQ(again.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(again.message()).find("acme's orders allows 1 per 1h (3 at once); the next in"),
            std::string::npos)
      << again;
  EXPECT_TRUE(first.Take("globex", "globex's orders").ok());  // another tenant's bucket
  // Another limit's buckets are its own.
  PgRateLimiter reads(first_replica, "reads", 1, absl::Hours(1), 1);
  EXPECT_TRUE(reads.Take("acme", "acme's reads").ok());
  EXPECT_EQ(*first.ForgetIdle(absl::Hours(1)), 0);
  EXPECT_EQ(*first.ForgetIdle(absl::ZeroDuration()), 2);  // acme's and globex's orders buckets
}

}  // namespace
}  // namespace upshift::request
