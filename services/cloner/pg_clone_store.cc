#include "services/cloner/pg_clone_store.h"

#include "absl/strings/str_cat.h"
#include "libs/pg/pool.h"
#include "libs/pg/values.h"
#include "libs/pg/schema_migrations.h"

namespace upshift::cloner {
namespace {

// Version 1: the schema as every release before schema versions made it (idempotent, so that it
// adopts a platform database one of them made). Released versions are never changed: a change is
// a new version.
constexpr char kSchemaV1[] = R"sql(
CREATE SCHEMA IF NOT EXISTS cloner;
CREATE TABLE IF NOT EXISTS cloner.clones (
  upgrade_id    text PRIMARY KEY,
  database      text NOT NULL,
  test_database text NOT NULL,
  result        bytea NOT NULL,  -- upgrade.v1.CloneSucceeded
  orders        bytea NOT NULL,  -- upgrade.v1.Order
  cloned_at     timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  warned_days   integer NOT NULL DEFAULT 0,
  dropped_at    timestamptz
);
CREATE INDEX IF NOT EXISTS clones_live ON cloner.clones (database, cloned_at) WHERE dropped_at IS NULL;
CREATE TABLE IF NOT EXISTS cloner.productions (
  upgrade_id                text PRIMARY KEY,
  database                  text NOT NULL,
  previous_connection_limit integer NOT NULL,
  offline_at                timestamptz NOT NULL,
  snapshot                  bytea,  -- upgrade.v1.SnapshotSucceeded once the restore point is verified
  rolled_back               boolean NOT NULL DEFAULT false,
  restore_point             text,
  orders                    bytea,        -- upgrade.v1.Order
  snapshot_at               timestamptz,
  succeeded_at              timestamptz,  -- the restore point's retention starts here
  restore_point_dropped_at  timestamptz
);
-- How the upgrade ends, claimed once ('succeeded' or 'rolled_back'): a success and a rollback race.
ALTER TABLE cloner.productions ADD COLUMN IF NOT EXISTS outcome text;
-- The oid of the database that went offline: after the swap, its restore point.
ALTER TABLE cloner.productions ADD COLUMN IF NOT EXISTS database_oid bigint;
CREATE TABLE IF NOT EXISTS cloner.drops (
  upgrade_id text NOT NULL,
  database   text NOT NULL,
  reason     text NOT NULL,
  dropped_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (upgrade_id, database)
);
-- Every database the cloner made (or is about to make), written before it exists: the cloner drops
-- only these. Filled once from the clones and restore points recorded before this table existed.
CREATE TABLE IF NOT EXISTS cloner.made (
  upgrade_id text NOT NULL,
  database   text NOT NULL,
  made_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (upgrade_id, database)
);
INSERT INTO cloner.made (upgrade_id, database)
  SELECT upgrade_id, test_database FROM cloner.clones ON CONFLICT DO NOTHING;
-- Restore points: named <database, first 48 characters>_rp_<first 8 hex digits of the upgrade id>
-- (libs/common/ids.cc), made once the snapshot is recorded; an upgrade still in flight needs its
-- restore point to roll back.
INSERT INTO cloner.made (upgrade_id, database)
  SELECT upgrade_id, left(database, 48) || '_rp_' || left(replace(upgrade_id, '-', ''), 8)
  FROM cloner.productions WHERE snapshot IS NOT NULL ON CONFLICT DO NOTHING;
)sql";

// Version 2: the events acted on, so that one delivered again, or replayed, changes nothing.
constexpr char kSchemaV2[] = R"sql(
CREATE TABLE cloner.applied_events (
  event_id   text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applied_events_by_age ON cloner.applied_events (applied_at);
)sql";

const std::vector<pg::SchemaMigration> kMigrations = {
  {1, "baseline: the schema before versions", kSchemaV1},
  {2, "applied events", kSchemaV2},
};

}  // namespace

absl::StatusOr<std::unique_ptr<PgCloneStore>> PgCloneStore::Open(const std::string& conninfo) {
  auto pool = std::make_unique<pg::Pool>(conninfo, 2);
  if (absl::Status s = pg::MigrateSchema(*pool, "cloner", kMigrations); !s.ok()) return s;
  return std::unique_ptr<PgCloneStore>(new PgCloneStore(std::move(pool)));
}

PgCloneStore::PgCloneStore(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}
PgCloneStore::~PgCloneStore() = default;

absl::StatusOr<std::optional<upgrade::v1::CloneSucceeded>> PgCloneStore::Find(const std::string& upgrade_id) {
  std::optional<upgrade::v1::CloneSucceeded> found;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    found.reset();
    pqxx::result rows = tx.exec_params("SELECT result FROM cloner.clones WHERE upgrade_id = $1", upgrade_id);
    if (!rows.empty()) {
      found.emplace();
      found->ParseFromString(pqxx::binarystring(rows[0][0]).str());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::Status PgCloneStore::Save(const upgrade::v1::Order& order, const upgrade::v1::CloneSucceeded& result,
                                absl::Time cloned_at, absl::Time expires_at) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO cloner.clones (upgrade_id, database, test_database, result, orders, cloned_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        order.upgrade_id(), order.database(), order.test_database(), pqxx::binarystring(result.SerializeAsString()),
        pqxx::binarystring(order.SerializeAsString()), pg::FormatTime(cloned_at), pg::FormatTime(expires_at));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<CopyRecord>> PgCloneStore::LiveCopies(const std::string& database) {
  std::vector<CopyRecord> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row : tx.exec_params(
             absl::StrCat("SELECT orders, ", pg::MicrosOf("cloned_at"), ", ", pg::MicrosOf("expires_at"),
                          ", warned_days FROM cloner.clones WHERE dropped_at IS NULL AND ($1 = '' OR database = $1) "
                          "ORDER BY cloned_at, upgrade_id"),
             database)) {
      CopyRecord& r = out.emplace_back();
      r.order.ParseFromString(pqxx::binarystring(row[0]).str());
      r.cloned_at = pg::TimeFromField(row[1]);
      r.expires_at = pg::TimeFromField(row[2]);
      r.warned_days = row[3].as<int>();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PgCloneStore::MarkCopyDropped(const std::string& upgrade_id) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE cloner.clones SET dropped_at = coalesce(dropped_at, now()) WHERE upgrade_id = $1",
                   upgrade_id);
    return absl::OkStatus();
  });
}

absl::Status PgCloneStore::SetCopyWarned(const std::string& upgrade_id, int days) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE cloner.clones SET warned_days = $2 WHERE upgrade_id = $1", upgrade_id, days);
    return absl::OkStatus();
  });
}

absl::Status PgCloneStore::SetCopyExpiry(const std::string& upgrade_id, absl::Time expires_at) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE cloner.clones SET expires_at = $2, warned_days = 0 WHERE upgrade_id = $1", upgrade_id,
                   pg::FormatTime(expires_at));
    return absl::OkStatus();
  });
}

absl::Status PgCloneStore::RecordDrop(const std::string& upgrade_id, const std::string& database,
                                      const std::string& reason) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO cloner.drops (upgrade_id, database, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        upgrade_id, database, reason);
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> PgCloneStore::WasApplied(const std::string& event_id) {
  bool applied = false;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    applied = !tx.exec_params("SELECT 1 FROM cloner.applied_events WHERE event_id = $1", event_id).empty();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return applied;
}

absl::Status PgCloneStore::MarkApplied(const std::string& event_id) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO cloner.applied_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING", event_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<int> PgCloneStore::ForgetAppliedBefore(absl::Time cutoff, int batch) {
  int forgotten = 0;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    forgotten = static_cast<int>(
        tx.exec_params("DELETE FROM cloner.applied_events WHERE event_id IN (SELECT event_id FROM "
                       "cloner.applied_events WHERE applied_at < $1::timestamptz ORDER BY applied_at LIMIT $2)",
                       pg::FormatTime(cutoff), batch)
            .affected_rows());
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return forgotten;
}

absl::Status PgCloneStore::RecordMaking(const std::string& upgrade_id, const std::string& database) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO cloner.made (upgrade_id, database) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   upgrade_id, database);
    return absl::OkStatus();
  });
}

absl::Status PgCloneStore::ForgetMaking(const std::string& upgrade_id, const std::string& database) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("DELETE FROM cloner.made WHERE upgrade_id = $1 AND database = $2", upgrade_id, database);
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> PgCloneStore::Made(const std::string& upgrade_id, const std::string& database) {
  bool made = false;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    made = !tx.exec_params("SELECT 1 FROM cloner.made WHERE upgrade_id = $1 AND database = $2", upgrade_id, database)
                .empty();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return made;
}

absl::StatusOr<std::optional<ProductionRecord>> PgCloneStore::FindProduction(const std::string& upgrade_id) {
  std::optional<ProductionRecord> found;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    found.reset();
    pqxx::result rows = tx.exec_params(absl::StrCat("SELECT previous_connection_limit, ", pg::MicrosOf("offline_at"),
                                                    ", snapshot, rolled_back, coalesce(database_oid, 0) FROM cloner.productions "
                                                    "WHERE upgrade_id = $1"),
                                       upgrade_id);
    if (rows.empty()) return absl::OkStatus();
    found.emplace();
    found->previous_connection_limit = rows[0][0].as<int32_t>();
    found->offline_at = pg::TimeFromField(rows[0][1]);
    if (!rows[0][2].is_null()) {
      found->snapshot.emplace();
      found->snapshot->ParseFromString(pqxx::binarystring(rows[0][2]).str());
    }
    found->rolled_back = rows[0][3].as<bool>();
    found->database_oid = rows[0][4].as<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::Status PgCloneStore::SaveOffline(const upgrade::v1::Order& order, int32_t previous_connection_limit,
                                       absl::Time at, int64_t database_oid) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO cloner.productions (upgrade_id, database, previous_connection_limit, offline_at, orders, "
        "database_oid) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (upgrade_id) DO UPDATE "
        "SET database_oid = coalesce(cloner.productions.database_oid, EXCLUDED.database_oid)",
        order.upgrade_id(), order.database(), previous_connection_limit, pg::FormatTime(at),
        pqxx::binarystring(order.SerializeAsString()), database_oid);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::pair<upgrade::v1::Order, absl::Time>>> PgCloneStore::InFlightProductions() {
  std::vector<std::pair<upgrade::v1::Order, absl::Time>> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row : tx.exec(absl::StrCat(
             "SELECT orders, ", pg::MicrosOf("snapshot_at"),
             " FROM cloner.productions WHERE snapshot IS NOT NULL AND NOT rolled_back AND succeeded_at IS NULL "
             "AND outcome IS DISTINCT FROM 'succeeded'"))) {
      upgrade::v1::Order order;
      order.ParseFromString(pqxx::binarystring(row[0]).str());
      out.emplace_back(std::move(order), pg::TimeFromField(row[1]));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PgCloneStore::SaveSnapshot(const std::string& upgrade_id, const upgrade::v1::SnapshotSucceeded& snapshot) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE cloner.productions SET snapshot = $2, snapshot_at = coalesce(snapshot_at, now()) "
                   "WHERE upgrade_id = $1",
                   upgrade_id, pqxx::binarystring(snapshot.SerializeAsString()));
    return absl::OkStatus();
  });
}

absl::Status PgCloneStore::SaveRolledBack(const std::string& upgrade_id) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE cloner.productions SET rolled_back = true WHERE upgrade_id = $1", upgrade_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> PgCloneStore::ClaimOutcome(const std::string& upgrade_id, ProductionOutcome outcome) {
  bool claimed = false;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    const char* name = outcome == ProductionOutcome::kSucceeded ? "succeeded" : "rolled_back";
    // The row lock serializes racing claims; the second sees the first's outcome.
    pqxx::result rows = tx.exec_params(
        "UPDATE cloner.productions SET outcome = coalesce(outcome, $2) WHERE upgrade_id = $1 RETURNING outcome",
        upgrade_id, name);
    if (rows.empty()) return absl::FailedPreconditionError("no record of this Production upgrade going offline");
    claimed = rows[0][0].as<std::string>() == name;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return claimed;
}

absl::Status PgCloneStore::SaveSucceeded(const std::string& upgrade_id, const std::string& restore_point,
                                         absl::Time at) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "UPDATE cloner.productions SET restore_point = $2, succeeded_at = coalesce(succeeded_at, $3) "
        "WHERE upgrade_id = $1",
        upgrade_id, restore_point, pg::FormatTime(at));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::map<std::string, KeptRestorePoint>> PgCloneStore::RestorePointsKeptSince(absl::Time cutoff) {
  std::map<std::string, KeptRestorePoint> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row : tx.exec_params(
             "SELECT upgrade_id, restore_point, orders FROM cloner.productions WHERE succeeded_at < $1 "
             "AND restore_point_dropped_at IS NULL AND restore_point IS NOT NULL",
             pg::FormatTime(cutoff))) {
      KeptRestorePoint& kept = out[row[0].as<std::string>()];
      kept.name = row[1].as<std::string>();
      upgrade::v1::Order order;
      if (!row[2].is_null() && order.ParseFromString(pqxx::binarystring(row[2]).str())) kept.server = order.server();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PgCloneStore::SaveRestorePointDropped(const std::string& upgrade_id) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE cloner.productions SET restore_point_dropped_at = now() WHERE upgrade_id = $1", upgrade_id);
    return absl::OkStatus();
  });
}

}  // namespace upshift::cloner
