#ifndef UPSHIFT_SERVICES_STATUS_PG_STATUS_STORE_H_
#define UPSHIFT_SERVICES_STATUS_PG_STATUS_STORE_H_

#include <memory>

#include "libs/kafka/outbox_relay.h"

#include "services/status/status_store.h"

namespace upshift::pg {
class Pool;
}

namespace upshift::status {

// StatusStore in the platform database, schema `status`.
class PgStatusStore final : public StatusStore {
 public:
  static absl::StatusOr<std::unique_ptr<PgStatusStore>> Open(const std::string& conninfo, int pool_size);
  ~PgStatusStore() override;

  absl::StatusOr<std::optional<upgrade::v1::Upgrade>> Apply(const upgrade::v1::Event& event) override;
  // Forgets the records kept for an acceptance that never came (received before `cutoff`): records
  // about an upgrade request never announced. Returns how many.
  absl::StatusOr<int> ForgetPendingBefore(absl::Time cutoff);
  absl::StatusOr<upgrade::v1::Upgrade> GetUpgrade(const std::string& upgrade_id) override;
  absl::StatusOr<std::vector<upgrade::v1::Upgrade>> ListUpgrades(const std::string& database,
                                                                 const std::optional<std::string>& tenant,
                                                                 const std::optional<UpgradeCursor>& after,
                                                                 int limit) override;
  absl::StatusOr<std::map<std::string, DatabaseRecord>> DatabaseRecords() override;
  absl::StatusOr<std::map<std::string, DatabaseRecord>> DatabaseRecordsOf(const std::string& name) override;
  absl::Status DrainChanges(int limit,
                            const std::function<absl::Status(const std::vector<PendingChange>&)>& publish,
                            int* count) override;
  // The outbox's depth (for /metrics).
  absl::StatusOr<OutboxDepth> Outbox();
  absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time held_before, int limit) override;
  absl::Status ForgetHeld(const std::string& upgrade_id) override;
  absl::StatusOr<int> MarkStalled(absl::Time cutoff) override;
  absl::StatusOr<std::vector<upgrade::v1::Upgrade>> UnfinishedUpgrades() override;
  absl::StatusOr<std::vector<upgrade::v1::Upgrade>> FailedUpgrades(absl::Time since, const std::string& target_version,
                                                                   int limit) override;
  absl::Status RememberVersion(const std::string& database, const std::string& version) override;

 private:
  explicit PgStatusStore(std::unique_ptr<pg::Pool> pool);
  // Every record, or those of `*of` and its copies.
  absl::StatusOr<std::map<std::string, DatabaseRecord>> Records(const std::string* of);
  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_PG_STATUS_STORE_H_
