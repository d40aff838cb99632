#include "services/notifier/emails.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace upshift::notifier {
namespace {

const char* PurposeName(upgrade::v1::Purpose purpose) {
  return purpose == upgrade::v1::PURPOSE_PRODUCTION ? "production" : "test";
}

std::string MessageId(const upgrade::v1::Event& event) {
  return absl::StrCat(absl::StrReplaceAll(event.event_id(), {{"/", "."}}), "@upshift");
}

}  // namespace

std::optional<Email> ComposeEmail(const upgrade::v1::Event& event, const EmailOptions& options) {
  const upgrade::v1::Order& o = event.order();
  Email email;
  email.to = o.notify_email();
  email.message_id = MessageId(event);
  bool test = o.purpose() == upgrade::v1::PURPOSE_TEST;
  switch (event.kind_case()) {
    case upgrade::v1::Event::kAccepted:
      email.subject = absl::StrCat("Upgrade in progress: ", o.database(), " to ", o.target_version(), " (",
                                   PurposeName(o.purpose()), ")");
      email.body = absl::StrCat(
          "Hello,\n\nWe have started a ", PurposeName(o.purpose()), " upgrade of your database \"", o.database(),
          "\" from version ", o.from_version(), " to ", o.target_version(), ".\n\n",
          test ? "Your database stays online and unchanged: we upgrade a copy of it, which you can check before\n"
                 "upgrading your production database.\n"
               : "",
          "\nUpgrade id: ", o.upgrade_id(), "\n\nWe will email you again when it is done.\n\n-- Upshift\n");
      return email;
    case upgrade::v1::Event::kSucceeded:
      if (test) {
        email.subject = absl::StrCat("Your test database is ready: ", o.test_database());
        email.body = absl::StrCat(
            "Hello,\n\nThe test upgrade of \"", o.database(), "\" to ", o.target_version(),
            " succeeded. Your upgraded copy is ready:\n\n  database: ", o.test_database(), "\n  version:  ",
            o.target_version(), "\n  connect:  psql \"", options.connect_hint,
            options.connect_hint.empty() ? "" : " ", "dbname=", o.test_database(),
            "\"\n\nThe copy is neutralized: it sends no email and runs no scheduled jobs. Your database \"",
            o.database(), "\"\nis unchanged. When you are satisfied with the copy, order the production upgrade.\n\n",
            "Upgrade id: ", o.upgrade_id(), "\n\n-- Upshift\n");
      } else {
        email.subject = absl::StrCat("Your database ", o.database(), " is upgraded to ", o.target_version());
        email.body = absl::StrCat("Hello,\n\nYour database \"", o.database(), "\" is upgraded to ",
                                  o.target_version(), " and back online.\n\nUpgrade id: ", o.upgrade_id(),
                                  "\n\n-- Upshift\n");
      }
      return email;
    case upgrade::v1::Event::kFailed:
      email.subject = absl::StrCat("Upgrade failed: ", o.database(), " to ", o.target_version(), " (",
                                   PurposeName(o.purpose()), ")");
      email.body = absl::StrCat("Hello,\n\nThe ", PurposeName(o.purpose()), " upgrade of your database \"",
                                o.database(), "\" to ", o.target_version(), " failed", 
                                event.failed().phase().empty() ? "" : absl::StrCat(" while it was in phase \"", event.failed().phase(), "\""),
                                ":\n\n  ", event.failed().error(), "\n\n",
                                test ? "Your database is unchanged. " : "", "Upgrade id: ", o.upgrade_id(),
                                "\n\n-- Upshift\n");
      return email;
    default:
      return std::nullopt;
  }
}

}  // namespace upshift::notifier
