// Finding a database's server across the fleet, and the server an order names.
#include "libs/hosting/hosting_fleet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/fakes.h"

namespace upshift {
namespace {

using ::testing::HasSubstr;
using upshift::testing::FakeHosting;

class HostingFleetTest : public ::testing::Test {
 protected:
  HostingFleetTest() {
    west_.Add("acme", "16.0");
    east_.Add("globex", "16.0").owner = "globex";
  }
  FakeHosting west_, east_;
  FixedFleet fleet_{{{"west", &west_}, {"east", &east_}}};
};

TEST_F(HostingFleetTest, ADatabaseIsFoundOnTheOneServerThatHoldsIt) {
  absl::StatusOr<PlacedDatabase> acme = Locate(fleet_, "acme");
  ASSERT_TRUE(acme.ok()) << acme.status();
  EXPECT_EQ(acme->server, "west");
  EXPECT_EQ(acme->hosting.get(), &west_);
  EXPECT_EQ(acme->database.owner, "acme");
  absl::StatusOr<PlacedDatabase> globex = Locate(fleet_, "globex");
  ASSERT_TRUE(globex.ok()) << globex.status();
  EXPECT_EQ(globex->server, "east");
}

TEST_F(HostingFleetTest, ANameOnNoServerIsNotFoundAndOnTwoIsRefusedNamingBoth) {
  absl::Status ghost = Locate(fleet_, "ghost").status();
  EXPECT_EQ(ghost, DatabaseNotFound("ghost"));
  east_.Add("acme", "16.0");
  absl::Status twice = Locate(fleet_, "acme").status();
  EXPECT_EQ(twice.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.message(), HasSubstr("west, east"));
}

TEST_F(HostingFleetTest, AnotherTenantsDatabaseIsNotFoundEvenWhenItsNameIsOnTwoServers) {
  auto acme_sees = [](const HostedDatabase& h) { return h.owner == "acme"; };
  EXPECT_EQ(Locate(fleet_, "globex", acme_sees).status(), DatabaseNotFound("globex"));
  west_.Add("globex", "16.0").owner = "globex";
  // Two of that name, neither the caller's: it hears what it would of a missing one.
  EXPECT_EQ(Locate(fleet_, "globex", acme_sees).status(), DatabaseNotFound("globex"));
  // One of them its own: refused, never acted on.
  west_.dbs["globex"].owner = "acme";
  EXPECT_EQ(Locate(fleet_, "globex", acme_sees).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(HostingFleetTest, ASilentServerHoldsBackOnlyNamesNoOtherServerHolds) {
  east_.down = absl::UnavailableError("connection refused");
  absl::StatusOr<PlacedDatabase> acme = Locate(fleet_, "acme");
  ASSERT_TRUE(acme.ok()) << acme.status();
  EXPECT_EQ(acme->server, "west");
  absl::Status globex = Locate(fleet_, "globex").status();
  EXPECT_EQ(globex.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(globex.message(), HasSubstr("east did not answer"));
}

TEST_F(HostingFleetTest, AnOrderActsOnTheServerItNamesAndAnOldOneOnTheOnlyServer) {
  auto named = ServerOfOrder(fleet_, "east");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->get(), &east_);
  // Orders admitted before they named a server: the only server, or refused among several.
  EXPECT_EQ(ServerOfOrder(fleet_, "").status().code(), absl::StatusCode::kFailedPrecondition);
  FixedFleet one{{{"default", &west_}}};
  auto only = ServerOfOrder(one, "");
  ASSERT_TRUE(only.ok()) << only.status();
  EXPECT_EQ(only->get(), &west_);
  // A server the inventory does not hold now: the work waits for it.
  absl::Status gone = ServerOfOrder(fleet_, "north").status();
  EXPECT_EQ(gone.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(gone.message(), HasSubstr("\"north\" is not in the inventory"));
  EXPECT_EQ(fleet_.Server("north").status(), ServerNotFound("north"));
}

TEST_F(HostingFleetTest, AWorkerWaitsForItsServerToAnswerAndSaysSoOnce) {
  east_.down = absl::UnavailableError("connection refused");
  EXPECT_EQ(fleet_.Ping("east").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(fleet_.Ping("west").ok());
  EXPECT_EQ(fleet_.Ping("north").code(), absl::StatusCode::kUnavailable);
  int pings = 0;
  std::vector<std::string> said;
  absl::Status waited = AwaitServer(
      "east",
      [&] {
        if (++pings == 3) east_.down = absl::OkStatus();  // back after two tries
        return fleet_.Ping("east");
      },
      nullptr, [&](const std::string& waiting_for) { said.push_back(waiting_for); });
  EXPECT_TRUE(waited.ok()) << waited;
  EXPECT_EQ(pings, 3);
  EXPECT_EQ(said, std::vector<std::string>{"hosting server east does not answer"});
  // A replica that stops meanwhile leaves the work to another.
  StopToken stop;
  stop.Stop();
  EXPECT_EQ(AwaitServer("east", [] { return absl::UnavailableError("down"); }, &stop, nullptr).code(),
            absl::StatusCode::kUnavailable);
  // Any other answer is the work's to meet.
  EXPECT_TRUE(AwaitServer("east", [] { return absl::NotFoundError("x"); }, nullptr, nullptr).ok());
}

}  // namespace
}  // namespace upshift
