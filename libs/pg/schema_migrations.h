#ifndef UPSHIFT_LIBS_PG_SCHEMA_MIGRATIONS_H_
#define UPSHIFT_LIBS_PG_SCHEMA_MIGRATIONS_H_

// Versioned schemas of the platform database: each service's schema carries the versions applied
// to it, in <schema>.schema_versions, and a replica brings it to its own newest version at start.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "libs/pg/pool.h"

namespace upshift::pg {

struct SchemaMigration {
  int version;              // 1, 2, 3...: each once, in order, never changed once released
  std::string description;  // what it does and why, kept in schema_versions
  std::string sql;          // DDL (and data moves) run in the migration's transaction
};

// Brings `schema` to the last of `migrations` (versions 1..n, ascending), under an advisory lock so
// that replicas starting together apply each migration once. All pending migrations run in one
// transaction with their rows in <schema>.schema_versions: a failure leaves the schema as it was.
// FAILED_PRECONDITION when the schema is at a version newer than the last of `migrations`: a
// replica older than the platform database must not write to it (it would not know the columns
// and rules a newer release relies on). UNAVAILABLE when the database cannot be reached.
absl::Status MigrateSchema(Pool& pool, const std::string& schema, const std::vector<SchemaMigration>& migrations);

// The version `schema` is at (0 before any migration). For tests and operators.
absl::StatusOr<int> SchemaVersion(Pool& pool, const std::string& schema);

}  // namespace upshift::pg

#endif  // UPSHIFT_LIBS_PG_SCHEMA_MIGRATIONS_H_
