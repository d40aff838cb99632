#include "services/status/pg_status_store.h"

#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/time.h"
#include "libs/common/logging.h"
#include "libs/kafka/events.h"
#include "libs/metrics/metrics.h"
#include "libs/pg/pool.h"
#include "libs/pg/values.h"
#include "libs/pg/schema_migrations.h"
#include "services/status/status_logic.h"
#include "services/status/status_recorder.h"

namespace upshift::status {
namespace {

// Version 1: the schema as every release before schema versions made it (idempotent, so that it
// adopts a platform database one of them made). Released versions are never changed: a change is
// a new version.
constexpr char kSchemaV1[] = R"sql(
CREATE SCHEMA IF NOT EXISTS status;
-- One row per upgrade; body is the serialized upgrade.v1.Upgrade.
CREATE TABLE IF NOT EXISTS status.upgrades (
  upgrade_id text PRIMARY KEY,
  database   text NOT NULL,
  state      integer NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  body       bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS upgrades_by_database ON status.upgrades (database, created_at DESC);
-- The tenant of the upgrade (Upgrade.tenant), for listing one tenant's upgrades a page at a time.
-- Upgrades recorded before tenancy keep '' (operators see them).
ALTER TABLE status.upgrades ADD COLUMN IF NOT EXISTS tenant text NOT NULL DEFAULT '';
-- The unfinished upgrades (SUCCEEDED, FAILED, ROLLED_BACK and CANCELLED are final), for the stall sweep.
-- (A released version is frozen, numbers and all; the code names the states, see FinalStatesList.)
CREATE INDEX IF NOT EXISTS upgrades_unfinished ON status.upgrades (upgrade_id) WHERE state NOT IN (4, 5, 10, 11);
CREATE TABLE IF NOT EXISTS status.databases (
  name       text PRIMARY KEY,
  parent     text,
  version    text,
  expires_at timestamptz  -- test copies
);
CREATE INDEX IF NOT EXISTS databases_by_parent ON status.databases (parent);
CREATE TABLE IF NOT EXISTS status.tags (
  database text NOT NULL,
  tag      integer NOT NULL,
  PRIMARY KEY (database, tag)
);
-- Changes recorded and not yet on upgrade.status (a transactional outbox); body is the Upgrade.
CREATE TABLE IF NOT EXISTS status.outbox (
  id          bigserial PRIMARY KEY,
  event_id    text NOT NULL,
  body        bytea NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
-- Every applied event, so that a redelivered one changes nothing.
CREATE TABLE IF NOT EXISTS status.applied_events (
  event_id   text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
)sql";

// Version 2: each upgrade's order as request announced it (its signed acceptance): a worker's
// record about the upgrade must carry that very order. NULL for upgrades recorded before.
constexpr char kSchemaV2[] = R"sql(
ALTER TABLE status.upgrades ADD COLUMN orders bytea;  -- upgrade.v1.Order
-- Records about an upgrade whose acceptance has not arrived yet (the topics are not ordered with
-- each other): applied, in the order they came, once it does, if they carry its very order.
CREATE TABLE status.pending_events (
  seq         bigserial PRIMARY KEY,
  event_id    text NOT NULL UNIQUE,
  upgrade_id  text NOT NULL,
  body        bytea NOT NULL,  -- upgrade.v1.Event
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_events_by_upgrade ON status.pending_events (upgrade_id, seq);
)sql";

const std::vector<pg::SchemaMigration> kMigrations = {
  {1, "baseline: the schema before versions", kSchemaV1},
  {2, "the announced order of each upgrade", kSchemaV2},
  // FAILED (5) and ROLLED_BACK (10): a final upgrade is not updated again, so updated_at is its end.
  {3, "the failed and rolled-back upgrades by when they ended, for grouping the fleet's failures",
   "CREATE INDEX upgrades_failed ON status.upgrades (updated_at DESC) WHERE state IN (5, 10)"},
  {4, "when a database's scheduled upgrade starts, shown with its tag",
   "ALTER TABLE status.databases ADD COLUMN scheduled_start timestamptz"},
};


// The final states (see FinalStates), as a SQL list: "state NOT IN (...)" is how the queries below
// find unfinished upgrades, the predicate of the index upgrades_unfinished (schema version 1).
std::string FinalStatesList() {
  return absl::StrJoin(FinalStates(), ", ",
                       [](std::string* out, upgrade::v1::State s) { absl::StrAppend(out, static_cast<int>(s)); });
}

upgrade::v1::Upgrade ParseUpgrade(const pqxx::field& f) {
  upgrade::v1::Upgrade u;
  u.ParseFromString(pqxx::binarystring(f).str());
  return u;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgStatusStore>> PgStatusStore::Open(const std::string& conninfo, int pool_size) {
  auto pool = std::make_unique<pg::Pool>(conninfo, pool_size);
  if (absl::Status s = pg::MigrateSchema(*pool, "status", kMigrations); !s.ok()) return s;
  return std::unique_ptr<PgStatusStore>(new PgStatusStore(std::move(pool)));
}

PgStatusStore::PgStatusStore(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}
PgStatusStore::~PgStatusStore() = default;

namespace {

// StatusRecorder's ports in one transaction of the platform database.
class PgStatusRows final : public UpgradeRows, public EventLedger, public DatabaseBook {
 public:
  explicit PgStatusRows(pqxx::work& tx) : tx_(tx) {}

  std::optional<RecordedUpgrade> Lock(const std::string& upgrade_id) override {
    pqxx::result rows =
        tx_.exec_params("SELECT body, orders FROM status.upgrades WHERE upgrade_id = $1 FOR UPDATE", upgrade_id);
    if (rows.empty()) return std::nullopt;
    RecordedUpgrade recorded{ParseUpgrade(rows[0][0]), std::nullopt};
    if (!rows[0][1].is_null()) {
      pqxx::binarystring body(rows[0][1]);
      recorded.announced.emplace();
      if (!recorded.announced->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
        throw std::runtime_error(absl::StrCat("status.upgrades holds an unreadable order for ", upgrade_id));
      }
    }
    return recorded;
  }
  std::optional<upgrade::v1::Upgrade> Read(const std::string& upgrade_id) override {
    pqxx::result rows = tx_.exec_params("SELECT body FROM status.upgrades WHERE upgrade_id = $1", upgrade_id);
    if (rows.empty()) return std::nullopt;
    return ParseUpgrade(rows[0][0]);
  }
  void Save(const upgrade::v1::Upgrade& u) override {
    tx_.exec_params(
        "INSERT INTO status.upgrades (upgrade_id, database, state, created_at, updated_at, body, tenant) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (upgrade_id) DO UPDATE "
        "SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at, body = EXCLUDED.body",
        u.upgrade_id(), u.database(), static_cast<int>(u.state()), pg::FormatTime(FromProto(u.created_at())),
        pg::FormatTime(FromProto(u.updated_at())), pqxx::binarystring(u.SerializeAsString()), u.tenant());
  }
  void Touch(const upgrade::v1::Upgrade& u) override {
    tx_.exec_params("UPDATE status.upgrades SET body = $2 WHERE upgrade_id = $1", u.upgrade_id(),
                    pqxx::binarystring(u.SerializeAsString()));
  }
  void KeepAnnounced(const upgrade::v1::Order& order) override {
    tx_.exec_params("UPDATE status.upgrades SET orders = $2 WHERE upgrade_id = $1 AND orders IS NULL",
                    order.upgrade_id(), pqxx::binarystring(order.SerializeAsString()));
  }
  void Publish(const std::string& event_id, const upgrade::v1::Upgrade& u) override {
    tx_.exec_params("INSERT INTO status.outbox (event_id, body) VALUES ($1, $2)", event_id,
                    pqxx::binarystring(u.SerializeAsString()));
  }

  bool FirstApplied(const std::string& event_id) override {
    return !tx_.exec_params(
                   "INSERT INTO status.applied_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1",
                   event_id)
                .empty();
  }
  void Hold(const upgrade::v1::Event& event) override {
    tx_.exec_params(
        "INSERT INTO status.pending_events (event_id, upgrade_id, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        event.event_id(), event.order().upgrade_id(), pqxx::binarystring(event.SerializeAsString()));
  }
  std::vector<upgrade::v1::Event> TakeHeld(const std::string& upgrade_id) override {
    std::vector<upgrade::v1::Event> held;
    for (const auto& row : tx_.exec_params(
             "WITH taken AS (DELETE FROM status.pending_events WHERE upgrade_id = $1 RETURNING seq, body) "
             "SELECT body FROM taken ORDER BY seq",
             upgrade_id)) {
      pqxx::binarystring body(row[0]);
      held.emplace_back().ParseFromArray(body.data(), static_cast<int>(body.size()));
    }
    return held;
  }

  void SetTag(const std::string& database, upgrade::v1::Tag tag, bool on) override {
    if (on) {
      tx_.exec_params("INSERT INTO status.tags (database, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING", database,
                      static_cast<int>(tag));
    } else {
      tx_.exec_params("DELETE FROM status.tags WHERE database = $1 AND tag = $2", database, static_cast<int>(tag));
    }
  }
  void PutCopy(const std::string& name, const std::string& parent, const std::string& version) override {
    tx_.exec_params(
        "INSERT INTO status.databases (name, parent, version) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE "
        "SET parent = EXCLUDED.parent, version = EXCLUDED.version",
        name, parent, version);
  }
  void SetVersion(const std::string& database, const std::string& version, bool only_if_unknown) override {
    tx_.exec_params(
        absl::StrCat("INSERT INTO status.databases (name, version) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE "
                     "SET version = EXCLUDED.version",
                     only_if_unknown ? " WHERE status.databases.version IS NULL" : ""),
        database, version);
  }
  void SetExpiry(const std::string& copy, absl::Time expires_at) override {
    tx_.exec_params("UPDATE status.databases SET expires_at = $2 WHERE name = $1", copy, pg::FormatTime(expires_at));
  }
  void SetScheduledStart(const std::string& database, absl::Time start) override {
    if (start == absl::InfinitePast()) {
      tx_.exec_params("UPDATE status.databases SET scheduled_start = NULL WHERE name = $1", database);
    } else {
      tx_.exec_params(
          "INSERT INTO status.databases (name, scheduled_start) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE "
          "SET scheduled_start = EXCLUDED.scheduled_start",
          database, pg::FormatTime(start));
    }
  }
  void Forget(const std::string& name) override {
    tx_.exec_params("DELETE FROM status.databases WHERE name = $1", name);
    tx_.exec_params("DELETE FROM status.tags WHERE database = $1", name);
  }

 private:
  pqxx::work& tx_;
};

}  // namespace

absl::StatusOr<std::optional<upgrade::v1::Upgrade>> PgStatusStore::Apply(const upgrade::v1::Event& event) {
  absl::StatusOr<std::optional<upgrade::v1::Upgrade>> result;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    PgStatusRows rows(tx);
    result = StatusRecorder(rows, rows, rows).Apply(event);
    return result.status();
  });
  if (!status.ok()) return status;
  return result;
}

absl::Status PgStatusStore::ForgetHeld(const std::string& upgrade_id) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params("DELETE FROM status.pending_events WHERE upgrade_id = $1", upgrade_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<int> PgStatusStore::ForgetPendingBefore(absl::Time cutoff) {
  int forgotten = 0;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    forgotten = static_cast<int>(
        tx.exec_params("DELETE FROM status.pending_events WHERE received_at < $1::timestamptz", pg::FormatTime(cutoff))
            .affected_rows());
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (forgotten > 0) LogWarning(absl::StrCat("forgot ", forgotten, " records whose upgrade request never announced"));
  return forgotten;
}

absl::StatusOr<std::vector<std::string>> PgStatusStore::AwaitingAcceptance(absl::Time held_before, int limit) {
  std::vector<std::string> ids;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    for (const auto& row : tx.exec_params(
             "SELECT upgrade_id FROM status.pending_events GROUP BY upgrade_id "
             "HAVING min(received_at) < $1::timestamptz ORDER BY min(received_at), upgrade_id LIMIT $2",
             pg::FormatTime(held_before), limit)) {
      ids.push_back(row[0].as<std::string>());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return ids;
}

absl::StatusOr<upgrade::v1::Upgrade> PgStatusStore::GetUpgrade(const std::string& upgrade_id) {
  upgrade::v1::Upgrade u;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params("SELECT body FROM status.upgrades WHERE upgrade_id = $1", upgrade_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no upgrade ", upgrade_id));
    u = ParseUpgrade(rows[0][0]);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return u;
}

absl::StatusOr<std::vector<upgrade::v1::Upgrade>> PgStatusStore::ListUpgrades(
    const std::string& database, const std::optional<std::string>& tenant, const std::optional<UpgradeCursor>& after,
    int limit) {
  std::vector<upgrade::v1::Upgrade> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row : tx.exec_params(
             "SELECT body FROM status.upgrades WHERE database = $1 AND ($2 OR tenant = $3) "
             "AND (NOT $4 OR (created_at, upgrade_id) < ($5::timestamptz, $6)) "
             "ORDER BY created_at DESC, upgrade_id DESC LIMIT $7",
             database, !tenant.has_value(), tenant.value_or(""), after.has_value(),
             pg::FormatTime(absl::FromUnixMicros(after.has_value() ? after->created_at_micros : 0)),
             after.has_value() ? after->upgrade_id : "", limit)) {
      out.push_back(ParseUpgrade(row[0]));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::map<std::string, DatabaseRecord>> PgStatusStore::DatabaseRecords() { return Records(nullptr); }

absl::StatusOr<std::map<std::string, DatabaseRecord>> PgStatusStore::DatabaseRecordsOf(const std::string& name) {
  return Records(&name);
}

absl::StatusOr<std::map<std::string, DatabaseRecord>> PgStatusStore::Records(const std::string* of) {
  std::map<std::string, DatabaseRecord> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    const std::string columns = absl::StrCat("SELECT name, coalesce(parent, ''), coalesce(version, ''), ",
                                             pg::MicrosOf("expires_at"), ", ", pg::MicrosOf("scheduled_start"),
                                             " FROM status.databases");
    pqxx::result databases =
        of == nullptr ? tx.exec(columns) : tx.exec_params(columns + " WHERE name = $1 OR parent = $1", *of);
    for (const auto& row : databases) {
      DatabaseRecord& r = out[row[0].as<std::string>()];
      r.parent = row[1].as<std::string>();
      r.version = row[2].as<std::string>();
      r.expires_at = pg::TimeFromField(row[3]);
      r.scheduled_start = pg::TimeFromField(row[4]);
    }
    pqxx::result tags =
        of == nullptr ? tx.exec("SELECT database, tag FROM status.tags ORDER BY database, tag")
                      : tx.exec_params("SELECT database, tag FROM status.tags WHERE database = $1 OR database IN "
                                       "(SELECT name FROM status.databases WHERE parent = $1) ORDER BY database, tag",
                                       *of);
    for (const auto& row : tags) {
      out[row[0].as<std::string>()].tags.push_back(static_cast<upgrade::v1::Tag>(row[1].as<int>()));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<OutboxDepth> PgStatusStore::Outbox() {
  absl::StatusOr<pg::QueueDepth> depth = pg::QueueDepthOf(*pool_, "status.outbox", "recorded_at");
  if (!depth.ok()) return depth.status();
  return OutboxDepth{depth->rows, depth->oldest_age};
}

absl::Status PgStatusStore::DrainChanges(
    int limit, const std::function<absl::Status(const std::vector<PendingChange>&)>& publish, int* count) {
  return pg::DrainQueue(
      *pool_, "upshift.status.outbox", "status.outbox",
      absl::StrCat("id, event_id, body, ", pg::MicrosOf("recorded_at")), limit,
      [&](const pqxx::result& rows) {
        std::vector<PendingChange> changes;
        for (const auto& row : rows) {
          changes.push_back({row[1].as<std::string>(), ParseUpgrade(row[2]), pg::TimeFromField(row[3])});
        }
        return publish(changes);
      },
      count);
}

absl::StatusOr<int> PgStatusStore::MarkStalled(absl::Time cutoff) {
  int marked = 0;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    marked = 0;
    // SKIP LOCKED: an upgrade an event is being applied to is not stalled; another replica's sweep
    // takes the others' turn.
    for (const auto& row : tx.exec(absl::StrCat("SELECT upgrade_id, body FROM status.upgrades WHERE state NOT IN (",
                                                FinalStatesList(), ") FOR UPDATE SKIP LOCKED"))) {
      upgrade::v1::Upgrade u = ParseUpgrade(row[1]);
      if (!Stalls(u, cutoff)) continue;
      u.set_stalled(true);
      std::string body = u.SerializeAsString();
      tx.exec_params("UPDATE status.upgrades SET body = $2 WHERE upgrade_id = $1", row[0].as<std::string>(),
                     pqxx::binarystring(body));
      absl::Time active = FromProto(u.has_last_activity_at() ? u.last_activity_at() : u.updated_at());
      tx.exec_params("INSERT INTO status.outbox (event_id, body) VALUES ($1, $2)",
                     absl::StrCat(u.upgrade_id(), "/stalled-", absl::ToUnixMicros(active)), pqxx::binarystring(body));
      ++marked;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return marked;
}

absl::StatusOr<std::vector<upgrade::v1::Upgrade>> PgStatusStore::UnfinishedUpgrades() {
  std::vector<upgrade::v1::Upgrade> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row :
         tx.exec(absl::StrCat("SELECT body FROM status.upgrades WHERE state NOT IN (", FinalStatesList(), ")"))) {
      out.push_back(ParseUpgrade(row[0]));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<upgrade::v1::Upgrade>> PgStatusStore::FailedUpgrades(absl::Time since,
                                                                                 const std::string& target_version,
                                                                                 int limit) {
  std::vector<upgrade::v1::Upgrade> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    // A final upgrade is not updated again: updated_at is when it ended.
    for (const auto& row : tx.exec_params(
             absl::StrCat("SELECT body FROM status.upgrades WHERE state IN (", static_cast<int>(upgrade::v1::STATE_FAILED),
                          ", ", static_cast<int>(upgrade::v1::STATE_ROLLED_BACK),
                          ") AND updated_at >= to_timestamp($1::float8 / 1000000) ORDER BY updated_at DESC LIMIT $2"),
             absl::ToUnixMicros(since), limit)) {
      upgrade::v1::Upgrade u = ParseUpgrade(row[0]);
      if (target_version.empty() || u.target_version() == target_version) out.push_back(std::move(u));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status PgStatusStore::RememberVersion(const std::string& database, const std::string& version) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO status.databases (name, version) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE "
        "SET version = EXCLUDED.version",
        database, version);
    return absl::OkStatus();
  });
}

}  // namespace upshift::status
