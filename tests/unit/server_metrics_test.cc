// Issue 24: the per-server view and metrics: request's ServerBoard (health, work, limits) and
// status's waiting and offline upgrades by server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libs/metrics/metrics.h"
#include "services/request/server_board.h"
#include "services/status/upgrade_metrics.h"
#include "tests/unit/fakes.h"

namespace upshift {
namespace {

using ::testing::HasSubstr;

class LiveClaims final : public request::ClaimStore {
 public:
  absl::StatusOr<request::StoredClaim> ClaimWork(const std::string&, const std::string&, const std::string&,
                                                 absl::Duration, const request::Capacity&) override {
    return absl::UnimplementedError("not here");
  }
  absl::StatusOr<std::map<std::pair<std::string, std::string>, int>> LiveWork() override {
    if (!down.ok()) return down;
    return live;
  }
  absl::Status ReleaseWork(const std::string&, const std::string&, const std::string&, bool) override {
    return absl::OkStatus();
  }
  std::map<std::pair<std::string, std::string>, int> live;
  absl::Status down;
};

std::string Scraped() { return metrics::Default().Expose(); }

TEST(ServerBoard, ListsEachServerWithItsHealthLimitsAndWorkForOperatorsOnly) {
  ServerSpec west{"pg-west", "host=a", 2, 4, {{"region", "eu"}}};
  ServerSpec east{"pg-east", "host=b", 3, 5, {}};
  LiveClaims claims;
  claims.live = {{{"pg-west", "copies"}, 2}, {{"pg-west", "plans"}, 1}};
  testing::FakeClock clock;
  request::ServerBoard board([&] { return std::vector<ServerSpec>{west, east}; },
                    [](const std::string& name) {
                      return name == "pg-east" ? absl::UnavailableError("connection refused") : absl::OkStatus();
                    },
                    claims, clock);
  const Principal op{"ops", "", {scopes::kOperator}};
  absl::StatusOr<upgrade::v1::ListServersResponse> before = board.List(op);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->servers(0).error(), "not checked yet");
  board.CheckAll();
  absl::StatusOr<upgrade::v1::ListServersResponse> list = board.List(op);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->servers_size(), 2);
  const upgrade::v1::HostingServerStatus& w = list->servers(0);
  EXPECT_EQ(w.name(), "pg-west");
  EXPECT_TRUE(w.answering());
  EXPECT_EQ(w.labels().at("region"), "eu");
  EXPECT_EQ(w.max_copies(), 2);
  EXPECT_EQ(w.copies(), 2);
  EXPECT_EQ(w.plans(), 1);
  const upgrade::v1::HostingServerStatus& e = list->servers(1);
  EXPECT_FALSE(e.answering());
  EXPECT_EQ(e.error(), "connection refused");
  EXPECT_EQ(e.copies(), 0);
  EXPECT_EQ(board.List(Principal{"t", "acme", {scopes::kRead}}).status().code(), absl::StatusCode::kPermissionDenied);
  board.Export();
  const std::string text = Scraped();
  EXPECT_THAT(text, HasSubstr("upshift_hosting_server_up{server=\"pg-west\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("upshift_hosting_server_up{server=\"pg-east\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("upshift_hosting_server_work{pool=\"copies\",server=\"pg-west\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("upshift_hosting_server_work{pool=\"plans\",server=\"pg-east\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("upshift_hosting_server_limit{pool=\"copies\",server=\"pg-east\"} 3\n"));
  claims.down = absl::UnavailableError("platform database away");
  EXPECT_EQ(board.List(op).status().code(), absl::StatusCode::kUnavailable);
}

TEST(UpgradeMetrics, WaitingAndOfflineUpgradesAreCountedByServer) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  std::vector<upgrade::v1::Upgrade> unfinished(3);
  unfinished[0].set_server("pg-west");
  unfinished[0].set_purpose(upgrade::v1::PURPOSE_TEST);
  unfinished[0].set_waiting_for("hosting server pg-west does not answer");
  unfinished[1].set_server("pg-west");
  unfinished[1].set_purpose(upgrade::v1::PURPOSE_PRODUCTION);
  unfinished[1].set_waiting_for("hosting server pg-west does not answer");
  ToProto(now - absl::Seconds(90), unfinished[1].mutable_offline_at());
  unfinished[2].set_server("pg-east");
  unfinished[2].set_purpose(upgrade::v1::PURPOSE_PRODUCTION);
  ToProto(now - absl::Seconds(30), unfinished[2].mutable_offline_at());
  status::ExportUnfinished(unfinished, now);
  std::string text = Scraped();
  EXPECT_THAT(text, HasSubstr("upshift_upgrades_waiting{server=\"pg-west\"} 2\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("upshift_upgrades_waiting{server=\"pg-east\"}")));
  EXPECT_THAT(text, HasSubstr("upshift_databases_offline_longest_seconds{server=\"pg-west\"} 90\n"));
  EXPECT_THAT(text, HasSubstr("upshift_databases_offline_longest_seconds{server=\"pg-east\"} 30\n"));
  status::ExportUnfinished({}, now);
  EXPECT_THAT(Scraped(), ::testing::Not(HasSubstr("upshift_upgrades_waiting{")));
}

}  // namespace
}  // namespace upshift
