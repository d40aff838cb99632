#include "services/notifier/emails.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "libs/common/time.h"

#include <algorithm>

namespace upshift::notifier {
namespace {

const char* PurposeName(upgrade::v1::Purpose purpose) {
  switch (purpose) {
    case upgrade::v1::PURPOSE_PRODUCTION:
      return "production";
    case upgrade::v1::PURPOSE_REVERT:
      return "revert";
    default:
      return "test";
  }
}

// "3 min 20 s", "45 s", "1 h 5 min": a duration as a person reads it.
std::string Readable(absl::Duration d) {
  int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(d + absl::Milliseconds(500)));
  if (seconds < 60) return absl::StrCat(seconds, " s");
  if (seconds < 3600) return absl::StrCat(seconds / 60, " min ", seconds % 60, " s");
  return absl::StrCat(seconds / 3600, " h ", (seconds % 3600) / 60, " min");
}

// A revert's emails: it takes the database back to its restore point, and what is lost, since when.
std::optional<Email> RevertEmail(const upgrade::v1::Event& event, Email email) {
  const upgrade::v1::Order& o = event.order();
  const std::string since =
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", FromProto(o.writes_lost_since()), absl::UTCTimeZone());
  switch (event.kind_case()) {
    case upgrade::v1::Event::kAccepted:
      email.subject = absl::StrCat("Revert in progress: ", o.database(), " goes back to ", o.target_version());
      email.body = absl::StrCat(
          "Hello,\n\nAs requested, we are reverting your database \"", o.database(), "\" to the restore point taken "
          "before its\nupgrade to ", o.from_version(), ": it goes offline, is replaced by that restore point, and comes "
          "back online at version ", o.target_version(), ".\n\nEverything written to \"", o.database(), "\" since ",
          since, " is lost.\n\nUpgrade id: ", o.upgrade_id(), " (reverting ", o.reverts_upgrade_id(),
          ")\n\nWe will email you again when it is done.\n\n-- Upshift\n");
      return email;
    case upgrade::v1::Event::kSucceeded:
      email.subject = absl::StrCat("Your database ", o.database(), " is reverted to ", o.target_version());
      email.body = absl::StrCat(
          "Hello,\n\nYour database \"", o.database(), "\" is back at version ", o.target_version(),
          ", as it was before its upgrade to ", o.from_version(), ", and online. It was offline for ",
          Readable(FromProto(event.succeeded().offline_duration())), ".\n\nWhat was written to it since ", since,
          " is gone.\n\nUpgrade id: ", o.upgrade_id(), "\n\n-- Upshift\n");
      return email;
    case upgrade::v1::Event::kFailed:
      email.subject = absl::StrCat("Revert failed: ", o.database(), " stays at ", o.from_version());
      email.body = absl::StrCat("Hello,\n\nThe revert of your database \"", o.database(), "\" failed:\n\n  ",
                                event.failed().error(), "\n\nYour database is unchanged, at version ",
                                o.from_version(), ", and online.\n\nUpgrade id: ", o.upgrade_id(),
                                "\n\n-- Upshift\n");
      return email;
    case upgrade::v1::Event::kCancelled:
      email.subject = absl::StrCat("Revert cancelled: ", o.database(), " stays at ", o.from_version());
      email.body = absl::StrCat("Hello,\n\nThe revert of your database \"", o.database(), "\" was ",
                                event.cancelled().reason(), " before it went offline. Nothing was changed.\n\n",
                                "Upgrade id: ", o.upgrade_id(), "\n\n-- Upshift\n");
      return email;
    default:
      return std::nullopt;
  }
}

// A few lines a customer can read: what the checks found.
std::string ReportSummary(const upgrade::v1::IntegrityReport& report) {
  if (report.tables_size() == 0) return "";
  int kept = 0, unchanged = 0;
  for (const upgrade::v1::TableReport& t : report.tables()) {
    if (t.rows_before() == t.rows_after()) ++kept;
    if (t.declared_unchanged() && t.content_unchanged()) ++unchanged;
  }
  int64_t step_ms = 0;
  for (const upgrade::v1::StepReport& s : report.steps()) step_ms += s.duration_ms();
  return absl::StrCat("\nIntegrity report:\n  ", report.tables_size(), " tables, ", kept,
                      " with the same row count before and after\n  ", unchanged,
                      " tables declared unchanged, verified identical by checksum\n  ",
                      report.constraints_validated_size(), " constraints validated on every row\n  ",
                      report.checks_size(), " checks passed\n  ", report.steps_size(), " steps in ", step_ms,
                      " ms\n");
}

std::string MessageId(const upgrade::v1::Event& event) {
  return absl::StrCat(absl::StrReplaceAll(EmailKey(event), {{"/", "."}}), "@upshift");
}

// A heartbeat of a Production upgrade whose database is offline (its restore point made: any record
// past the acceptance) saying that its hosting server does not answer.
bool OfflineServerAway(const upgrade::v1::Event& event) {
  return event.kind_case() == upgrade::v1::Event::kHeartbeat &&
         event.order().purpose() == upgrade::v1::PURPOSE_PRODUCTION &&
         absl::EndsWith(event.heartbeat().waiting_for(), "does not answer") &&
         event.heartbeat().working_on() != "accepted";
}

}  // namespace

std::string EmailKey(const upgrade::v1::Event& event) {
  if (OfflineServerAway(event)) return absl::StrCat(event.order().upgrade_id(), "/server_away");
  return event.event_id();
}

std::optional<Email> ComposeEmail(const upgrade::v1::Event& event, const EmailOptions& options) {
  const upgrade::v1::Order& o = event.order();
  // A check changes nothing and its caller follows it through the API: nobody is emailed.
  if (o.purpose() == upgrade::v1::PURPOSE_CHECK) return std::nullopt;
  Email email;
  email.to = o.notify_email();
  email.message_id = MessageId(event);
  bool test = o.purpose() == upgrade::v1::PURPOSE_TEST;
  if (o.purpose() == upgrade::v1::PURPOSE_REVERT) return RevertEmail(event, std::move(email));
  switch (event.kind_case()) {
    case upgrade::v1::Event::kAccepted:
      email.subject = absl::StrCat("Upgrade in progress: ", o.database(), " to ", o.target_version(), " (",
                                   PurposeName(o.purpose()), ")");
      email.body = absl::StrCat(
          "Hello,\n\nWe have started a ", PurposeName(o.purpose()), " upgrade of your database \"", o.database(),
          "\" from version ", o.from_version(), " to ", o.target_version(), ".\n\n",
          test ? "Your database stays online and unchanged: we upgrade a copy of it, which you can check before\n"
                 "upgrading your production database.\n"
               : absl::StrCat("Your database will be offline during the upgrade: about ",
                              Readable(FromProto(o.estimated_downtime())),
                              " (estimated from your test upgrade).\nWe keep a verified restore point: if anything "
                              "fails, your database is restored automatically.\n",
                              o.has_max_offline()
                                  ? absl::StrCat("It stays offline at most ", Readable(FromProto(o.max_offline())),
                                                 ": an upgrade not done by then is stopped and your database\n"
                                                 "restored as it was.\n")
                                  : ""),
          "\nUpgrade id: ", o.upgrade_id(), "\n\nWe will email you again when it is done.\n\n-- Upshift\n");
      return email;
    case upgrade::v1::Event::kScheduled:
    case upgrade::v1::Event::kReminder: {
      const bool reminder = event.kind_case() == upgrade::v1::Event::kReminder;
      const std::string when =
          absl::FormatTime("%Y-%m-%d %H:%M UTC", FromProto(o.not_before()), absl::UTCTimeZone());
      email.subject = absl::StrCat(reminder ? "Reminder: upgrade of " : "Upgrade scheduled: ", o.database(), " to ",
                                   o.target_version(), " (", PurposeName(o.purpose()), ") starts ",
                                   reminder ? absl::StrCat("in ", Readable(FromProto(event.reminder().starts_in())))
                                            : absl::StrCat("at ", when));
      email.body = absl::StrCat(
          "Hello,\n\nThe ", PurposeName(o.purpose()), " upgrade of your database \"", o.database(), "\" from version ",
          o.from_version(), " to ", o.target_version(), " is scheduled to start at ", when,
          o.has_latest_start() ? ", in your maintenance window" : "", ".\n\n",
          test ? "Your database stays online and unchanged: we will upgrade a copy of it.\n"
               : absl::StrCat("Your database will be offline during the upgrade: about ",
                              Readable(FromProto(o.estimated_downtime())),
                              " (estimated from your test upgrade), and at most ", Readable(FromProto(o.max_offline())),
                              ".\nPlease tell its users of this downtime. We keep a verified restore point: if anything "
                              "fails,\nyour database is restored automatically.\n"),
          "\nUntil it starts you can cancel it (CancelUpgrade, or: upgradectl cancel ", o.upgrade_id(), ").\n",
          "\nUpgrade id: ", o.upgrade_id(), "\n\n-- Upshift\n");
      return email;
    }
    case upgrade::v1::Event::kSucceeded:
      if (test) {
        email.subject = absl::StrCat("Your test database is ready: ", o.test_database());
        email.body = absl::StrCat(
            "Hello,\n\nThe test upgrade of \"", o.database(), "\" to ", o.target_version(),
            " succeeded. Your upgraded copy is ready:\n\n  database: ", o.test_database(), "\n  version:  ",
            o.target_version(), "\n  connect:  psql \"", options.connect_hint,
            options.connect_hint.empty() ? "" : " ", "dbname=", o.test_database(),
            "\"\n\nThe copy is neutralized: it sends no email and runs no scheduled jobs. Your database \"",
            o.database(), "\"\nis unchanged. When you are satisfied with the copy, order the production upgrade.\n",
            ReportSummary(event.succeeded().report()), "\n",
            "Upgrade id: ", o.upgrade_id(), "\n\n-- Upshift\n");
      } else {
        email.subject = absl::StrCat("Your database ", o.database(), " is upgraded to ", o.target_version());
        email.body = absl::StrCat("Hello,\n\nYour database \"", o.database(), "\" is upgraded to ",
                                  o.target_version(), " and back online. It was offline for ",
                                  Readable(FromProto(event.succeeded().offline_duration())), " (estimated: ",
                                  Readable(FromProto(o.estimated_downtime())), ").\n\nIts restore point \"",
                                  o.restore_point(), "\" is kept for a while in case you need it.\n",
                                  ReportSummary(event.succeeded().report()), "\nUpgrade id: ",
                                  o.upgrade_id(), "\n\n-- Upshift\n");
      }
      return email;
    case upgrade::v1::Event::kFailed:
      email.subject = absl::StrCat("Upgrade failed: ", o.database(), " to ", o.target_version(), " (",
                                   PurposeName(o.purpose()), ")");
      email.body = absl::StrCat("Hello,\n\nThe ", PurposeName(o.purpose()), " upgrade of your database \"",
                                o.database(), "\" to ", o.target_version(), " failed", 
                                event.failed().phase().empty() ? "" : absl::StrCat(" while it was in phase \"", event.failed().phase(), "\""),
                                ":\n\n  ", event.failed().error(), "\n\n",
                                "Your database is unchanged", test ? "" : " and back online", ". Upgrade id: ",
                                o.upgrade_id(),
                                "\n\n-- Upshift\n");
      return email;
    case upgrade::v1::Event::kTestCopyExpiring: {
      const auto& expiring = event.test_copy_expiring();
      std::string when = absl::FormatTime("%Y-%m-%d %H:%M UTC", FromProto(expiring.expires_at()), absl::UTCTimeZone());
      email.subject = absl::StrCat("Your test database ", o.test_database(), " expires ",
                                   expiring.days_left() <= 1 ? "tomorrow" : absl::StrCat("in ", expiring.days_left(), " days"));
      email.body = absl::StrCat("Hello,\n\nThe test copy \"", o.test_database(), "\" of your database \"", o.database(),
                                "\" will be removed on ", when,
                                ".\nTo keep it longer, extend it (ExtendTestCopy, or: upgradectl extend ", o.test_database(),
                                ").\n\nUpgrade id: ", o.upgrade_id(), "\n\n-- Upshift\n");
      return email;
    }
    case upgrade::v1::Event::kCancelled:
      email.subject = absl::StrCat("Upgrade cancelled: ", o.database(), " to ", o.target_version(), " (",
                                   PurposeName(o.purpose()), ")");
      email.body = absl::StrCat("Hello,\n\nThe ", PurposeName(o.purpose()), " upgrade of your database \"",
                                o.database(), "\" to ", o.target_version(), " was ", event.cancelled().reason(),
                                ".\n\nYour database is unchanged", test ? " and its test copy was removed" : "",
                                ".\n\nUpgrade id: ", o.upgrade_id(), "\n\n-- Upshift\n");
      return email;
    case upgrade::v1::Event::kRolledBack:
      if (event.rolled_back().cancelled()) {
        email.subject = absl::StrCat("Upgrade cancelled: ", o.database(), " is back online at ", o.from_version());
        email.body = absl::StrCat("Hello,\n\nThe production upgrade of your database \"", o.database(), "\" to ",
                                  o.target_version(), " was ", event.rolled_back().error(),
                                  " before anything was migrated.\n\nYour database is unchanged and back online at "
                                  "version ", o.from_version(), ".\n\nUpgrade id: ", o.upgrade_id(),
                                  "\n\n-- Upshift\n");
        return email;
      }
      email.subject = absl::StrCat("Upgrade rolled back: ", o.database(), " is back at ", o.from_version());
      email.body = absl::StrCat("Hello,\n\nThe production upgrade of your database \"", o.database(), "\" to ",
                                o.target_version(), " failed:\n\n  ", event.rolled_back().error(),
                                "\n\nYour data is intact: we restored the database from the restore point taken "
                                "before the upgrade, and it is back online at version ",
                                o.from_version(), ".\n\nUpgrade id: ", o.upgrade_id(), "\n\n-- Upshift\n");
      return email;
    case upgrade::v1::Event::kHeartbeat:
      if (!OfflineServerAway(event)) return std::nullopt;
      email.subject = absl::StrCat("Upgrade delayed: ", o.database(), " stays offline while its server is away");
      email.body = absl::StrCat(
          "Hello,\n\nYour database \"", o.database(), "\" is offline for its production upgrade to ",
          o.target_version(), ", and the server that hosts it stopped answering: the upgrade is paused.\n\n",
          "Nothing is lost. As soon as the server is back, the upgrade goes on, or, if it cannot, your database "
          "is restored\nfrom the verified restore point taken before the upgrade. Your database stays offline "
          "until then,\nlonger than the ", Readable(FromProto(o.estimated_downtime())),
          " we estimated.\n\nUpgrade id: ", o.upgrade_id(), "\n\nWe will email you again when it is back online."
          "\n\n-- Upshift\n");
      return email;
    default:
      return std::nullopt;
  }
}

}  // namespace upshift::notifier
