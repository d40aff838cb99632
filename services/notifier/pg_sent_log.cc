#include "services/notifier/pg_sent_log.h"

#include "absl/strings/str_cat.h"
#include "libs/pg/pool.h"
#include "libs/pg/values.h"
#include "libs/pg/schema_migrations.h"

namespace upshift::notifier {
namespace {

// Version 1: the schema as every release before schema versions made it (idempotent, so that it
// adopts a platform database one of them made). Released versions are never changed: a change is
// a new version.
constexpr char kSchemaV1[] = R"sql(
CREATE SCHEMA IF NOT EXISTS notifier;
CREATE TABLE IF NOT EXISTS notifier.sent (
  event_id   text PRIMARY KEY,
  upgrade_id text NOT NULL,
  recipient  text NOT NULL,
  subject    text NOT NULL,
  sent_at    timestamptz NOT NULL DEFAULT now()
);
)sql";

// Version 2: the orders request announced (the only source of a recipient), and which email
// announced an upgrade's end (one end per upgrade).
constexpr char kSchemaV2[] = R"sql(
CREATE TABLE notifier.orders (
  upgrade_id    text PRIMARY KEY,
  body          bytea NOT NULL,  -- upgrade.v1.Order, from request's signed acceptance
  remembered_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE notifier.sent ADD COLUMN ends boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX sent_one_end ON notifier.sent (upgrade_id) WHERE ends;
CREATE INDEX sent_by_upgrade ON notifier.sent (upgrade_id);
-- Events that came ahead of their upgrade's acceptance (the topics are not ordered with each other):
-- emailed, in the order they came, once it arrives, if they carry its very order.
CREATE TABLE notifier.pending (
  seq         bigserial PRIMARY KEY,
  event_id    text NOT NULL UNIQUE,
  upgrade_id  text NOT NULL,
  body        bytea NOT NULL,  -- upgrade.v1.Event
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_by_upgrade ON notifier.pending (upgrade_id, seq);
)sql";

const std::vector<pg::SchemaMigration> kMigrations = {
  {1, "baseline: the schema before versions", kSchemaV1},
  {2, "announced orders, one end per upgrade", kSchemaV2},
};

}  // namespace

absl::StatusOr<std::unique_ptr<PgSentLog>> PgSentLog::Open(const std::string& conninfo) {
  auto pool = std::make_unique<pg::Pool>(conninfo, 2);
  if (absl::Status s = pg::MigrateSchema(*pool, "notifier", kMigrations); !s.ok()) return s;
  return std::unique_ptr<PgSentLog>(new PgSentLog(std::move(pool)));
}

PgSentLog::PgSentLog(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}
PgSentLog::~PgSentLog() = default;

absl::StatusOr<bool> PgSentLog::WasSent(const std::string& event_id) {
  bool sent = false;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    sent = !tx.exec_params("SELECT 1 FROM notifier.sent WHERE event_id = $1", event_id).empty();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return sent;
}

absl::Status PgSentLog::MarkSent(const std::string& event_id, const std::string& upgrade_id, const std::string& to,
                                 const std::string& subject, bool ends) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO notifier.sent (event_id, upgrade_id, recipient, subject, ends) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT DO NOTHING",
        event_id, upgrade_id, to, subject, ends);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<std::string>> PgSentLog::EndAnnounced(const std::string& upgrade_id) {
  std::optional<std::string> event_id;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params("SELECT event_id FROM notifier.sent WHERE upgrade_id = $1 AND ends", upgrade_id);
    event_id.reset();
    if (!rows.empty()) event_id = rows[0][0].as<std::string>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return event_id;
}

absl::Status PgSentLog::RememberOrder(const upgrade::v1::Order& order) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO notifier.orders (upgrade_id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   order.upgrade_id(), pqxx::binarystring(order.SerializeAsString()));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<upgrade::v1::Order>> PgSentLog::RememberedOrder(const std::string& upgrade_id) {
  std::optional<upgrade::v1::Order> order;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params("SELECT body FROM notifier.orders WHERE upgrade_id = $1", upgrade_id);
    order.reset();
    if (rows.empty()) return absl::OkStatus();
    pqxx::binarystring body(rows[0][0]);
    upgrade::v1::Order parsed;
    if (!parsed.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return absl::DataLossError(absl::StrCat("notifier.orders holds an unreadable order for ", upgrade_id));
    }
    order = std::move(parsed);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return order;
}

absl::Status PgSentLog::Defer(const upgrade::v1::Event& event) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO notifier.pending (event_id, upgrade_id, body) VALUES ($1, $2, $3) "
                   "ON CONFLICT DO NOTHING",
                   event.event_id(), event.order().upgrade_id(), pqxx::binarystring(event.SerializeAsString()));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<upgrade::v1::Event>> PgSentLog::Deferred(const std::string& upgrade_id) {
  std::vector<upgrade::v1::Event> events;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    events.clear();
    for (const auto& row :
         tx.exec_params("SELECT body FROM notifier.pending WHERE upgrade_id = $1 ORDER BY seq", upgrade_id)) {
      pqxx::binarystring body(row[0]);
      if (!events.emplace_back().ParseFromArray(body.data(), static_cast<int>(body.size()))) {
        return absl::DataLossError(absl::StrCat("notifier.pending holds an unreadable event of ", upgrade_id));
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return events;
}

absl::Status PgSentLog::ForgetDeferred(const std::string& event_id) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("DELETE FROM notifier.pending WHERE event_id = $1", event_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> PgSentLog::AwaitingAcceptance(absl::Time kept_before, int limit) {
  std::vector<std::string> ids;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    ids.clear();
    for (const auto& row : tx.exec_params(
             "SELECT upgrade_id FROM notifier.pending GROUP BY upgrade_id "
             "HAVING min(received_at) < $1::timestamptz ORDER BY min(received_at), upgrade_id LIMIT $2",
             pg::FormatTime(kept_before), limit)) {
      ids.push_back(row[0].as<std::string>());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return ids;
}

absl::Status PgSentLog::ForgetHeld(const std::string& upgrade_id) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("DELETE FROM notifier.pending WHERE upgrade_id = $1", upgrade_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<int> PgSentLog::Prune(absl::Time cutoff, absl::Time pending_cutoff, int batch) {
  int forgotten = 0;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    forgotten = static_cast<int>(
        tx.exec_params("DELETE FROM notifier.pending WHERE seq IN (SELECT seq FROM notifier.pending "
                       "WHERE received_at < $1::timestamptz ORDER BY seq LIMIT $2)",
                       pg::FormatTime(pending_cutoff), batch)
            .affected_rows());
    pqxx::result ended = tx.exec_params(
        "SELECT upgrade_id FROM notifier.sent WHERE ends AND sent_at < $1::timestamptz ORDER BY sent_at LIMIT $2",
        pg::FormatTime(cutoff), batch);
    forgotten += static_cast<int>(ended.size());
    for (const auto& row : ended) {
      const std::string id = row[0].as<std::string>();
      tx.exec_params("DELETE FROM notifier.orders WHERE upgrade_id = $1", id);
      tx.exec_params("DELETE FROM notifier.sent WHERE upgrade_id = $1", id);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return forgotten;
}

}  // namespace upshift::notifier
