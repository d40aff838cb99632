#ifndef UPSHIFT_SERVICES_STATUS_DATABASE_VIEW_H_
#define UPSHIFT_SERVICES_STATUS_DATABASE_VIEW_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/catalog/catalog.h"
#include "libs/hosting/hosting_fleet.h"
#include "services/status/status_store.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::status {

struct DatabasePage {
  std::vector<upgrade::v1::Database> databases;
  bool more = false;  // more visible main databases follow the last one
};

// Where a page of ListDatabases starts: after this main database ("": from the first).
struct PagePosition {
  std::string name, server;
};

// The database manager view: the customer databases on every hosting server, with what status knows
// of them (version, tags) and their test copies nested under them. Thread-safe.
class DatabaseView {
 public:
  DatabaseView(HostingFleet& fleet, DatabaseRecordStore& store, const Catalog& catalog,
               std::vector<std::string> reserved_databases);

  // The first `limit` main databases by name (then server) after `after` whose tenant is `visible`,
  // each with its test copies and restore points (by name, on its server) nested; only `server`'s
  // when not empty (NOT_FOUND: no such server). A copy whose main database is gone is listed on its
  // own, as its own tenant's. Only the page's databases are described (a description may read the
  // version from the database itself). A server that does not answer is left out (logged); its
  // databases are listed again when it answers.
  absl::StatusOr<DatabasePage> ListDatabases(const std::function<bool(const std::string& tenant)>& visible,
                                             const PagePosition& after, int limit, const std::string& server = "");

  // INVALID_ARGUMENT: malformed name. NOT_FOUND: on no hosting server (`server`'s only, when given).
  // FAILED_PRECONDITION: on two servers (Locate). A copy belongs to the tenant of its main database
  // (when that still exists).
  // With `may_see`, NOT_FOUND (as for a database that does not exist) unless it holds for the
  // database's tenant (a copy's: its main database's owner), checked before anything of the
  // database is read or remembered.
  absl::StatusOr<upgrade::v1::Database> GetDatabase(
      const std::string& name, const std::function<bool(const std::string& tenant)>& may_see = nullptr,
      const std::string& server = "");

 private:
  // The version status remembers, else the one the database reports (then remembered).
  std::string VersionOf(DatabaseDirectory& hosting, const std::string& server, const std::string& name,
                        const DatabaseRecord* record);
  // One database of `server` as the manager shows it, without its copies.
  upgrade::v1::Database Describe(DatabaseDirectory& hosting, const std::string& server, const HostedDatabase& hosted,
                                 const std::map<std::string, DatabaseRecord>& records);

  HostingFleet& fleet_;
  DatabaseRecordStore& store_;
  const Catalog& catalog_;
  const std::vector<std::string> reserved_;
  absl::Mutex mu_;
  // (server, database) whose version query failed
  std::set<std::pair<std::string, std::string>> not_application_ ABSL_GUARDED_BY(mu_);
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_DATABASE_VIEW_H_
