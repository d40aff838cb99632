#include "services/request/pg_order_store.h"

#include "absl/strings/str_cat.h"
#include "libs/common/time.h"
#include "libs/pg/pool.h"
#include "libs/pg/values.h"
#include "libs/pg/schema_migrations.h"

namespace upshift::request {
namespace {

// Version 1: the schema as every release before schema versions made it (idempotent, so that it
// adopts a platform database one of them made). Released versions are never changed: a change is
// a new version.
constexpr char kSchemaV1[] = R"sql(
CREATE SCHEMA IF NOT EXISTS request;
CREATE TABLE IF NOT EXISTS request.orders (
  upgrade_id     text PRIMARY KEY,
  database       text NOT NULL,
  from_version   text NOT NULL,
  target_version text NOT NULL,
  purpose        integer NOT NULL,
  notify_email   text NOT NULL,
  request_id     text,
  test_database  text,
  restore_point  text,
  estimated_downtime_ms bigint NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL,
  finished_at    timestamptz,
  outcome        text NOT NULL DEFAULT 'active' CHECK (outcome IN ('active', 'succeeded', 'failed', 'cancelled')),
  cancel_requested_at timestamptz,
  copy_expires_at timestamptz,
  copy_removed   boolean NOT NULL DEFAULT false,
  -- When a worker passed the point after which the order can no longer be cancelled.
  no_return_at   timestamptz,
  -- What a Test measured, for its Production upgrade's downtime estimate.
  clone_ms          bigint NOT NULL DEFAULT 0,
  migrate_ms        bigint NOT NULL DEFAULT 0,
  source_size_bytes bigint NOT NULL DEFAULT 0
);
-- The order exactly as admitted and published (upgrade.v1.Order): what the workers act on, compared
-- field by field with the records that name it. The columns above are for queries.
ALTER TABLE request.orders ADD COLUMN IF NOT EXISTS order_bytes bytea;
-- The tenant of the order's database; request_ids are unique per tenant. Orders admitted before
-- tenancy keep '' (only operators see them).
ALTER TABLE request.orders ADD COLUMN IF NOT EXISTS tenant text NOT NULL DEFAULT '';
ALTER TABLE request.orders DROP CONSTRAINT IF EXISTS orders_request_id_key;
CREATE UNIQUE INDEX IF NOT EXISTS orders_request_id_per_tenant ON request.orders (tenant, request_id);
-- One active upgrade and one active check (purpose 3) per database, enforced by the database itself.
DROP INDEX IF EXISTS request.orders_one_active;
CREATE UNIQUE INDEX IF NOT EXISTS orders_one_active_upgrade ON request.orders (database)
  WHERE outcome = 'active' AND purpose <> 3;
CREATE UNIQUE INDEX IF NOT EXISTS orders_one_active_check ON request.orders (database)
  WHERE outcome = 'active' AND purpose = 3;
CREATE INDEX IF NOT EXISTS orders_by_database ON request.orders (database, created_at DESC);
CREATE INDEX IF NOT EXISTS orders_by_test_database ON request.orders (test_database);
-- The audit trail: every mutating call of an authenticated caller (upgrade.v1.AuditRecord).
CREATE TABLE IF NOT EXISTS request.audit (
  seq      bigserial PRIMARY KEY,
  at       timestamptz NOT NULL,
  tenant   text NOT NULL,
  database text NOT NULL,
  record   bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_tenant ON request.audit (tenant, seq DESC);
CREATE INDEX IF NOT EXISTS audit_by_database ON request.audit (database, seq DESC);
-- The workers' claims on pieces of upgrades' work (upgrade.v1.ClaimWorkRequest).
CREATE TABLE IF NOT EXISTS request.claims (
  upgrade_id text NOT NULL,
  work       text NOT NULL,
  holder     text NOT NULL,
  expires_at timestamptz NOT NULL,
  -- The work was done and its outcome announced (by `holder`): claimed no more.
  done       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (upgrade_id, work)
);
CREATE TABLE IF NOT EXISTS request.outbox (
  id      bigserial PRIMARY KEY,
  topic   text NOT NULL,
  key     text NOT NULL,
  payload bytea NOT NULL
);
)sql";

const std::vector<pg::SchemaMigration> kMigrations = {
  {1, "baseline: the schema before versions", kSchemaV1},
  {2, "outbox rows record when they were enqueued (upshift_outbox_oldest_age_seconds)",
   "ALTER TABLE request.outbox ADD COLUMN enqueued_at timestamptz NOT NULL DEFAULT now()"},
  {3, "rate-limit buckets shared by every replica (PgRateLimiter)",
   "CREATE TABLE request.rate_buckets (name text NOT NULL, key text NOT NULL, "
   "tokens double precision NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (name, key))"},
  {4, "a Test's checksum time, the restore point's verification in its Production estimate",
   "ALTER TABLE request.orders ADD COLUMN checksum_ms bigint NOT NULL DEFAULT 0"},
  {5, "each claim's hosting server, for the servers' capacity across replicas",
   "ALTER TABLE request.claims ADD COLUMN server text NOT NULL DEFAULT '';"
   "CREATE INDEX claims_live_by_server ON request.claims (server, work) WHERE NOT done"},
  {6, "a Test's copy time and how its restore point's verification was timed, for its Production estimate",
   "ALTER TABLE request.orders ADD COLUMN copy_ms bigint NOT NULL DEFAULT 0, "
   "ADD COLUMN verified_by_files boolean NOT NULL DEFAULT false"},
  {7, "scheduled orders: when each may start, when it started and when its customer was reminded",
   "ALTER TABLE request.orders ADD COLUMN not_before timestamptz, ADD COLUMN started_at timestamptz, "
   "ADD COLUMN reminded_at timestamptz;"
   "UPDATE request.orders SET started_at = created_at;"
   "CREATE INDEX orders_scheduled ON request.orders (not_before) WHERE outcome = 'active' AND started_at IS NULL"},
  {8, "maintenance windows of tenants and of their databases (upgrade.v1.MaintenanceWindow)",
   "CREATE TABLE request.maintenance_windows (tenant text NOT NULL, database text NOT NULL, "
   "window_bytes bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant, database))"},
  {9, "rollouts and their databases (RolloutService), leased by one replica at a time",
   "CREATE TABLE request.rollouts (rollout_id text PRIMARY KEY, request_id text UNIQUE, spec bytea NOT NULL, "
   "state int NOT NULL, reason text NOT NULL DEFAULT '', wave int NOT NULL DEFAULT 0, waves int NOT NULL, "
   "next_wave_at timestamptz, seen_failures int NOT NULL DEFAULT 0, created_by text NOT NULL, "
   "created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, holder text, lease_until timestamptz);"
   "CREATE INDEX rollouts_by_state ON request.rollouts (state, created_at);"
   "CREATE TABLE request.rollout_members (rollout_id text NOT NULL REFERENCES request.rollouts ON DELETE CASCADE, "
   "database text NOT NULL, server text NOT NULL, tenant text NOT NULL, wave int NOT NULL, state text NOT NULL, "
   "upgrade_id text, note text NOT NULL DEFAULT '', ordered_at timestamptz, ended_at timestamptz, "
   "PRIMARY KEY (rollout_id, database))"},
  {10, "no verification timed by Tests: a Production's restore point is the database itself (issue 23)",
   "ALTER TABLE request.orders DROP COLUMN checksum_ms, DROP COLUMN verified_by_files"},
};

const std::string kColumns = absl::StrCat(
    "upgrade_id, database, from_version, target_version, purpose, notify_email, coalesce(request_id, ''), "
    "coalesce(test_database, ''), ",
    pg::MicrosOf("created_at"), ", ", pg::MicrosOf("finished_at"),
    ", outcome, coalesce(restore_point, ''), estimated_downtime_ms, clone_ms, migrate_ms, source_size_bytes, ",
    pg::MicrosOf("cancel_requested_at"), ", ", pg::MicrosOf("no_return_at"), ", ", pg::MicrosOf("copy_expires_at"),
    ", copy_removed, order_bytes, copy_ms, ", pg::MicrosOf("started_at"), ", ",
    pg::MicrosOf("reminded_at"));

StoredOrder FromRow(const pqxx::row& row) {
  StoredOrder s;
  upgrade::v1::Order& o = s.order;
  o.set_upgrade_id(row[0].as<std::string>());
  o.set_database(row[1].as<std::string>());
  o.set_from_version(row[2].as<std::string>());
  o.set_target_version(row[3].as<std::string>());
  o.set_purpose(static_cast<upgrade::v1::Purpose>(row[4].as<int>()));
  o.set_notify_email(row[5].as<std::string>());
  o.set_request_id(row[6].as<std::string>());
  o.set_test_database(row[7].as<std::string>());
  ToProto(pg::TimeFromField(row[8]), o.mutable_created_at());
  s.finished_at = pg::TimeFromField(row[9]);
  std::string outcome = row[10].as<std::string>();
  s.outcome = outcome == "succeeded"   ? Outcome::kSucceeded
              : outcome == "failed"    ? Outcome::kFailed
              : outcome == "cancelled" ? Outcome::kCancelled
                                       : Outcome::kActive;
  o.set_restore_point(row[11].as<std::string>());
  if (int64_t ms = row[12].as<int64_t>(); ms > 0) ToProto(absl::Milliseconds(ms), o.mutable_estimated_downtime());
  s.timings.clone = absl::Milliseconds(row[13].as<int64_t>());
  s.timings.migrate = absl::Milliseconds(row[14].as<int64_t>());
  s.timings.source_size_bytes = row[15].as<int64_t>();
  s.cancel_requested_at = pg::TimeFromField(row[16]);
  s.no_return_at = pg::TimeFromField(row[17]);
  s.copy_expires_at = pg::TimeFromField(row[18]);
  s.copy_removed = row[19].as<bool>();
  // Orders admitted before order_bytes existed keep the columns' (coarser) values.
  if (!row[20].is_null()) o.ParseFromString(pqxx::binarystring(row[20]).str());
  s.timings.copy = absl::Milliseconds(row[21].as<int64_t>());
  s.started_at = pg::TimeFromField(row[22]);
  s.reminded_at = pg::TimeFromField(row[23]);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgOrderStore>> PgOrderStore::Open(const std::string& conninfo, int pool_size) {
  auto pool = std::make_unique<pg::Pool>(conninfo, pool_size);
  if (absl::Status s = pg::MigrateSchema(*pool, "request", kMigrations); !s.ok()) return s;
  return std::unique_ptr<PgOrderStore>(new PgOrderStore(std::move(pool)));
}

PgOrderStore::PgOrderStore(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}
PgOrderStore::~PgOrderStore() = default;

absl::StatusOr<std::vector<StoredOrder>> PgOrderStore::Query(const std::string& where, const std::string& arg,
                                                              const std::optional<std::string>& second) {
  std::vector<StoredOrder> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    const std::string sql =
        absl::StrCat("SELECT ", kColumns, " FROM request.orders WHERE ", where, " ORDER BY created_at DESC");
    for (const auto& row : second.has_value() ? tx.exec_params(sql, arg, *second) : tx.exec_params(sql, arg)) {
      out.push_back(FromRow(row));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::optional<StoredOrder>> PgOrderStore::FindByRequestId(const std::string& tenant,
                                                                         const std::string& request_id) {
  absl::StatusOr<std::vector<StoredOrder>> rows = Query("tenant = $1 AND request_id = $2", tenant, request_id);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return rows->front();
}

absl::StatusOr<std::optional<StoredOrder>> PgOrderStore::FindByUpgradeId(const std::string& upgrade_id) {
  absl::StatusOr<std::vector<StoredOrder>> rows = Query("upgrade_id = $1", upgrade_id);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return rows->front();
}

absl::StatusOr<std::optional<StoredOrder>> PgOrderStore::FindActive(const std::string& database) {
  absl::StatusOr<std::vector<StoredOrder>> rows =
      Query("database = $1 AND outcome = 'active' AND purpose <> " + std::to_string(upgrade::v1::PURPOSE_CHECK), database);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return rows->front();
}

absl::StatusOr<std::vector<StoredOrder>> PgOrderStore::ListByDatabase(const std::string& database) {
  return Query("database = $1", database);
}

absl::StatusOr<bool> PgOrderStore::IsTestCopy(const std::string& database) {
  absl::StatusOr<std::vector<StoredOrder>> rows = Query("test_database = $1 OR restore_point = $1", database);
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

namespace {

void InsertOutbox(pqxx::work& tx, const OutgoingRecord& record) {
  tx.exec_params("INSERT INTO request.outbox (topic, key, payload) VALUES ($1, $2, $3)", record.topic, record.key,
                 pqxx::binarystring(record.payload));
}

void InsertAudit(pqxx::work& tx, const AuditEntry& entry) {
  const upgrade::v1::AuditRecord& r = entry.record;
  tx.exec_params("INSERT INTO request.audit (at, tenant, database, record) VALUES ($1, $2, $3, $4)",
                 pg::FormatTime(FromProto(r.at())), r.tenant(), r.database(), pqxx::binarystring(r.SerializeAsString()));
  InsertOutbox(tx, entry.published);
}

void InsertAuditOf(pqxx::work& tx, const AuditOf& audit_of, const upgrade::v1::Order& order) {
  if (!audit_of) return;
  if (std::optional<AuditEntry> entry = audit_of(order); entry.has_value()) InsertAudit(tx, *entry);
}

}  // namespace

absl::Status PgOrderStore::Admit(const upgrade::v1::Order& order, const OutgoingRecord& record,
                                 const AuditOf& audit_of) {
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    // Admissions of one database take turns, so that the rule below sees every committed order.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('upshift.request.admit'), hashtext($1))", order.database());
    for (const auto& row : tx.exec_params(
             "SELECT upgrade_id, purpose FROM request.orders WHERE database = $1 AND outcome = 'active'",
             order.database())) {
      if (!MayRunBeside(order.purpose(), static_cast<upgrade::v1::Purpose>(row[1].as<int>()))) {
        return absl::FailedPreconditionError(absl::StrCat(
            row[1].as<int>() == upgrade::v1::PURPOSE_CHECK ? "check " : "upgrade ", row[0].as<std::string>(),
            " of database \"", order.database(), "\" is still active"));
      }
    }
    tx.exec_params(
        "INSERT INTO request.orders (upgrade_id, database, from_version, target_version, purpose, notify_email, "
        "request_id, test_database, created_at, restore_point, estimated_downtime_ms, order_bytes, tenant, "
        "not_before, started_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), NULLIF($8, ''), $9, NULLIF($10, ''), $11, $12, $13, "
        "CASE WHEN $14 THEN $15::timestamptz END, CASE WHEN $14 THEN NULL ELSE $9::timestamptz END)",
        order.upgrade_id(), order.database(), order.from_version(), order.target_version(),
        static_cast<int>(order.purpose()), order.notify_email(), order.request_id(), order.test_database(),
        pg::FormatTime(FromProto(order.created_at())), order.restore_point(),
        absl::ToInt64Milliseconds(FromProto(order.estimated_downtime())), pqxx::binarystring(order.SerializeAsString()),
        order.tenant(), order.has_not_before(), pg::FormatTime(FromProto(order.not_before())));
    InsertOutbox(tx, record);
    InsertAuditOf(tx, audit_of, order);
    return absl::OkStatus();
  });
  return status;
}

absl::StatusOr<int> PgOrderStore::PruneEnded(absl::Time cutoff, int batch) {
  int forgotten = 0;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    pqxx::result gone = tx.exec_params(
        "DELETE FROM request.orders WHERE upgrade_id IN (SELECT upgrade_id FROM request.orders "
        "WHERE outcome <> 'active' AND finished_at < $1::timestamptz AND (purpose <> $2 OR copy_removed) "
        "ORDER BY finished_at LIMIT $3) RETURNING upgrade_id",
        pg::FormatTime(cutoff), static_cast<int>(upgrade::v1::PURPOSE_TEST), batch);
    forgotten = static_cast<int>(gone.size());
    for (const auto& row : gone) {
      tx.exec_params("DELETE FROM request.claims WHERE upgrade_id = $1", row[0].as<std::string>());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return forgotten;
}

absl::StatusOr<int> PgOrderStore::PruneAudit(absl::Time cutoff, int batch) {
  int forgotten = 0;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    // Oldest first by the primary key: the scan stops at the first record young enough to keep.
    forgotten = static_cast<int>(
        tx.exec_params("DELETE FROM request.audit WHERE seq IN (SELECT seq FROM request.audit "
                       "WHERE at < $1::timestamptz ORDER BY seq LIMIT $2)",
                       pg::FormatTime(cutoff), batch)
            .affected_rows());
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return forgotten;
}

absl::Status PgOrderStore::Append(const upgrade::v1::AuditRecord& record, const OutgoingRecord& published) {
  return pool_->Transact([&](pqxx::work& tx) {
    InsertAudit(tx, {record, published});
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<NumberedAuditRecord>> PgOrderStore::ListAudit(const std::string& tenant,
                                                                         const std::string& database,
                                                                         int64_t before_seq, int limit) {
  std::vector<NumberedAuditRecord> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row : tx.exec_params(
             "SELECT seq, record FROM request.audit WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR database = $2) "
             "AND ($3 = 0 OR seq < $3) ORDER BY seq DESC LIMIT $4",
             tenant, database, before_seq, limit)) {
      NumberedAuditRecord r;
      r.seq = row[0].as<int64_t>();
      r.record.ParseFromString(pqxx::binarystring(row[1]).str());
      out.push_back(std::move(r));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PgOrderStore::MarkFinished(const std::string& upgrade_id, Outcome outcome, absl::Time at) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "UPDATE request.orders SET outcome = $2, finished_at = $3 WHERE upgrade_id = $1 AND outcome = 'active'",
        upgrade_id,
        outcome == Outcome::kSucceeded ? "succeeded" : outcome == Outcome::kCancelled ? "cancelled" : "failed",
        pg::FormatTime(at));
    return absl::OkStatus();
  });
}

absl::StatusOr<StoredClaim> PgOrderStore::ClaimWork(const std::string& upgrade_id, const std::string& work,
                                                     const std::string& holder, absl::Duration ttl,
                                                     const Capacity& capacity) {
  StoredClaim claim;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    claim = {};
    if (capacity.limit > 0) {
      // Claims on one server's pool take turns here, so two replicas never both see a free place.
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                     absl::StrCat("upshift.capacity/", capacity.server, "/", capacity.works.front()));
      pqxx::result own = tx.exec_params(
          "SELECT 1 FROM request.claims WHERE upgrade_id = $1 AND work = $2 AND holder = $3 AND NOT done "
          "AND expires_at > now()",
          upgrade_id, work, holder);
      if (own.empty()) {  // a new claim, not a renewal: only within the server's limit
        claim.running = tx.exec_params(
                              "SELECT count(*) FROM request.claims WHERE server = $1 AND work = ANY($2::text[]) "
                              "AND NOT done AND expires_at > now() AND NOT (upgrade_id = $3 AND work = $4)",
                              capacity.server, pg::TextArrayLiteral(capacity.works), upgrade_id, work)[0][0]
                            .as<int>();
        if (claim.running >= capacity.limit) return absl::OkStatus();
        claim.running = 0;
      }
    }
    // Taken when free or expired, renewed when the holder's own; the row lock of ON CONFLICT makes
    // two replicas' claims take turns.
    pqxx::result taken = tx.exec_params(
        "INSERT INTO request.claims (upgrade_id, work, holder, expires_at, server) "
        "VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond', $5) "
        "ON CONFLICT (upgrade_id, work) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, "
        "server = EXCLUDED.server "
        "WHERE NOT request.claims.done AND "
        "(request.claims.holder = EXCLUDED.holder OR request.claims.expires_at <= now()) "
        "RETURNING holder, " + pg::MicrosOf("expires_at") + ", done",
        upgrade_id, work, holder, absl::ToInt64Milliseconds(ttl), capacity.server);
    claim.granted = !taken.empty();
    pqxx::result held = claim.granted ? taken
                                      : tx.exec_params("SELECT holder, " + pg::MicrosOf("expires_at") +
                                                           ", done FROM request.claims WHERE upgrade_id = $1 AND work = $2",
                                                       upgrade_id, work);
    if (held.empty()) return absl::AbortedError("the claim was released meanwhile");  // retried
    claim.holder = held[0][0].as<std::string>();
    claim.expires_at = pg::TimeFromField(held[0][1]);
    claim.done = held[0][2].as<bool>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return claim;
}

absl::StatusOr<std::map<std::pair<std::string, std::string>, int>> PgOrderStore::LiveWork() {
  std::map<std::pair<std::string, std::string>, int> live;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    live.clear();
    for (const auto& row : tx.exec(
             "SELECT server, CASE WHEN work = 'plan' THEN 'plans' ELSE 'copies' END, count(*) FROM request.claims "
             "WHERE server <> '' AND NOT done AND expires_at > now() GROUP BY 1, 2")) {
      live[{row[0].as<std::string>(), row[1].as<std::string>()}] = row[2].as<int>();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return live;
}

absl::Status PgOrderStore::ReleaseWork(const std::string& upgrade_id, const std::string& work,
                                       const std::string& holder, bool done) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(done ? "UPDATE request.claims SET done = true WHERE upgrade_id = $1 AND work = $2 AND holder = $3"
                        : "DELETE FROM request.claims WHERE upgrade_id = $1 AND work = $2 AND holder = $3 AND NOT done",
                   upgrade_id, work, holder);
    return absl::OkStatus();
  });
}

absl::Status PgOrderStore::RecordTimings(const std::string& upgrade_id, const TestTimings& timings) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "UPDATE request.orders SET clone_ms = CASE WHEN $2 > 0 THEN $2 ELSE clone_ms END, "
        "migrate_ms = CASE WHEN $3 > 0 THEN $3 ELSE migrate_ms END, "
        "source_size_bytes = CASE WHEN $4 > 0 THEN $4 ELSE source_size_bytes END, "
        "copy_ms = CASE WHEN $5 > 0 THEN $5 ELSE copy_ms END WHERE upgrade_id = $1",
        upgrade_id, absl::ToInt64Milliseconds(timings.clone), absl::ToInt64Milliseconds(timings.migrate),
        timings.source_size_bytes, absl::ToInt64Milliseconds(timings.copy));
    return absl::OkStatus();
  });
}

absl::StatusOr<StoredOrder> PgOrderStore::Cancel(const std::string& upgrade_id, absl::Time at,
                                                 const std::function<OutgoingRecord(const StoredOrder&)>& record_for,
                                                 const AuditOf& audit_of) {
  StoredOrder stored;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT ", kColumns, " FROM request.orders WHERE upgrade_id = $1 FOR UPDATE"), upgrade_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no upgrade ", upgrade_id));
    stored = FromRow(rows[0]);
    if (stored.outcome != Outcome::kActive) {
      return absl::FailedPreconditionError(absl::StrCat("upgrade ", upgrade_id, " has already ended"));
    }
    if (stored.no_return_at != absl::InfinitePast()) {
      const std::string at = absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", stored.no_return_at, absl::UTCTimeZone());
      if (stored.order.purpose() == upgrade::v1::PURPOSE_REVERT) {
        return absl::FailedPreconditionError(absl::StrCat(
            "revert ", upgrade_id, " can no longer be cancelled: its database went offline for the swap at ", at));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "upgrade ", upgrade_id, " can no longer be cancelled: its in-place migration started at ", at,
          " (if it fails, the database is restored by itself)"));
    }
    if (stored.cancel_requested_at != absl::InfinitePast()) return absl::OkStatus();  // asked before
    if (stored.scheduled()) {  // nothing runs yet: it ends here
      tx.exec_params(
          "UPDATE request.orders SET cancel_requested_at = $2, outcome = 'cancelled', finished_at = $2 "
          "WHERE upgrade_id = $1",
          upgrade_id, pg::FormatTime(at));
      stored.outcome = Outcome::kCancelled;
      stored.finished_at = at;
    } else {
      tx.exec_params("UPDATE request.orders SET cancel_requested_at = $2 WHERE upgrade_id = $1", upgrade_id,
                     pg::FormatTime(at));
    }
    stored.cancel_requested_at = at;
    InsertOutbox(tx, record_for(stored));
    InsertAuditOf(tx, audit_of, stored.order);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return stored;
}

absl::StatusOr<std::vector<StoredOrder>> PgOrderStore::Scheduled(absl::Time until, bool unreminded, int limit) {
  std::vector<StoredOrder> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row : tx.exec_params(
             absl::StrCat("SELECT ", kColumns, " FROM request.orders WHERE outcome = 'active' AND started_at IS NULL "
                          "AND cancel_requested_at IS NULL AND not_before <= $1::timestamptz "
                          "AND (NOT $2 OR reminded_at IS NULL) ORDER BY not_before LIMIT $3"),
             pg::FormatTime(until), unreminded, limit)) {
      out.push_back(FromRow(row));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PgOrderStore::PutWindow(const std::string& tenant, const std::string& database,
                                     const std::optional<upgrade::v1::MaintenanceWindow>& window,
                                     const AuditOf& audit_of) {
  return pool_->Transact([&](pqxx::work& tx) {
    if (window.has_value()) {
      tx.exec_params(
          "INSERT INTO request.maintenance_windows (tenant, database, window_bytes) VALUES ($1, $2, $3) "
          "ON CONFLICT (tenant, database) DO UPDATE SET window_bytes = EXCLUDED.window_bytes, updated_at = now()",
          tenant, database, pqxx::binarystring(window->SerializeAsString()));
    } else {
      tx.exec_params("DELETE FROM request.maintenance_windows WHERE tenant = $1 AND database = $2", tenant, database);
    }
    upgrade::v1::Order subject;  // what the audit names: the tenant and the database
    subject.set_tenant(tenant);
    subject.set_database(database);
    InsertAuditOf(tx, audit_of, subject);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<WindowBook::Found>> PgOrderStore::WindowOf(const std::string& tenant,
                                                                       const std::string& database) {
  std::optional<Found> found;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    found.reset();
    pqxx::result rows = tx.exec_params(
        "SELECT window_bytes, database <> '' FROM request.maintenance_windows WHERE tenant = $1 "
        "AND database IN ($2, '') ORDER BY database DESC LIMIT 1",
        tenant, database);
    if (rows.empty()) return absl::OkStatus();
    found.emplace();
    found->window.ParseFromString(pqxx::binarystring(rows[0][0]).str());
    found->own = rows[0][1].as<bool>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<bool> PgOrderStore::StartScheduled(const std::string& upgrade_id, absl::Time at,
                                                  const std::function<Start(const StoredOrder&)>& decide) {
  bool started = false;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    started = false;
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT ", kColumns, " FROM request.orders WHERE upgrade_id = $1 FOR UPDATE"), upgrade_id);
    if (rows.empty()) return absl::OkStatus();
    StoredOrder stored = FromRow(rows[0]);
    if (!stored.scheduled() || stored.cancel_requested_at != absl::InfinitePast()) return absl::OkStatus();
    Start start = decide(stored);
    tx.exec_params(start.starts ? "UPDATE request.orders SET started_at = $2 WHERE upgrade_id = $1"
                                : "UPDATE request.orders SET outcome = 'cancelled', finished_at = $2 WHERE upgrade_id = $1",
                   upgrade_id, pg::FormatTime(at));
    InsertOutbox(tx, start.record);
    started = true;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return started;
}

absl::StatusOr<bool> PgOrderStore::Remind(
    const std::string& upgrade_id, absl::Time at,
    const std::function<std::optional<OutgoingRecord>(const StoredOrder&)>& record_for) {
  bool reminded = false;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    reminded = false;
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT ", kColumns, " FROM request.orders WHERE upgrade_id = $1 FOR UPDATE"), upgrade_id);
    if (rows.empty()) return absl::OkStatus();
    StoredOrder stored = FromRow(rows[0]);
    if (!stored.scheduled() || stored.reminded_at != absl::InfinitePast()) return absl::OkStatus();
    tx.exec_params("UPDATE request.orders SET reminded_at = $2 WHERE upgrade_id = $1", upgrade_id, pg::FormatTime(at));
    if (std::optional<OutgoingRecord> record = record_for(stored); record.has_value()) InsertOutbox(tx, *record);
    reminded = true;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return reminded;
}

absl::StatusOr<std::optional<absl::Time>> PgOrderStore::PassCheckpoint(const std::string& upgrade_id,
                                                                        bool point_of_no_return, absl::Time at) {
  std::optional<absl::Time> cancelled;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    cancelled.reset();
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT ", pg::MicrosOf("cancel_requested_at"), " FROM request.orders WHERE upgrade_id = $1 FOR UPDATE"),
        upgrade_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no upgrade ", upgrade_id));
    if (!rows[0][0].is_null()) {
      cancelled = pg::TimeFromField(rows[0][0]);
      return absl::OkStatus();
    }
    if (point_of_no_return) {
      tx.exec_params("UPDATE request.orders SET no_return_at = coalesce(no_return_at, $2) WHERE upgrade_id = $1",
                     upgrade_id, pg::FormatTime(at));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return cancelled;
}

absl::StatusOr<std::optional<StoredOrder>> PgOrderStore::FindByTestDatabase(const std::string& test_database) {
  absl::StatusOr<std::vector<StoredOrder>> rows = Query("test_database = $1", test_database);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return rows->front();
}

absl::Status PgOrderStore::RecordCopy(const std::string& upgrade_id, absl::Time expires_at, bool removed) {
  return pool_->Transact([&](pqxx::work& tx) {
    if (removed) {
      tx.exec_params("UPDATE request.orders SET copy_removed = true WHERE upgrade_id = $1", upgrade_id);
    } else {
      // The first expiry recorded stays: a later one comes only from ExtendCopy.
      tx.exec_params("UPDATE request.orders SET copy_expires_at = coalesce(copy_expires_at, $2) WHERE upgrade_id = $1",
                     upgrade_id, pg::FormatTime(expires_at));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<absl::Time> PgOrderStore::ExtendCopy(
    const std::string& upgrade_id, const std::function<absl::StatusOr<absl::Time>(const StoredOrder&)>& decide,
    const std::function<OutgoingRecord(const StoredOrder&, absl::Time)>& record_for, const AuditOf& audit_of) {
  absl::Time extended;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT ", kColumns, " FROM request.orders WHERE upgrade_id = $1 FOR UPDATE"), upgrade_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no upgrade ", upgrade_id));
    StoredOrder stored = FromRow(rows[0]);
    absl::StatusOr<absl::Time> decided = decide(stored);
    if (!decided.ok()) return decided.status();
    extended = *decided;
    tx.exec_params("UPDATE request.orders SET copy_expires_at = $2 WHERE upgrade_id = $1", upgrade_id,
                   pg::FormatTime(extended));
    InsertOutbox(tx, record_for(stored, extended));
    InsertAuditOf(tx, audit_of, stored.order);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return extended;
}

absl::StatusOr<OutboxDepth> PgOrderStore::Outbox() {
  absl::StatusOr<pg::QueueDepth> depth = pg::QueueDepthOf(*pool_, "request.outbox", "enqueued_at");
  if (!depth.ok()) return depth.status();
  return OutboxDepth{depth->rows, depth->oldest_age};
}

absl::Status PgOrderStore::DrainOutbox(int limit,
                                       const std::function<absl::Status(const std::vector<OutgoingRecord>&)>& publish,
                                       int* count) {
  return pg::DrainQueue(
      *pool_, "upshift.request.outbox", "request.outbox", "id, topic, key, payload", limit,
      [&](const pqxx::result& rows) {
        std::vector<OutgoingRecord> records;
        for (const auto& row : rows) {
          records.push_back({row[1].as<std::string>(), row[2].as<std::string>(), pqxx::binarystring(row[3]).str()});
        }
        return publish(records);
      },
      count);
}

absl::Status PgOrderStore::Ping() { return pool_->Ping(); }

}  // namespace upshift::request
