#ifndef UPSHIFT_LIBS_HOSTING_HOSTING_SERVER_H_
#define UPSHIFT_LIBS_HOSTING_HOSTING_SERVER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift {

struct HostedDatabase {
  std::string name;
  // Accepts connections from applications (see SetConnectionLimit).
  bool online = true;
  // The applications' connection limit: pg_database.datconnlimit (-1: no limit), 0 while offline.
  int32_t connection_limit = -1;
  // The database's owner role (pg_database.datdba): the tenant it belongs to.
  std::string owner;
  // The owner is a superuser: there is no tenant below it.
  bool owner_is_superuser = false;
  // pg_database.oid: which database bears the name now (SwapDatabases exchanges names, not files).
  int64_t oid = 0;
};

// NOT_FOUND for a database that is not on the hosting server, in the words every service uses: a
// caller told that another tenant's database does not exist hears exactly this.
absl::Status DatabaseNotFound(const std::string& name);

// table ("schema.table") -> value, ordered by table.
using TableRowCounts = std::map<std::string, int64_t>;
using TableChecksums = std::map<std::string, std::string>;

// The PostgreSQL server that hosts the customers' databases, seen through four narrow ports, one per
// thing a caller does with it. Database names given here must have passed ValidateDatabaseName.
// Implementations are thread-safe. Every method may return UNAVAILABLE when the server cannot be
// reached (retry later).

// Which databases the server holds, and what version each one is at.
class DatabaseDirectory {
 public:
  virtual ~DatabaseDirectory() = default;

  // Every database except templates, `postgres` and the platform's reserved ones, by name.
  virtual absl::StatusOr<std::vector<HostedDatabase>> ListDatabases() = 0;

  // Those of `names` that ListDatabases would list, by name: what one database and its copies need
  // without listing the whole server.
  virtual absl::StatusOr<std::vector<HostedDatabase>> FindDatabases(const std::vector<std::string>& names) = 0;

  // NOT_FOUND when there is no such database.
  virtual absl::StatusOr<HostedDatabase> GetDatabase(const std::string& name) = 0;

  // Runs the catalog's version query in `database`. NOT_FOUND: no such database.
  // FAILED_PRECONDITION: the query fails or returns no single value (not an application database).
  virtual absl::StatusOr<std::string> ReadVersion(const std::string& database, const std::string& version_query) = 0;
};

// What a database holds, measured: its size, its rows and its content.
class DatabaseMeasures {
 public:
  virtual ~DatabaseMeasures() = default;

  // On-disk bytes of the whole database, system catalogs included (pg_database_size). Reads only
  // the file system: never waits for a lock a session holds on a table. NOT_FOUND: no such database.
  virtual absl::StatusOr<int64_t> DatabaseSizeBytes(const std::string& database) = 0;

  // On-disk bytes of every table outside the system schemas, with their indexes and TOAST: the
  // size of the application's data, without the system catalogs every database carries.
  virtual absl::StatusOr<int64_t> DataSizeBytes(const std::string& database) = 0;

  // Exact row counts of every table outside the system schemas, read in one snapshot.
  virtual absl::StatusOr<TableRowCounts> CountRows(const std::string& database) = 0;

  // A content checksum of every table outside the system schemas (order-independent), one snapshot.
  virtual absl::StatusOr<TableChecksums> ChecksumTables(const std::string& database) = 0;
};

// Databases made, replaced and dropped as whole files.
class DatabaseCopier {
 public:
  virtual ~DatabaseCopier() = default;

  // CREATE DATABASE target TEMPLATE source with `strategy` ("wal_log" or "file_copy"), owned by the
  // source's owner (so the copy stays its tenant's).
  // ALREADY_EXISTS: target exists. FAILED_PRECONDITION: source has other sessions (cannot be used as
  // a template now). NOT_FOUND: no source.
  virtual absl::Status CloneFromTemplate(const std::string& source, const std::string& target,
                                         const std::string& strategy) = 0;

  // Copies `source` into a new `target` (owned by the source's owner, and every object in it by the
  // role that owns it in the source) with pg_dump | pg_restore while `source` stays in use, and
  // returns the source's row counts (as CountRows) read in the very snapshot the dump copied: what
  // the copy must hold, whatever the source's sessions write meanwhile.
  // ALREADY_EXISTS: target exists (complete or not: drop it to start over).
  virtual absl::StatusOr<TableRowCounts> CloneByDump(const std::string& source, const std::string& target) = 0;

  // DROP DATABASE IF EXISTS, ending its sessions first.
  virtual absl::Status DropDatabase(const std::string& name) = 0;

  // CHECKPOINT: writes every page any database of the server left dirty to disk. A file-level copy
  // begins with one; taken beforehand, while the source still serves, it leaves the copy's own
  // checkpoint little to write. Runs nothing inside any database.
  virtual absl::Status Checkpoint() = 0;

  // Replaces `name` by `replacement` (dropped, then `replacement` renamed to `name`). NOT_FOUND
  // when `replacement` does not exist (and `name` is left as it is).
  virtual absl::Status ReplaceDatabase(const std::string& name, const std::string& replacement) = 0;

  // Exchanges the names of `name` and `copy` in one transaction, and gives `copy` what belongs to the
  // name rather than to the files: `name`'s ACL and connection limit as they are now (offline, for a
  // Production), its settings (ALTER DATABASE … SET, also per role) and its comment. `name` keeps
  // its own. Neither may have sessions. NOT_FOUND: either does not exist. FAILED_PRECONDITION: one
  // has sessions. Nothing changed unless it returns OK.
  virtual absl::Status SwapDatabases(const std::string& name, const std::string& copy) = 0;
};

// Who may use a database: taking it offline for a Production upgrade, and the lease that fences it.
class DatabaseAccess {
 public:
  virtual ~DatabaseAccess() = default;

  // Sets the applications' connection limit of the database (-1: no limit). 0 takes it offline: no
  // application's role may connect, while the platform and the owner's tenant login (which runs
  // the owner's SQL: libs/hosting/tenant_logins.h) still can; another value brings it back as it
  // was. NOT_FOUND: no such database.
  virtual absl::Status SetConnectionLimit(const std::string& name, int32_t limit) = 0;

  // Ends every session on the database except the caller's own, waiting (up to 5 s) for each to end.
  virtual absl::Status TerminateSessions(const std::string& name) = 0;

  // The lease of a Production upgrade inside its database (table upshift.production_lease): written
  // after the restore point is verified, so the restore point never holds it. It fences the
  // migrator (no step runs in a database without its upgrade's lease) and carries its heartbeat.
  virtual absl::Status PutLease(const std::string& database, const std::string& upgrade_id) = 0;
  // Time since the lease's last heartbeat, by the database server's clock; nullopt when the database
  // holds no lease for the upgrade.
  virtual absl::StatusOr<std::optional<absl::Duration>> LeaseAge(const std::string& database,
                                                                   const std::string& upgrade_id) = 0;
  virtual absl::Status DeleteLease(const std::string& database, const std::string& upgrade_id) = 0;
};

// One hosting server: its four ports, implemented together by an adapter over one connection pool.
// It declares nothing of its own; a caller takes the narrowest port it needs, and only a caller
// that needs all of them (the Production cutover) takes the whole server.
class HostingServer : public DatabaseDirectory,
                      public DatabaseMeasures,
                      public DatabaseCopier,
                      public DatabaseAccess {};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_HOSTING_HOSTING_SERVER_H_
