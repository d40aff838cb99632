#ifndef UPSHIFT_SERVICES_MIGRATOR_PG_MIGRATION_TARGET_H_
#define UPSHIFT_SERVICES_MIGRATOR_PG_MIGRATION_TARGET_H_

#include <memory>
#include <string>

#include "services/migrator/migration_target.h"

namespace upshift {
class TenantLogins;
namespace pg {
class Pool;
}
}

namespace upshift::migrator {

// MigrationTarget over connections to databases of the hosting server. The customer's SQL (steps,
// checks, the version query, set_version, constraint validation) runs in a session of the owner's
// login (TenantLogins), never a superuser's, but for steps the catalog marks `superuser` and in a
// database whose owner is itself a superuser; the platform's own statements (its history's schema, the lease, row counts and
// checksums) run in a platform session with a pinned search_path. One session of each kind per
// database is kept between calls (a plan makes a few dozen; opening a connection costs more than
// most of them) until EndSession.
class PgMigrationTarget final : public MigrationTarget {
 public:
  // `conninfo`: libpq connection string of the hosting server, without dbname.
  explicit PgMigrationTarget(std::string conninfo);
  ~PgMigrationTarget() override;

  absl::StatusOr<bool> ApplyStep(const StepRun& step) override;
  absl::StatusOr<int> ApplyStepsTogether(const std::vector<StepRun>& steps) override;
  absl::Status SetVersion(const std::string& database, const std::string& set_version_sql,
                          const std::string& version, const std::string& fence) override;
  absl::Status Heartbeat(const std::string& database, const std::string& upgrade_id) override;
  absl::StatusOr<std::string> ReadVersion(const std::string& database, const std::string& version_query) override;
  absl::StatusOr<bool> RunCheck(const std::string& database, const std::string& sql) override;
  absl::StatusOr<bool> AcceptsConnections(const std::string& database) override;
  absl::StatusOr<std::map<std::string, int64_t>> CountRows(const std::string& database) override;
  absl::StatusOr<std::map<std::string, std::string>> ChecksumTables(const std::string& database,
                                                                    const std::vector<std::string>& tables,
                                                                    const std::function<void()>& pinned) override;
  absl::StatusOr<std::vector<std::string>> ValidateConstraints(const std::string& database) override;
  absl::StatusOr<std::vector<upgrade::v1::StepReport>> History(const std::string& database) override;
  void EndSession(const std::string& database) override;

 private:
  class Sessions;  // the kept sessions, one per database

  // Who acts for a database's owner: its login (empty: the platform's own session).
  struct Tenancy {
    std::string owner;
    bool owner_is_superuser = false;
    std::string login;
  };
  absl::StatusOr<Tenancy> TenancyOf(const std::string& database);

  const std::string conninfo_;
  const std::unique_ptr<pg::Pool> admin_;  // the maintenance database: who owns a database
  const std::unique_ptr<TenantLogins> logins_;
  const std::unique_ptr<Sessions> platform_;  // the platform's own statements
  const std::unique_ptr<Sessions> tenant_;    // the owner's SQL
};

}  // namespace upshift::migrator

#endif  // UPSHIFT_SERVICES_MIGRATOR_PG_MIGRATION_TARGET_H_
