#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "libs/common/logging.h"

namespace upshift {
namespace {

TEST(RedactSecrets, PasswordsOfConnectionStringsPropertiesAndUrlsAreRedacted) {
  EXPECT_EQ(RedactSecrets("cannot connect: host=db port=5432 user=upshift password=s3cret dbname=upshift"),
            "cannot connect: host=db port=5432 user=upshift password=[redacted] dbname=upshift");
  EXPECT_EQ(RedactSecrets("host=db password='a b\\'c' sslmode=verify-full"),
            "host=db password=[redacted] sslmode=verify-full");
  EXPECT_EQ(RedactSecrets("sslpassword=k1 password=k2"), "sslpassword=[redacted] password=[redacted]");
  EXPECT_EQ(RedactSecrets("security.protocol=SASL_SSL,sasl.password=p4ss,sasl.username=u"),
            "security.protocol=SASL_SSL,sasl.password=[redacted],sasl.username=u");
  EXPECT_EQ(RedactSecrets("postgresql://upshift:s3cret@db:5432/upshift and smtp://mail:pw@smtp.example:587"),
            "postgresql://upshift:[redacted]@db:5432/upshift and smtp://mail:[redacted]@smtp.example:587");
  // Nothing that merely looks alike is touched.
  EXPECT_EQ(RedactSecrets("https://example.com:443/path the passwords field"), "https://example.com:443/path the passwords field");
}

TEST(EscapeControl, ALoggedValueCannotStartALineOfItsOwn) {
  EXPECT_EQ(EscapeControl("database acme\nE 2026-01-01 forged line\r\x1b[31m"),
            "database acme\\x0aE 2026-01-01 forged line\\x0d\\x1b[31m");
  EXPECT_EQ(EscapeControl("plain text, tabs\tescaped too"), "plain text, tabs\\x09escaped too");
}

// The lines written while `log` runs, as JSON logs, each parsed by protobuf's JSON parser.
std::vector<google::protobuf::Struct> JsonLinesOf(const std::function<void()>& log) {
  SetLogFormat(LogFormat::kJson);
  ::testing::internal::CaptureStderr();
  log();
  std::string text = ::testing::internal::GetCapturedStderr();
  SetLogFormat(LogFormat::kText);
  std::vector<google::protobuf::Struct> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct parsed;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &parsed).ok()) << line;
    lines.push_back(parsed);
  }
  return lines;
}

std::string Field(const google::protobuf::Struct& line, const std::string& key) {
  auto it = line.fields().find(key);
  return it == line.fields().end() ? "<absent>" : it->second.string_value();
}

TEST(JsonLogs, OneObjectPerLineWithTimeLevelServiceAndMessage) {
  SetLogName("cloner");
  std::vector<google::protobuf::Struct> lines = JsonLinesOf([] {
    LogInfo("copy made");
    LogWarning("a \"quoted\" word, a backslash \\ and a newline\nin one message");
    LogError("broken UTF-8: \xff\xfe, fine UTF-8: caf\xc3\xa9 password=hunter2");
  });
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(Field(lines[0], "level"), "info");
  EXPECT_EQ(Field(lines[0], "service"), "cloner");
  EXPECT_EQ(Field(lines[0], "message"), "copy made");
  EXPECT_EQ(Field(lines[0], "time").size(), std::string("2026-12-02T04:05:06.789Z").size());
  EXPECT_EQ(Field(lines[0], "upgrade_id"), "<absent>");
  EXPECT_EQ(Field(lines[1], "level"), "warning");
  EXPECT_EQ(Field(lines[1], "message"), "a \"quoted\" word, a backslash \\ and a newline\nin one message");
  EXPECT_EQ(Field(lines[2], "level"), "error");
  EXPECT_EQ(Field(lines[2], "message"), "broken UTF-8: \xef\xbf\xbd\xef\xbf\xbd, fine UTF-8: caf\xc3\xa9 password=[redacted]");
}

TEST(JsonLogs, ScopesNameTheUpgradeAndTheDatabase) {
  std::vector<google::protobuf::Struct> lines = JsonLinesOf([] {
    LogScope upgrade("up-1", "acme");
    LogInfo("outer");
    {
      LogScope inner("", "acme_test_1");
      LogInfo("inner");
    }
    LogInfo("outer again");
  });
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(Field(lines[0], "upgrade_id"), "up-1");
  EXPECT_EQ(Field(lines[0], "database"), "acme");
  EXPECT_EQ(Field(lines[1], "upgrade_id"), "up-1");
  EXPECT_EQ(Field(lines[1], "database"), "acme_test_1");
  EXPECT_EQ(Field(lines[2], "database"), "acme");
}

TEST(JsonLogs, TextLinesStayAsTheyWere) {
  SetLogName("migrator");
  ::testing::internal::CaptureStderr();
  LogWarning("step slow");
  std::string line = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(line.substr(0, 2), "W ");
  EXPECT_EQ(line.substr(line.size() - std::string(" migrator: step slow\n").size()), " migrator: step slow\n");
}

}  // namespace
}  // namespace upshift
