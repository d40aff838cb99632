// SmtpMailer against a real SMTP server (aiosmtpd).

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "libs/common/ids.h"
#include "libs/mail/smtp_mailer.h"
#include "tests/component/environment.h"
#include "tests/support/wait.h"

namespace upshift {
namespace {

using upshift::testing::Smtp;

TEST(SmtpMailer, DeliversTheMessageWithItsHeaders) {
  SmtpMailer mailer({Smtp().url(), "upgrades@upshift.test", "", "", absl::Seconds(10)});
  std::string id = NewUpgradeId();
  Email email{"owner@acme.example.com", "Test " + id, "Hello\n.\nA line with a lone dot above.\n", id + "@upshift"};
  ASSERT_TRUE(mailer.Send(email).ok());
  std::string got;
  ASSERT_TRUE(upshift::testing::WaitFor([&] {
    for (const std::string& m : Smtp().Messages()) {
      if (absl::StrContains(m, id)) got = m;
    }
    return !got.empty();
  }));
  EXPECT_TRUE(absl::StrContains(got, "To: <owner@acme.example.com>"));
  EXPECT_TRUE(absl::StrContains(got, "Subject: Test " + id));
  EXPECT_TRUE(absl::StrContains(got, "A line with a lone dot above."));
}

TEST(SmtpMailer, AnUnreachableServerIsUnavailable) {
  SmtpMailer mailer({"smtp://127.0.0.1:" + std::to_string(upshift::testing::FreePort()), "a@upshift.test", "", "",
                     absl::Seconds(5)});
  EXPECT_EQ(mailer.Send({"owner@acme.example.com", "s", "b", "x@upshift"}).code(), absl::StatusCode::kUnavailable);
}

TEST(SmtpMailer, AnInjectedHeaderIsRefusedBeforeAnythingIsSent) {
  SmtpMailer mailer({Smtp().url(), "upgrades@upshift.test", "", "", absl::Seconds(10)});
  size_t before = Smtp().Messages().size();
  absl::Status s = mailer.Send({"owner@acme.example.com", "Hi\r\nBcc: victim@example.com", "b", "y@upshift"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Smtp().Messages().size(), before);
}

// The test server offers no STARTTLS: with credentials set, nothing is sent, least of all them.
TEST(SmtpMailer, CredentialsAreNeverSentWithoutTls) {
  SmtpMailer mailer({Smtp().url(), "upgrades@upshift.test", "mailer", "s3cret", absl::Seconds(10)});
  size_t before = Smtp().Messages().size();
  absl::Status s = mailer.Send({"owner@acme.example.com", "Secret mail", "b", NewUpgradeId() + "@upshift"});
  EXPECT_FALSE(s.ok());
  // Refused for want of TLS, before any AUTH: libcurl's "Requested SSL level failed".
  EXPECT_TRUE(absl::StrContains(s.message(), "SSL level")) << s;
  EXPECT_EQ(Smtp().Messages().size(), before);
}

}  // namespace
}  // namespace upshift
