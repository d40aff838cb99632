#include "services/status/pg_status_store.h"

#include "absl/strings/str_cat.h"
#include "libs/common/time.h"
#include "libs/common/logging.h"
#include "libs/kafka/events.h"
#include "libs/metrics/metrics.h"
#include "libs/pg/pg.h"
#include "libs/pg/schema_migrations.h"
#include "services/status/status_logic.h"

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
};


upgrade::v1::Upgrade ParseUpgrade(const pqxx::field& f) {
  upgrade::v1::Upgrade u;
  u.ParseFromString(pqxx::binarystring(f).str());
  return u;
}

// Keeps `event_id` among the applied events; false if it was there already.
bool FirstApplied(pqxx::work& tx, const std::string& event_id) {
  return !tx.exec_params("INSERT INTO status.applied_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1",
                         event_id)
              .empty();
}

// Records `after`, the upgrade once `event` is applied to `before`: its row, its databases' tags
// and records, and the change in the outbox.
void Record(pqxx::work& tx, const upgrade::v1::Event& event, const std::optional<upgrade::v1::Upgrade>& before,
            const upgrade::v1::Upgrade& after) {
  const std::string& id = after.upgrade_id();
  tx.exec_params(
      "INSERT INTO status.upgrades (upgrade_id, database, state, created_at, updated_at, body, tenant) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (upgrade_id) DO UPDATE "
      "SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at, body = EXCLUDED.body",
      id, after.database(), static_cast<int>(after.state()), pg::FormatTime(FromProto(after.created_at())),
      pg::FormatTime(FromProto(after.updated_at())), pqxx::binarystring(after.SerializeAsString()), after.tenant());
  for (const TagChange& change : TagChanges(before, after)) {
    if (change.add) {
      tx.exec_params("INSERT INTO status.tags (database, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                     change.database, static_cast<int>(change.tag));
    } else {
      tx.exec_params("DELETE FROM status.tags WHERE database = $1 AND tag = $2", change.database,
                     static_cast<int>(change.tag));
    }
  }
  tx.exec_params(
      "INSERT INTO status.databases (name, version) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE "
      "SET version = EXCLUDED.version WHERE status.databases.version IS NULL",
      after.database(), after.from_version());
  if (after.purpose() == upgrade::v1::PURPOSE_PRODUCTION && after.state() == upgrade::v1::STATE_SUCCEEDED) {
    tx.exec_params("UPDATE status.databases SET version = $2 WHERE name = $1", after.database(),
                   after.target_version());
  }
  // The test copy and the restore point are recorded under their main database while they exist.
  auto track = [&](const std::string& before_name, const std::string& after_name, const std::string& version) {
    if (!after_name.empty()) {
      tx.exec_params(
          "INSERT INTO status.databases (name, parent, version) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE "
          "SET parent = EXCLUDED.parent, version = EXCLUDED.version",
          after_name, after.database(), version);
    } else if (!before_name.empty()) {
      tx.exec_params("DELETE FROM status.databases WHERE name = $1", before_name);
      tx.exec_params("DELETE FROM status.tags WHERE database = $1", before_name);
    }
  };
  track(before.has_value() ? before->test_database() : "", after.test_database(),
        after.state() == upgrade::v1::STATE_SUCCEEDED ? after.target_version() : after.from_version());
  track(before.has_value() ? before->restore_point() : "", after.restore_point(), after.from_version());
  if (event.kind_case() == upgrade::v1::Event::kCloneSucceeded && event.clone_succeeded().has_expires_at() &&
      !after.test_database().empty()) {
    tx.exec_params("UPDATE status.databases SET expires_at = $2 WHERE name = $1", after.test_database(),
                   pg::FormatTime(FromProto(event.clone_succeeded().expires_at())));
  }
  tx.exec_params("INSERT INTO status.outbox (event_id, body) VALUES ($1, $2)", event.event_id(),
                 pqxx::binarystring(after.SerializeAsString()));
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

upgrade::v1::Event ParseEventBody(const pqxx::field& f) {
  pqxx::binarystring body(f);
  upgrade::v1::Event e;
  e.ParseFromArray(body.data(), static_cast<int>(body.size()));
  return e;
}

// Applies `event` in `tx` (see StatusStore::Apply); *result is the upgrade after it, when it changed.
// A record about an upgrade whose acceptance has not arrived yet is kept in status.pending_events,
// to be applied when it does. PERMISSION_DENIED for a record that disagrees with the announced order.
absl::Status ApplyIn(pqxx::work& tx, const upgrade::v1::Event& event, std::optional<upgrade::v1::Upgrade>* result) {
  // A heartbeat only moves last_activity_at forward: applying one twice changes nothing, so its id
  // (one per heartbeat) need not be kept.
  const bool heartbeat = event.kind_case() == upgrade::v1::Event::kHeartbeat;
  const bool accepted = event.kind_case() == upgrade::v1::Event::kAccepted;
  const std::string& id = event.order().upgrade_id();
  const std::string& copy = event.order().test_database();
  std::optional<upgrade::v1::Upgrade> before;
  pqxx::result rows = tx.exec_params("SELECT body, orders FROM status.upgrades WHERE upgrade_id = $1 FOR UPDATE", id);
  if (!rows.empty()) before = ParseUpgrade(rows[0][0]);
  if (!accepted && !before.has_value()) {
    if (heartbeat) return absl::OkStatus();  // nothing to show yet
    tx.exec_params("INSERT INTO status.pending_events (event_id, upgrade_id, body) VALUES ($1, $2, $3) "
                   "ON CONFLICT DO NOTHING",
                   event.event_id(), id, pqxx::binarystring(event.SerializeAsString()));
    return absl::OkStatus();
  }
  if (!heartbeat && !FirstApplied(tx, event.event_id())) return absl::OkStatus();
  if (!accepted && !rows[0][1].is_null()) {
    // Every other record is about an upgrade request announced, and carries its very order: a
    // worker's leaked key cannot move an upgrade onto another database or copy.
    pqxx::binarystring body(rows[0][1]);
    upgrade::v1::Order announced;
    if (!announced.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return absl::DataLossError(absl::StrCat("status.upgrades holds an unreadable order for ", id));
    }
    if (absl::Status agrees = AgreesWithStoredOrder(announced, event.order()); !agrees.ok()) return agrees;
  }
  // Events about a test copy's life come after its upgrade ended: they change the copy, not the upgrade.
  if (event.kind_case() == upgrade::v1::Event::kTestCopyExtended) {
    tx.exec_params("UPDATE status.databases SET expires_at = $2 WHERE name = $1", copy,
                   pg::FormatTime(FromProto(event.test_copy_extended().expires_at())));
    return absl::OkStatus();
  }
  if (event.kind_case() == upgrade::v1::Event::kTestCopyDropped) {
    tx.exec_params("DELETE FROM status.databases WHERE name = $1", copy);
    tx.exec_params("DELETE FROM status.tags WHERE database = $1", copy);
    return absl::OkStatus();
  }
  // A Production upgrade's progress is weighed by its Test's step timings.
  std::optional<upgrade::v1::Upgrade> test;
  if (event.kind_case() == upgrade::v1::Event::kStepApplied && !event.order().test_upgrade_id().empty()) {
    pqxx::result tests =
        tx.exec_params("SELECT body FROM status.upgrades WHERE upgrade_id = $1", event.order().test_upgrade_id());
    if (!tests.empty()) test = ParseUpgrade(tests[0][0]);
  }
  upgrade::v1::Upgrade after = NextUpgrade(before, event, test.has_value() ? &test->report() : nullptr);
  if (before.has_value() && OnlyActivityChanged(*before, after)) {
    if (before->last_activity_at().SerializeAsString() != after.last_activity_at().SerializeAsString()) {
      tx.exec_params("UPDATE status.upgrades SET body = $2 WHERE upgrade_id = $1", id,
                     pqxx::binarystring(after.SerializeAsString()));
    }
  } else {
    Record(tx, event, before, after);
    *result = after;
  }
  if (accepted) {
    tx.exec_params("UPDATE status.upgrades SET orders = $2 WHERE upgrade_id = $1 AND orders IS NULL", id,
                   pqxx::binarystring(event.order().SerializeAsString()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<upgrade::v1::Upgrade>> PgStatusStore::Apply(const upgrade::v1::Event& event) {
  std::optional<upgrade::v1::Upgrade> result;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    result.reset();
    if (absl::Status applied = ApplyIn(tx, event, &result); !applied.ok()) return applied;
    if (event.kind_case() != upgrade::v1::Event::kAccepted) return absl::OkStatus();
    // The records that came ahead of this acceptance, in the order they came. One that disagrees
    // with the order is refused (logged and counted: its record was consumed long ago).
    const std::string& id = event.order().upgrade_id();
    pqxx::result pending =
        tx.exec_params("SELECT body FROM status.pending_events WHERE upgrade_id = $1 ORDER BY seq", id);
    tx.exec_params("DELETE FROM status.pending_events WHERE upgrade_id = $1", id);
    for (const auto& row : pending) {
      upgrade::v1::Event early = ParseEventBody(row[0]);
      absl::Status applied = ApplyIn(tx, early, &result);
      if (applied.code() == absl::StatusCode::kPermissionDenied) {
        static metrics::Family& refused = metrics::Default().Counter(
            "upshift_status_refused_early_records_total",
            "Records that came ahead of their upgrade's acceptance and disagreed with its order", {});
        refused.Increment({});
        LogWarning(absl::StrCat("refused record ", early.event_id(), ", which came ahead of its acceptance: ",
                                applied.message()));
        continue;
      }
      if (!applied.ok()) return applied;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
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
                                             pg::MicrosOf("expires_at"), " FROM status.databases");
    pqxx::result databases =
        of == nullptr ? tx.exec(columns) : tx.exec_params(columns + " WHERE name = $1 OR parent = $1", *of);
    for (const auto& row : databases) {
      DatabaseRecord& r = out[row[0].as<std::string>()];
      r.parent = row[1].as<std::string>();
      r.version = row[2].as<std::string>();
      r.expires_at = pg::TimeFromField(row[3]);
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
    for (const auto& row : tx.exec("SELECT upgrade_id, body FROM status.upgrades "
                                   "WHERE state NOT IN (4, 5, 10, 11) FOR UPDATE SKIP LOCKED")) {
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
    for (const auto& row : tx.exec("SELECT body FROM status.upgrades WHERE state NOT IN (4, 5, 10, 11)")) {
      out.push_back(ParseUpgrade(row[0]));
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
