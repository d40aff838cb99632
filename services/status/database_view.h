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
#include "libs/hosting/hosting_server.h"
#include "services/status/status_store.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::status {

struct DatabasePage {
  std::vector<upgrade::v1::Database> databases;
  bool more = false;  // more visible main databases follow the last one
};

// The database manager view: the customer databases on the hosting server, with what status knows
// of them (version, tags) and their test copies nested under them. Thread-safe.
class DatabaseView {
 public:
  DatabaseView(DatabaseDirectory& hosting, DatabaseRecordStore& store, const Catalog& catalog,
               std::vector<std::string> reserved_databases);

  // The first `limit` main databases by name after `after` ("": from the first) whose tenant is
  // `visible`, each with its test copies and restore points (by name) nested. A copy whose main
  // database is gone is listed on its own, as its own tenant's. Only the page's databases are
  // described (a description may read the version from the database itself).
  absl::StatusOr<DatabasePage> ListDatabases(const std::function<bool(const std::string& tenant)>& visible,
                                             const std::string& after, int limit);

  // INVALID_ARGUMENT: malformed name. NOT_FOUND: not on the hosting server. A copy belongs to the
  // tenant of its main database (when that still exists).
  // With `may_see`, NOT_FOUND (as for a database that does not exist) unless it holds for the
  // database's tenant (a copy's: its main database's owner), checked before anything of the
  // database is read or remembered.
  absl::StatusOr<upgrade::v1::Database> GetDatabase(
      const std::string& name, const std::function<bool(const std::string& tenant)>& may_see = nullptr);

 private:
  // The version status remembers, else the one the database reports (then remembered).
  std::string VersionOf(const std::string& name, const DatabaseRecord* record);
  // One database as the manager shows it, without its copies.
  upgrade::v1::Database Describe(const HostedDatabase& hosted, const std::map<std::string, DatabaseRecord>& records);

  DatabaseDirectory& hosting_;
  DatabaseRecordStore& store_;
  const Catalog& catalog_;
  const std::vector<std::string> reserved_;
  absl::Mutex mu_;
  std::set<std::string> not_application_ ABSL_GUARDED_BY(mu_);  // databases whose version query failed
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_DATABASE_VIEW_H_
