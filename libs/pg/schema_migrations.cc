#include "libs/pg/schema_migrations.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"

namespace upshift::pg {
namespace {

// The schema names are the services' own constants, never input; checked all the same, since they
// are written into SQL.
bool PlainIdentifier(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9'))) return false;
  }
  return !(name[0] >= '0' && name[0] <= '9');
}

int CurrentVersion(pqxx::transaction_base& tx, const std::string& schema) {
  pqxx::row exists = tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", schema + ".schema_versions");
  if (!exists[0].as<bool>()) return 0;
  return tx.exec1(absl::StrCat("SELECT coalesce(max(version), 0) FROM ", schema, ".schema_versions"))[0].as<int>();
}

}  // namespace

absl::Status MigrateSchema(Pool& pool, const std::string& schema, const std::vector<SchemaMigration>& migrations) {
  if (!PlainIdentifier(schema)) return absl::InvalidArgumentError(absl::StrCat("bad schema name: ", schema));
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return absl::InternalError(absl::StrCat("the ", schema, " migrations must be numbered 1, 2, 3..."));
    }
  }
  const int newest = static_cast<int>(migrations.size());
  int from = 0;
  absl::Status status = pool.Transact([&](pqxx::work& tx) {
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", absl::StrCat("upshift.", schema, ".schema"));
    from = CurrentVersion(tx, schema);
    if (from > newest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the platform database's ", schema, " schema is at version ", from, ", newer than this binary knows (",
          newest, "): this replica is older than the release that migrated it; run that release or a later one"));
    }
    if (from == newest) return absl::OkStatus();
    tx.exec(absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", schema, "; CREATE TABLE IF NOT EXISTS ", schema,
                         ".schema_versions (version integer PRIMARY KEY, description text NOT NULL, "
                         "applied_at timestamptz NOT NULL DEFAULT now())"));
    for (int v = from + 1; v <= newest; ++v) {
      const SchemaMigration& m = migrations[v - 1];
      tx.exec(m.sql);
      tx.exec_params(absl::StrCat("INSERT INTO ", schema, ".schema_versions (version, description) VALUES ($1, $2)"),
                     m.version, m.description);
    }
    return absl::OkStatus();
  });
  if (status.ok() && from < newest) {
    LogInfo(absl::StrCat("platform database: ", schema, " schema migrated from version ", from, " to ", newest));
  }
  return status;
}

absl::StatusOr<int> SchemaVersion(Pool& pool, const std::string& schema) {
  if (!PlainIdentifier(schema)) return absl::InvalidArgumentError(absl::StrCat("bad schema name: ", schema));
  int version = 0;
  absl::Status status = pool.NoTransaction([&](pqxx::nontransaction& tx) {
    version = CurrentVersion(tx, schema);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return version;
}

}  // namespace upshift::pg
