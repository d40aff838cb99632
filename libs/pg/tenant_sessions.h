#ifndef UPSHIFT_LIBS_PG_TENANT_SESSIONS_H_
#define UPSHIFT_LIBS_PG_TENANT_SESSIONS_H_

// Sessions in a customer's database: the platform's own pinned to the built-ins, the customer's SQL
// run as its owner, and the platform's schema there checked before it is trusted.

#include <functional>
#include <pqxx/pqxx>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace upshift::pg {

// The search_path of every session the platform's own role opens in a customer's database, set at
// connection time (PlatformSession) so that it also overrides a database-level search_path the
// customer set: the built-ins only, and the session's own temporary schema last, which no other
// role can write. Upshift's statements there also name pg_catalog's functions in full.
inline constexpr char kPlatformSearchPath[] = "pg_catalog, pg_temp";

// The connection string of a platform session in a customer's database `dbname` on the server
// `base` describes: kPlatformSearchPath from the first statement on.
std::string PlatformSession(absl::string_view base, absl::string_view dbname);

// Opens a platform session (PlatformSession) in `dbname`, runs `fn`, closes it.
absl::Status WithPlatformSession(absl::string_view base, absl::string_view dbname,
                                 const std::function<absl::Status(pqxx::connection&)>& fn);

// The schema the platform keeps its own tables in, inside a customer's database.
inline constexpr char kPlatformSchema[] = "upshift";

// OK when schema `upshift` of `tx`'s database is absent or the platform's: owned by a superuser
// (no customer can make one so), and every relation in it an ordinary table owned by a superuser,
// with no trigger and no rule (no code of a customer's runs when the platform writes it).
// FAILED_PRECONDITION saying what is wrong otherwise: the platform then neither reads nor writes it.
absl::Status CheckPlatformSchema(pqxx::transaction_base& tx);
// Makes schema `upshift` if it is missing, then CheckPlatformSchema. Needs a superuser session.
absl::Status EnsurePlatformSchema(pqxx::transaction_base& tx);
// Whether table upshift.<name> exists (after CheckPlatformSchema said the schema is the platform's).
bool PlatformTableExists(pqxx::transaction_base& tx, const std::string& name);

// Over pg_database `d` joined with its owner's pg_roles `r`: whether applications can connect. A
// database whose owner is an ordinary role (a tenant) is offline while that owner may not CONNECT
// (the platform revoked it from everyone but the owner's tenant login); one owned by a superuser,
// which no ACL can keep out, while its connection limit is 0.
inline constexpr char kDatabaseOnlineSql[] =
    "(d.datallowconn AND d.datconnlimit <> 0 AND "
    "(r.rolsuper OR pg_catalog.has_database_privilege(d.datdba, d.oid, 'CONNECT')))";

// The search_path catalog SQL runs with: `public` (where unqualified names are created and found)
// and the built-ins, nothing else, so that nothing a customer puts in another schema (its role's
// "$user" schema among them) or in a database-level search_path changes what the SQL names.
// (pg_catalog first would make it the schema CREATE TABLE creates in.)
inline constexpr char kPinnedSearchPath[] = "public, pg_catalog";

// The owner role of the database `tx` is connected to: the role catalog SQL runs as.
std::string DatabaseOwner(pqxx::transaction_base& tx);

// For the rest of `tx` (SET LOCAL): acts as `owner` (DatabaseOwner) with the pinned search_path.
// The session stays the platform's: it can enter an offline database (connection limit 0 admits
// superusers only), and ActAsPlatform ends the switch. What the SQL calls runs with the owner's
// privileges, not the superuser's.
void ActAsOwner(pqxx::transaction_base& tx, const std::string& owner);
// Ends ActAsOwner inside `tx`: the platform's own statements that follow run as the session's role,
// with kPlatformSearchPath.
void ActAsPlatform(pqxx::transaction_base& tx);
// For the rest of `tx`: catalog SQL the catalog marks `superuser` runs in the platform's session
// with the search_path catalog SQL has (kPinnedSearchPath), so that its unqualified names mean what
// they mean in every other step.
void ActAsSuperuser(pqxx::transaction_base& tx);
// The PGOPTIONS that make a libpq client (a command step) act as `owner` with the pinned search_path.
// Every character libpq would split on (white space) or read as an escape (backslash) is escaped.
std::string OwnerOptions(const std::string& owner);

}  // namespace upshift::pg

#endif  // UPSHIFT_LIBS_PG_TENANT_SESSIONS_H_
