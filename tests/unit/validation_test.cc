#include "libs/common/validation.h"

#include <gtest/gtest.h>

#include <vector>

#include "libs/common/ids.h"

namespace upshift {
namespace {

TEST(ValidateDatabaseName, AcceptsLowercaseIdentifiers) {
  EXPECT_TRUE(ValidateDatabaseName("acme").ok());
  EXPECT_TRUE(ValidateDatabaseName("a").ok());
  EXPECT_TRUE(ValidateDatabaseName("shop_2024_eu").ok());
  EXPECT_TRUE(ValidateDatabaseName(std::string(63, 'a')).ok());
}

TEST(ValidateDatabaseName, RejectsEverythingElseAsInvalidArgument) {
  for (const std::string& bad : std::vector<std::string>{"", "Acme", "1acme", "_acme", "ac-me", "ac me", "acme;", "ac'me", "ac\"me", "acme\n",
                          "acmé", std::string(64, 'a'), std::string("ac\0me", 5)}) {
    absl::Status s = ValidateDatabaseName(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "accepted: " << bad;
  }
}

TEST(ValidateDatabaseName, RejectsServerAndPlatformDatabases) {
  for (const char* name : {"postgres", "template0", "template1"}) {
    EXPECT_EQ(ValidateDatabaseName(name).code(), absl::StatusCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(ValidateDatabaseName("upshift", {"upshift"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateDatabaseName("upshift").ok());
}

TEST(ValidateDatabaseName, ErrorMessagesDoNotEchoControlCharacters) {
  absl::Status s = ValidateDatabaseName("bad\r\nname");
  EXPECT_EQ(std::string(s.message()).find('\n'), std::string::npos);
}

TEST(ValidateVersion, AcceptsDottedNumbersOnly) {
  for (const char* ok : {"16.0", "17", "17.0.1", "1.2.3.4"}) EXPECT_TRUE(ValidateVersion(ok).ok()) << ok;
  for (const char* bad : {"", "16.", ".16", "16..0", "16.0a", "v16", "1.2.3.4.5", "16.0;", "16.0'", "16 .0"}) {
    EXPECT_EQ(ValidateVersion(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValidateEmail, AcceptsOrdinaryAddresses) {
  for (const char* ok : {"owner@acme.example.com", "first.last+tag@sub.example.org", "a_b-c%d@x-y.io"}) {
    EXPECT_TRUE(ValidateEmail(ok).ok()) << ok;
  }
}

TEST(ValidateEmail, RejectsAnythingThatCouldReachAHeader) {
  for (const std::string& bad : std::vector<std::string>{"", "owner", "owner@", "@example.com", "a@b@example.com", "owner@localhost",
                          "a\r\nBcc: x@evil.com@example.com", "a\"b@example.com", "a;b@example.com",
                          "a b@example.com", "a@exa mple.com", ".a@example.com", "a..b@example.com",
                          "a@-example.com", std::string(250, 'a') + "@example.com", std::string("a\0b@example.com", 15),
                          "<a@example.com>"}) {
    EXPECT_EQ(ValidateEmail(bad).code(), absl::StatusCode::kInvalidArgument) << "accepted: " << bad;
  }
}

TEST(ValidateRequestId, AllowsEmptyAndSafeKeys) {
  EXPECT_TRUE(ValidateRequestId("").ok());
  EXPECT_TRUE(ValidateRequestId("click-42:retry.1_a").ok());
  EXPECT_EQ(ValidateRequestId("has space").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateRequestId(std::string(129, 'a')).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Ids, UpgradeIdsAreValidDistinctUuids) {
  std::string a = NewUpgradeId(), b = NewUpgradeId();
  EXPECT_TRUE(ValidateUpgradeId(a).ok()) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '4');
  EXPECT_EQ(ValidateUpgradeId("0F8FAD5B-D9CB-469F-A165-70867728950E").code(), absl::StatusCode::kInvalidArgument);
}

TEST(Ids, TestDatabaseNameIsDeterministicAndAlwaysValid) {
  std::string id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  EXPECT_EQ(TestDatabaseName("acme", id), "acme_test_0f8fad5b");
  EXPECT_EQ(TestDatabaseName("acme", id), TestDatabaseName("acme", id));
  std::string longest = TestDatabaseName(std::string(63, 'z'), id);
  EXPECT_TRUE(ValidateDatabaseName(longest).ok()) << longest;
}

}  // namespace
}  // namespace upshift
