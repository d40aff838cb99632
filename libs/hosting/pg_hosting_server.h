#ifndef UPSHIFT_LIBS_HOSTING_PG_HOSTING_SERVER_H_
#define UPSHIFT_LIBS_HOSTING_PG_HOSTING_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libs/hosting/hosting_server.h"

namespace upshift {

namespace pg {
class Pool;
}
class TenantLogins;
class Semaphore;

struct PgHostingOptions {
  // libpq connection string of the server (without dbname), e.g. "host=127.0.0.1 port=5432 user=postgres".
  std::string conninfo;
  // Databases of the platform itself on that server: never listed, never upgraded.
  std::vector<std::string> reserved;
  // Directory of pg_dump / pg_restore; empty: PATH.
  std::string pg_bin_dir;
  absl::Duration dump_timeout = absl::Hours(6);
  // Sessions kept open to the maintenance database (a copy holds one for as long as it runs).
  int admin_sessions = 4;
  // Reads inside customer databases on behalf of callers (ReadVersion): at most this many at once
  // per process; a caller waits at most `read_wait` for a place (then RESOURCE_EXHAUSTED), and each
  // statement may take `read_timeout`, lock waits included (then DEADLINE_EXCEEDED). A tenant can
  // make its own version query block; it cannot make this process hold more sessions than this.
  int max_reads = 8;
  absl::Duration read_wait = absl::Seconds(2);
  absl::Duration read_timeout = absl::Seconds(5);
};

class PgHostingServer final : public HostingServer {
 public:
  explicit PgHostingServer(PgHostingOptions options);
  ~PgHostingServer() override;

  absl::StatusOr<std::vector<HostedDatabase>> ListDatabases() override;
  absl::StatusOr<std::vector<HostedDatabase>> FindDatabases(const std::vector<std::string>& names) override;
  absl::StatusOr<HostedDatabase> GetDatabase(const std::string& name) override;
  absl::StatusOr<int64_t> DatabaseSizeBytes(const std::string& database) override;
  absl::StatusOr<std::string> ReadVersion(const std::string& database, const std::string& version_query) override;
  absl::StatusOr<int64_t> DataSizeBytes(const std::string& database) override;
  absl::StatusOr<TableRowCounts> CountRows(const std::string& database) override;
  absl::StatusOr<TableChecksums> ChecksumTables(const std::string& database) override;
  absl::Status CloneFromTemplate(const std::string& source, const std::string& target,
                                 const std::string& strategy) override;
  absl::StatusOr<TableRowCounts> CloneByDump(const std::string& source, const std::string& target) override;
  absl::Status DropDatabase(const std::string& name) override;
  absl::Status Checkpoint() override;
  absl::Status SetConnectionLimit(const std::string& name, int32_t limit) override;
  absl::Status TerminateSessions(const std::string& name) override;
  absl::Status ReplaceDatabase(const std::string& name, const std::string& replacement) override;
  absl::Status SwapDatabases(const std::string& name, const std::string& copy) override;
  absl::Status PutLease(const std::string& database, const std::string& upgrade_id) override;
  absl::StatusOr<std::optional<absl::Duration>> LeaseAge(const std::string& database,
                                                           const std::string& upgrade_id) override;
  absl::Status DeleteLease(const std::string& database, const std::string& upgrade_id) override;

 private:
  // DROP DATABASE, keeping what its ACL was before it went offline (ReplaceDatabase).
  absl::Status Drop(const std::string& name);
  // Forgets what the ACL of database `name` was before it went offline.
  absl::Status ForgetOffline(const std::string& name);
  // Every listed database, or only those of `*only`.
  absl::StatusOr<std::vector<HostedDatabase>> Listed(const std::vector<std::string>* only);

  const PgHostingOptions options_;
  // Connections to the maintenance database `postgres`.
  std::unique_ptr<pg::Pool> admin_;
  // The logins that run the customers' SQL in their databases (the version query, a restore).
  std::unique_ptr<TenantLogins> logins_;
  std::unique_ptr<Semaphore> reads_;
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_HOSTING_PG_HOSTING_SERVER_H_
