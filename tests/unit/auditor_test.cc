#include "services/request/auditor.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/unit/fakes.h"

namespace upshift::request {
namespace {

using upshift::testing::FakeClock;

class FakeAuditLog final : public AuditLog {
 public:
  absl::Status Append(const upgrade::v1::AuditRecord& record, const OutgoingRecord& published) override {
    if (!down.ok()) return down;
    records.push_back({static_cast<int64_t>(records.size()) + 1, record});
    outbox.push_back(published);
    return absl::OkStatus();
  }
  absl::StatusOr<int> PruneAudit(absl::Time cutoff, int batch) override {
    int n = 0;
    while (n < batch && !records.empty() && FromProto(records.front().record.at()) < cutoff) {
      records.erase(records.begin());
      ++n;
    }
    return n;
  }
  absl::StatusOr<std::vector<NumberedAuditRecord>> ListAudit(const std::string& tenant, const std::string& database,
                                                             int64_t before, int limit) override {
    std::vector<NumberedAuditRecord> out;
    for (auto it = records.rbegin(); it != records.rend() && static_cast<int>(out.size()) < limit; ++it) {
      if ((before == 0 || it->seq < before) && (tenant.empty() || it->record.tenant() == tenant) &&
          (database.empty() || it->record.database() == database)) {
        out.push_back(*it);
      }
    }
    return out;
  }
  std::vector<NumberedAuditRecord> records;
  std::vector<OutgoingRecord> outbox;
  absl::Status down;
};

const Principal kOwner{"carol", "acme", {scopes::kTest}};
const Principal kOperator{"ops", "", {scopes::kOperator}};

TEST(Auditor, RecordsAnAuthenticatedCallWithItsAnswerAndPublishesIt) {
  FakeAuditLog log;
  FakeClock clock;
  int woken = 0;
  Auditor auditor(log, clock, [&] { ++woken; });
  AuditedCall call{"upgrade.v1.UpgradeService/RequestUpgrade", "ipv4:10.0.0.7:5000", &kOperator, "acme",
                   "acme", "0f8fad5b-d9cb-469f-a165-70867728950e", "key-1", absl::OkStatus()};
  ASSERT_TRUE(auditor.Record(call).ok());
  ASSERT_EQ(log.records.size(), 1u);
  const upgrade::v1::AuditRecord& r = log.records[0].record;
  EXPECT_EQ(r.subject(), "ops");
  EXPECT_TRUE(r.by_operator());
  EXPECT_EQ(r.tenant(), "acme");  // the order's, not the operator's (none)
  EXPECT_EQ(r.peer(), "ipv4:10.0.0.7:5000");
  EXPECT_EQ(r.request_id(), "key-1");
  EXPECT_EQ(FromProto(r.at()), clock.now);
  EXPECT_FALSE(r.audit_id().empty());
  ASSERT_EQ(log.outbox.size(), 1u);
  EXPECT_EQ(log.outbox[0].topic, "upgrade.audit");
  EXPECT_EQ(log.outbox[0].key, "acme");
  EXPECT_EQ(woken, 1);
  // A refused call: the caller's tenant, the code and message; what failed validation is not kept.
  call = {"upgrade.v1.UpgradeService/RequestUpgrade", "ipv4:10.0.0.8:5000", &kOwner, "", "Bad\nName", "", "",
          absl::InvalidArgumentError("database name must match ...")};
  ASSERT_TRUE(auditor.Record(call).ok());
  EXPECT_EQ(log.records[1].record.tenant(), "acme");
  EXPECT_EQ(log.records[1].record.database(), "");
  EXPECT_EQ(log.records[1].record.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  // An unauthenticated call is not recorded: anyone could fill the table with them.
  call.caller = nullptr;
  ASSERT_TRUE(auditor.Record(call).ok());
  EXPECT_EQ(log.records.size(), 2u);
  log.down = absl::UnavailableError("platform database down");
  call.caller = &kOwner;
  EXPECT_EQ(auditor.Record(call).code(), absl::StatusCode::kUnavailable);
}

// A tenant cannot fill the trail with calls that cost it nothing: past its budget, its refused calls
// are not stored (an operator's always are, and so is every decision).
TEST(Auditor, ATenantsRefusedCallsAreStoredWithinABudget) {
  FakeAuditLog log;
  FakeClock clock;
  RateLimiter refusals(clock, 1, absl::Hours(1), 2);
  Auditor auditor(log, clock, nullptr, &refusals);
  AuditedCall refused{"upgrade.v1.UpgradeService/RequestUpgrade", "ipv4:10.0.0.8:5000", &kOwner, "", "x", "", "",
                      absl::InvalidArgumentError("bad")};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(auditor.Record(refused).ok());
  EXPECT_EQ(log.records.size(), 2u);
  AuditedCall by_operator = refused;
  by_operator.caller = &kOperator;
  ASSERT_TRUE(auditor.Record(by_operator).ok());
  AuditedCall done = refused;
  done.result = absl::OkStatus();
  ASSERT_TRUE(auditor.Record(done).ok());
  EXPECT_EQ(log.records.size(), 4u);
  clock.now += absl::Hours(1);  // the budget refills
  ASSERT_TRUE(auditor.Record(refused).ok());
  EXPECT_EQ(log.records.size(), 5u);
}

TEST(Auditor, OnlyOperatorsReadTheTrailPageByPage) {
  FakeAuditLog log;
  FakeClock clock;
  Auditor auditor(log, clock, nullptr);
  for (int i = 0; i < 250; ++i) {
    AuditedCall call{"upgrade.v1.UpgradeService/CheckUpgrade", "ipv4:10.0.0.7:5000", &kOwner, i % 2 ? "acme" : "globex",
                     absl::StrCat("db_", i % 5), "", "", absl::OkStatus()};
    ASSERT_TRUE(auditor.Record(call).ok());
  }
  upgrade::v1::ListAuditRecordsRequest req;
  EXPECT_EQ(auditor.List(kOwner, req).status().code(), absl::StatusCode::kPermissionDenied);
  req.set_tenant("acme");
  req.set_page_size(40);
  int seen = 0, pages = 0;
  do {
    absl::StatusOr<upgrade::v1::ListAuditRecordsResponse> page = auditor.List(kOperator, req);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const upgrade::v1::AuditRecord& r : page->records()) EXPECT_EQ(r.tenant(), "acme");
    seen += page->records_size();
    req.set_page_token(page->next_page_token());
    ++pages;
  } while (!req.page_token().empty() && pages < 50);
  EXPECT_EQ(seen, 125);
  EXPECT_EQ(pages, 4);
  req.set_page_token("not-a-token");
  EXPECT_EQ(auditor.List(kOperator, req).status().code(), absl::StatusCode::kInvalidArgument);
  req.set_page_token("");
  req.set_database("Bad Name");
  EXPECT_EQ(auditor.List(kOperator, req).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace upshift::request
