#ifndef UPSHIFT_SERVICES_CLONER_PG_CLONE_STORE_H_
#define UPSHIFT_SERVICES_CLONER_PG_CLONE_STORE_H_

#include <memory>

#include "services/cloner/stores.h"

namespace upshift::pg {
class Pool;
}

namespace upshift::cloner {

// The cloner's stores in the platform database, schema `cloner`.
class PgCloneStore final : public DatabaseLedger,
                           public TestCopyStore,
                           public ProductionStore,
                           public AppliedEvents {
 public:
  static absl::StatusOr<std::unique_ptr<PgCloneStore>> Open(const std::string& conninfo);
  ~PgCloneStore() override;

  absl::StatusOr<std::optional<upgrade::v1::CloneSucceeded>> Find(const std::string& upgrade_id) override;
  absl::Status Save(const upgrade::v1::Order& order, const upgrade::v1::CloneSucceeded& result, absl::Time cloned_at,
                    absl::Time expires_at) override;
  absl::StatusOr<std::vector<CopyRecord>> LiveCopies(const std::string& database) override;
  absl::Status MarkCopyDropped(const std::string& upgrade_id) override;
  absl::Status SetCopyWarned(const std::string& upgrade_id, int days) override;
  absl::Status SetCopyExpiry(const std::string& upgrade_id, absl::Time expires_at) override;
  absl::StatusOr<bool> WasApplied(const std::string& event_id) override;
  absl::Status MarkApplied(const std::string& event_id) override;
  absl::StatusOr<int> ForgetAppliedBefore(absl::Time cutoff, int batch) override;
  absl::Status RecordDrop(const std::string& upgrade_id, const std::string& database,
                          const std::string& reason) override;
  absl::Status RecordMaking(const std::string& upgrade_id, const std::string& database) override;
  absl::Status ForgetMaking(const std::string& upgrade_id, const std::string& database) override;
  absl::StatusOr<bool> Made(const std::string& upgrade_id, const std::string& database) override;
  absl::StatusOr<std::optional<ProductionRecord>> FindProduction(const std::string& upgrade_id) override;
  absl::Status SaveOffline(const upgrade::v1::Order& order, int32_t previous_connection_limit,
                           absl::Time at, int64_t database_oid) override;
  absl::StatusOr<std::vector<std::pair<upgrade::v1::Order, absl::Time>>> InFlightProductions() override;
  absl::Status SaveSnapshot(const std::string& upgrade_id, const upgrade::v1::SnapshotSucceeded& snapshot) override;
  absl::Status SaveRolledBack(const std::string& upgrade_id) override;
  absl::StatusOr<bool> ClaimOutcome(const std::string& upgrade_id, ProductionOutcome outcome) override;
  absl::Status SaveSucceeded(const std::string& upgrade_id, const std::string& restore_point, absl::Time at) override;
  absl::StatusOr<std::map<std::string, KeptRestorePoint>> RestorePointsKeptSince(absl::Time cutoff) override;
  absl::Status SaveRestorePointDropped(const std::string& upgrade_id) override;

 private:
  explicit PgCloneStore(std::unique_ptr<pg::Pool> pool);
  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_PG_CLONE_STORE_H_
