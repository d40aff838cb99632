// The inventory read again when its file changes: a server added and a limit lowered are taken, a
// broken file is counted and the previous inventory kept.
#include "libs/hosting/live_inventory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "libs/metrics/metrics.h"

namespace upshift {
namespace {

using ::testing::HasSubstr;

class LiveInventoryTest : public ::testing::Test {
 protected:
  LiveInventoryTest() {
    dir_ = std::filesystem::temp_directory_path() / ("upshift-inventory-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    Write("west.conninfo", "host=pg-west user=upshift\n");
    Write("east.conninfo", "host=pg-east user=upshift\n");
  }
  ~LiveInventoryTest() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::string Server(const std::string& name, int max_copies) {
    return "server { name: \"" + name + "\" conninfo_file: \"" + (dir_ / (name + ".conninfo")).string() +
           "\" max_copies: " + std::to_string(max_copies) + " max_plans: 4 }\n";
  }
  std::string Path() const { return (dir_ / "servers.textproto").string(); }
  static double Failures() {
    const std::string text = metrics::Default().Expose(), key = "\nupshift_inventory_reload_failures_total ";
    size_t at = text.find(key);
    return at == std::string::npos ? 0 : std::stod(text.substr(at + key.size()));
  }

  std::filesystem::path dir_;
};

TEST_F(LiveInventoryTest, AChangedFileIsTakenAndABrokenOneKeepsThePreviousInventory) {
  Write("servers.textproto", Server("west", 2));
  absl::StatusOr<std::unique_ptr<LiveInventory>> live = LiveInventory::FromFile(Path());
  ASSERT_TRUE(live.ok()) << live.status();
  std::shared_ptr<const Inventory> first = (*live)->Current();
  ASSERT_EQ(first->servers().size(), 1u);
  EXPECT_EQ(first->servers()[0].conninfo, "host=pg-west user=upshift");

  // Unchanged: the same inventory.
  (*live)->Reload();
  EXPECT_EQ((*live)->Current(), first);

  // A server added and a limit lowered, mid-work: taken; what a caller already holds stays as it was.
  Write("servers.textproto", Server("west", 1) + Server("east", 3));
  (*live)->Reload();
  std::shared_ptr<const Inventory> second = (*live)->Current();
  ASSERT_EQ(second->servers().size(), 2u);
  EXPECT_EQ(second->Find("west")->max_copies, 1);
  EXPECT_EQ(second->Find("east")->max_copies, 3);
  EXPECT_EQ(first->Find("west")->max_copies, 2);

  // A broken file (a limit of 0): counted once, logged, and the previous inventory stays.
  const double failures = Failures();
  Write("servers.textproto", Server("west", 0));
  (*live)->Reload();
  (*live)->Reload();
  EXPECT_EQ((*live)->Current(), second);
  EXPECT_EQ(Failures(), failures + 1);
}

TEST_F(LiveInventoryTest, ObjectsPerServerAreMadeOnceAndMadeAgainWhenTheConnectionStringChanges) {
  Write("servers.textproto", Server("west", 2));
  std::unique_ptr<LiveInventory> live = *LiveInventory::FromFile(Path());
  int made = 0;
  PerServer<std::string> per_server(*live, [&](const ServerSpec& s) {
    ++made;
    return std::make_unique<std::string>(s.conninfo);
  });
  absl::StatusOr<std::shared_ptr<std::string>> west = per_server.Get("west");
  ASSERT_TRUE(west.ok()) << west.status();
  EXPECT_EQ(**west, "host=pg-west user=upshift");
  EXPECT_EQ(per_server.Get("west")->get(), west->get());
  EXPECT_EQ(per_server.Get("east").status(), ServerNotFound("east"));
  Write("west.conninfo", "host=pg-west-2 user=upshift\n");
  live->Reload();  // the Secret rotated under an unchanged inventory
  EXPECT_EQ(**per_server.Get("west"), "host=pg-west-2 user=upshift");
  EXPECT_EQ(**west, "host=pg-west user=upshift");  // the caller's own stays usable
  EXPECT_EQ(made, 2);
  // A server dropped from the inventory is let go; back again, it is made anew.
  std::weak_ptr<std::string> dropped = *per_server.Get("west");
  Write("servers.textproto", Server("east", 2));
  live->Reload();
  EXPECT_EQ(per_server.Get("west").status(), ServerNotFound("west"));
  EXPECT_TRUE(dropped.expired());
  Write("servers.textproto", Server("west", 2));
  live->Reload();
  ASSERT_TRUE(per_server.Get("west").ok());
  EXPECT_EQ(made, 3);
}

TEST(LiveInventory, AFileThatCannotBeUsedAtStartIsRefusedSayingWhere) {
  absl::Status missing = LiveInventory::FromFile("/nonexistent/servers.textproto").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("/nonexistent/servers.textproto"));
}

}  // namespace
}  // namespace upshift
