#include "services/cloner/pg_clone_store.h"

#include "libs/pg/pg.h"

namespace upshift::cloner {
namespace {

constexpr char kSchema[] = R"sql(
CREATE SCHEMA IF NOT EXISTS cloner;
CREATE TABLE IF NOT EXISTS cloner.clones (
  upgrade_id    text PRIMARY KEY,
  test_database text NOT NULL,
  result        bytea NOT NULL,  -- upgrade.v1.CloneSucceeded
  cloned_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS cloner.drops (
  upgrade_id text NOT NULL,
  database   text NOT NULL,
  reason     text NOT NULL,
  dropped_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (upgrade_id, database)
);
)sql";

}  // namespace

absl::StatusOr<std::unique_ptr<PgCloneStore>> PgCloneStore::Open(const std::string& conninfo) {
  auto pool = std::make_unique<pg::Pool>(conninfo, 2);
  if (absl::Status s = pg::EnsureSchema(*pool, "upshift.cloner.schema", kSchema); !s.ok()) return s;
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

absl::Status PgCloneStore::Save(const std::string& upgrade_id, const std::string& test_database,
                                const upgrade::v1::CloneSucceeded& result) {
  return pool_->Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO cloner.clones (upgrade_id, test_database, result) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        upgrade_id, test_database, pqxx::binarystring(result.SerializeAsString()));
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

}  // namespace upshift::cloner
