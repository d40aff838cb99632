#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "libs/mail/mailer.h"
#include "services/notifier/emails.h"
#include "tests/unit/fakes.h"

namespace upshift {
namespace {

Email Sample() { return {"owner@acme.example.com", "Subject line", "Body\nline two\n", "u1.accepted@upshift"}; }

TEST(RenderMessage, WritesHeadersThenBodyWithCrlf) {
  absl::StatusOr<std::string> m = RenderMessage(Sample(), "upgrades@upshift.example.com", absl::FromUnixSeconds(0));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(absl::StartsWith(*m, "From: Upshift <upgrades@upshift.example.com>\r\nTo: <owner@acme.example.com>\r\n"));
  EXPECT_TRUE(absl::StrContains(*m, "Subject: Subject line\r\n"));
  EXPECT_TRUE(absl::StrContains(*m, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
  EXPECT_TRUE(absl::StrContains(*m, "Message-ID: <u1.accepted@upshift>\r\n"));
  EXPECT_TRUE(absl::StrContains(*m, "\r\n\r\nBody\r\nline two\r\n"));
}

TEST(RenderMessage, RefusesHeaderInjection) {
  Email e = Sample();
  e.subject = "Hello\r\nBcc: victim@example.com";
  EXPECT_EQ(RenderMessage(e, "a@example.com", absl::Now()).status().code(), absl::StatusCode::kInvalidArgument);
  e = Sample();
  e.to = "owner@acme.example.com\r\nBcc: victim@example.com";
  EXPECT_EQ(RenderMessage(e, "a@example.com", absl::Now()).status().code(), absl::StatusCode::kInvalidArgument);
  e = Sample();
  e.message_id = "x>\r\nBcc: v@example.com";
  EXPECT_EQ(RenderMessage(e, "a@example.com", absl::Now()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RenderMessage, BodyLineBreaksCannotStartHeaders) {
  Email e = Sample();
  e.body = "first\r\n\r\nBcc: x@example.com\rthird";
  absl::StatusOr<std::string> m = RenderMessage(e, "a@example.com", absl::Now());
  ASSERT_TRUE(m.ok());
  size_t body = m->find("\r\n\r\n");
  EXPECT_EQ(m->find("Bcc:"), m->find("Bcc:", body));  // only ever inside the body
}

TEST(ComposeEmail, TestReadyNamesTheCopyAndHowToConnect) {
  upgrade::v1::Event e;
  e.set_event_id("0f8fad5b-d9cb-469f-a165-70867728950e/succeeded");
  *e.mutable_order() = testing::SampleOrder();
  e.mutable_succeeded()->set_version("18.0");
  std::optional<Email> m = notifier::ComposeEmail(e, {"host=db.example.com port=5432"});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->subject, "Your test database is ready: acme_test_0f8fad5b");
  EXPECT_TRUE(absl::StrContains(m->body, "psql \"host=db.example.com port=5432 dbname=acme_test_0f8fad5b\""));
  EXPECT_EQ(m->message_id, "0f8fad5b-d9cb-469f-a165-70867728950e.succeeded@upshift");
  EXPECT_TRUE(RenderMessage(*m, "a@example.com", absl::Now()).ok());
}

TEST(ComposeEmail, FailureSaysWhyAndThatTheDatabaseIsUnchanged) {
  upgrade::v1::Event e;
  e.set_event_id("x/failed");
  *e.mutable_order() = testing::SampleOrder();
  e.mutable_failed()->set_error("step 16.0->17.0/01 failed: column x does not exist");
  e.mutable_failed()->set_phase("migrate");
  std::optional<Email> m = notifier::ComposeEmail(e, {});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->subject, "Upgrade failed: acme to 18.0 (test)");
  EXPECT_TRUE(absl::StrContains(m->body, "column x does not exist"));
  EXPECT_TRUE(absl::StrContains(m->body, "Your database is unchanged"));
}

TEST(ComposeEmail, ProductionAcceptanceStatesTheEstimatedDowntime) {
  upgrade::v1::Event e;
  e.set_event_id("x/accepted");
  *e.mutable_order() = testing::SampleOrder(upgrade::v1::PURPOSE_PRODUCTION);
  e.mutable_order()->mutable_estimated_downtime()->set_seconds(200);
  e.mutable_accepted();
  std::optional<Email> m = notifier::ComposeEmail(e, {});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->subject, "Upgrade in progress: acme to 18.0 (production)");
  EXPECT_TRUE(absl::StrContains(m->body, "offline during the upgrade: about 3 min 20 s")) << m->body;
}

TEST(ComposeEmail, ARollbackSaysTheDataIsIntactAndWhatFailed) {
  upgrade::v1::Event e;
  e.set_event_id("x/rolled_back");
  *e.mutable_order() = testing::SampleOrder(upgrade::v1::PURPOSE_PRODUCTION);
  e.mutable_rolled_back()->set_error("step 17.0->18.0/02 failed: boom");
  std::optional<Email> m = notifier::ComposeEmail(e, {});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->subject, "Upgrade rolled back: acme is back at 16.0");
  EXPECT_TRUE(absl::StrContains(m->body, "Your data is intact"));
  EXPECT_TRUE(absl::StrContains(m->body, "step 17.0->18.0/02 failed: boom"));
}

TEST(ComposeEmail, AnExpiringCopyIsAnnouncedWithItsDateAndHowToExtendIt) {
  upgrade::v1::Event e;
  e.set_event_id("x/test_copy_expiring/7d/1800000000");
  *e.mutable_order() = testing::SampleOrder();
  e.mutable_test_copy_expiring()->set_days_left(7);
  e.mutable_test_copy_expiring()->mutable_expires_at()->set_seconds(1'800'000'000);
  std::optional<Email> m = notifier::ComposeEmail(e, {});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->subject, "Your test database acme_test_0f8fad5b expires in 7 days");
  EXPECT_TRUE(absl::StrContains(m->body, "2027-01-15 08:00 UTC")) << m->body;
  EXPECT_TRUE(absl::StrContains(m->body, "upgradectl extend acme_test_0f8fad5b"));
  e.mutable_test_copy_expiring()->set_days_left(1);
  EXPECT_EQ(notifier::ComposeEmail(e, {})->subject, "Your test database acme_test_0f8fad5b expires tomorrow");
}

TEST(ComposeEmail, ProgressEventsSendNothing) {
  upgrade::v1::Event e;
  e.set_event_id("x/clone_started");
  *e.mutable_order() = testing::SampleOrder();
  e.mutable_clone_started();
  EXPECT_FALSE(notifier::ComposeEmail(e, {}).has_value());
}

}  // namespace
}  // namespace upshift
