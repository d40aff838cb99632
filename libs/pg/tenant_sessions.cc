#include "libs/pg/tenant_sessions.h"

#include "absl/strings/str_cat.h"
#include "libs/pg/connections.h"

namespace upshift::pg {

std::string DatabaseOwner(pqxx::transaction_base& tx) {
  return tx.exec1("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database "
                  "WHERE datname = pg_catalog.current_database()")[0]
      .as<std::string>();
}

void ActAsOwner(pqxx::transaction_base& tx, const std::string& owner) {
  tx.exec(absl::StrCat("SET LOCAL ROLE ", tx.quote_name(owner)));
  tx.exec(absl::StrCat("SET LOCAL search_path = ", kPinnedSearchPath));
}

void ActAsPlatform(pqxx::transaction_base& tx) {
  tx.exec("RESET ROLE");
  tx.exec(absl::StrCat("SET LOCAL search_path = ", kPlatformSearchPath));
}

void ActAsSuperuser(pqxx::transaction_base& tx) {
  tx.exec(absl::StrCat("SET LOCAL search_path = ", kPinnedSearchPath));
}

std::string OwnerOptions(const std::string& owner) {
  // The server takes the role's name as it is (no identifier quoting).
  return absl::StrCat("-c role=", EscapeOption(owner), " -c search_path=public,pg_catalog");
}

std::string PlatformSession(absl::string_view base, absl::string_view dbname) {
  return WithSessionSettings(ConnInfoFor(base, dbname), {{"search_path", kPlatformSearchPath}});
}

absl::Status WithPlatformSession(absl::string_view base, absl::string_view dbname,
                                 const std::function<absl::Status(pqxx::connection&)>& fn) {
  return WithConnInfo(PlatformSession(base, dbname), fn);
}

absl::Status CheckPlatformSchema(pqxx::transaction_base& tx) {
  pqxx::result schema = tx.exec_params(
      "SELECT r.rolname, r.rolsuper FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner "
      "WHERE n.nspname = $1",
      kPlatformSchema);
  if (schema.empty()) return absl::OkStatus();
  if (!schema[0][1].as<bool>()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "schema \"", kPlatformSchema, "\" of this database was not made by Upshift (it belongs to role \"",
        schema[0][0].as<std::string>(), "\"): Upshift neither reads nor writes it; drop or rename it"));
  }
  // Anything in it that is not a plain table of a superuser's, or that would run code when written.
  pqxx::result odd = tx.exec_params(
      "SELECT c.relname, CASE WHEN c.relkind NOT IN ('r', 'i', 'S') THEN 'is not a table' "
      "WHEN NOT r.rolsuper THEN 'belongs to role ' || r.rolname "
      "WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid) THEN 'has a trigger' "
      "WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid) THEN 'has a rule' "
      "WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) THEN 'has a policy' END "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "JOIN pg_catalog.pg_roles r ON r.oid = c.relowner WHERE n.nspname = $1 "
      "AND (c.relkind NOT IN ('r', 'i', 'S') OR NOT r.rolsuper "
      "OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid) "
      "OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid) "
      "OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)) ORDER BY 1 LIMIT 1",
      kPlatformSchema);
  if (!odd.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("relation ", kPlatformSchema, ".", odd[0][0].as<std::string>(),
                                                      " of this database ", odd[0][1].as<std::string>(),
                                                      ": it was not made by Upshift, which neither reads nor writes "
                                                      "its schema now"));
  }
  return absl::OkStatus();
}

absl::Status EnsurePlatformSchema(pqxx::transaction_base& tx) {
  if (absl::Status ours = CheckPlatformSchema(tx); !ours.ok()) return ours;
  tx.exec(absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", kPlatformSchema));
  return CheckPlatformSchema(tx);
}

bool PlatformTableExists(pqxx::transaction_base& tx, const std::string& name) {
  return !tx.exec_params("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'",
                         kPlatformSchema, name)
              .empty();
}

}  // namespace upshift::pg
