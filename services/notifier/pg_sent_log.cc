#include "services/notifier/pg_sent_log.h"

#include "libs/pg/pg.h"
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

const std::vector<pg::SchemaMigration> kMigrations = {
  {1, "baseline: the schema before versions", kSchemaV1},
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
                                 const std::string& subject) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO notifier.sent (event_id, upgrade_id, recipient, subject) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        event_id, upgrade_id, to, subject);
    return absl::OkStatus();
  });
}

}  // namespace upshift::notifier
