// The hosting inventory's parser and the placement of a database, with the error for each bad file.
#include "libs/hosting/inventory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace upshift {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class InventoryTest : public ::testing::Test {
 protected:
  absl::StatusOr<Inventory> Parse(const std::string& text) {
    Inventory::Sources sources{
        [this](const std::string& name) -> std::optional<std::string> {
          auto it = env_.find(name);
          if (it == env_.end()) return std::nullopt;
          return it->second;
        },
        [this](const std::string& path) -> absl::StatusOr<std::string> {
          auto it = files_.find(path);
          if (it == files_.end()) return absl::InvalidArgumentError(path + ": cannot read the file");
          return it->second;
        },
        [](const std::string& conninfo) {
          // What libpq would say of a keyword it does not know (pg::CheckConnInfo in production).
          if (conninfo.find("hots=") != std::string::npos) {
            return absl::InvalidArgumentError("invalid connection option \"hots\"");
          }
          return absl::OkStatus();
        }};
    return Inventory::Parse(text, "servers.textproto", sources);
  }

  std::map<std::string, std::string> env_{{"PG_EU_1", "host=pg-eu-1 user=upshift password=s3cret"}};
  std::map<std::string, std::string> files_{{"/secrets/pg-us-1", "host=pg-us-1 user=upshift password=an0ther\n"}};
};

TEST_F(InventoryTest, ReadsEveryServerWithItsLimitsLabelsAndConnectionStringFromTheEnvironmentOrAFile) {
  absl::StatusOr<Inventory> inventory = Parse(R"(
    server { name: "pg-eu-1" conninfo_env: "PG_EU_1" max_copies: 2 max_plans: 4
             labels { key: "region" value: "eu" } }
    server { name: "pg-us-1" conninfo_file: "/secrets/pg-us-1" max_copies: 1 max_plans: 1 }
  )");
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  ASSERT_EQ(inventory->servers().size(), 2u);
  const ServerSpec* eu = inventory->Find("pg-eu-1");
  ASSERT_NE(eu, nullptr);
  EXPECT_EQ(eu->conninfo, "host=pg-eu-1 user=upshift password=s3cret");
  EXPECT_EQ(eu->max_copies, 2);
  EXPECT_EQ(eu->max_plans, 4);
  EXPECT_EQ(eu->labels.at("region"), "eu");
  const ServerSpec* us = inventory->Find("pg-us-1");
  ASSERT_NE(us, nullptr);
  EXPECT_EQ(us->conninfo, "host=pg-us-1 user=upshift password=an0ther");  // the file's newline gone
  EXPECT_EQ(inventory->Find("pg-ap-1"), nullptr);
}

TEST_F(InventoryTest, AnUnknownKeyIsRefusedWithItsPlace) {
  absl::StatusOr<Inventory> inventory = Parse("server {\n  name: \"pg-eu-1\"\n  max_copy: 2\n}\n");
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inventory.status().message(), HasSubstr("servers.textproto:3:"));
  EXPECT_THAT(inventory.status().message(), HasSubstr("max_copy"));
}

TEST_F(InventoryTest, ANameGivenTwiceIsRefusedAtItsSecondPlace) {
  absl::StatusOr<Inventory> inventory = Parse(
      "server { name: \"pg-eu-1\" conninfo_env: \"PG_EU_1\" max_copies: 1 max_plans: 1 }\n"
      "server { name: \"pg-eu-1\" conninfo_file: \"/secrets/pg-us-1\" max_copies: 1 max_plans: 1 }\n");
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inventory.status().message(), HasSubstr("servers.textproto:2: server \"pg-eu-1\": named twice"));
}

TEST_F(InventoryTest, ABadConnectionStringIsRefusedWithoutQuotingIt) {
  env_["PG_EU_1"] = "hots=pg-eu-1 password=s3cret";
  absl::StatusOr<Inventory> inventory =
      Parse("server { name: \"pg-eu-1\" conninfo_env: \"PG_EU_1\" max_copies: 1 max_plans: 1 }");
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inventory.status().message(), HasSubstr("its connection string is unusable"));
  EXPECT_THAT(inventory.status().message(), Not(HasSubstr("s3cret")));
}

TEST_F(InventoryTest, ALimitOfZeroIsRefused) {
  absl::StatusOr<Inventory> inventory =
      Parse("server { name: \"pg-eu-1\" conninfo_env: \"PG_EU_1\" max_copies: 0 max_plans: 1 }");
  EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inventory.status().message(), HasSubstr("max_copies and max_plans must be at least 1"));
}

TEST_F(InventoryTest, EveryOtherMistakeSaysWhatItIs) {
  const std::map<std::string, std::string> cases = {
      {"", "lists no server"},
      {"server { name: \"PG 1\" conninfo_env: \"PG_EU_1\" max_copies: 1 max_plans: 1 }", "a name is 1 to 63"},
      {"server { name: \"pg-eu-1\" max_copies: 1 max_plans: 1 }", "exactly one of conninfo_env and conninfo_file"},
      {"server { name: \"pg-eu-1\" conninfo_env: \"PG_EU_1\" conninfo_file: \"/secrets/pg-us-1\" max_copies: 1 "
       "max_plans: 1 }",
       "exactly one of conninfo_env and conninfo_file"},
      {"server { name: \"pg-eu-1\" conninfo_env: \"PG_NOWHERE\" max_copies: 1 max_plans: 1 }",
       "environment variable PG_NOWHERE is not set"},
      {"server { name: \"pg-eu-1\" conninfo_file: \"/secrets/none\" max_copies: 1 max_plans: 1 }",
       "/secrets/none: cannot read the file"},
      {"server { name: \"pg-eu-1\" conninfo_env: \"PG_EU_1\" max_copies: 1 max_plans: 1 labels { key: \"\" "
       "value: \"x\" } }",
       "a label has an empty key"},
  };
  for (const auto& [text, error] : cases) {
    absl::StatusOr<Inventory> inventory = Parse(text);
    EXPECT_EQ(inventory.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(inventory.status().message(), HasSubstr(error)) << text;
  }
}

TEST(PlaceDatabase, OneServerPlacesItNoneIsNotFoundAndTwoAreRefusedNamingBoth) {
  EXPECT_EQ(*PlaceDatabase("acme", {"pg-eu-1"}), "pg-eu-1");
  EXPECT_EQ(PlaceDatabase("acme", {}).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::string> twice = PlaceDatabase("acme", {"pg-eu-1", "pg-us-1"});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.status().message(), HasSubstr("pg-eu-1, pg-us-1"));
}

}  // namespace
}  // namespace upshift
