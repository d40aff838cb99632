#ifndef UPSHIFT_SERVICES_REQUEST_PG_ORDER_STORE_H_
#define UPSHIFT_SERVICES_REQUEST_PG_ORDER_STORE_H_

#include <memory>
#include <string>

#include "libs/kafka/outbox_relay.h"

#include "services/request/audit_log.h"
#include "services/request/claim_store.h"
#include "services/request/order_store.h"
#include "services/request/rollouts.h"

namespace upshift::pg {
class Pool;
}

namespace upshift::request {

// OrderStore, WindowBook, RolloutBook (pg_rollout_book.cc), AuditLog and ClaimStore in the platform
// database, schema `request`.
class PgOrderStore final : public OrderStore,
                           public WindowBook,
                           public RolloutBook,
                           public AuditLog,
                           public ClaimStore {
 public:
  // Connects lazily; creates the schema if missing (UNAVAILABLE if the database cannot be reached).
  static absl::StatusOr<std::unique_ptr<PgOrderStore>> Open(const std::string& conninfo, int pool_size);
  ~PgOrderStore() override;

  absl::StatusOr<std::optional<StoredOrder>> FindByRequestId(const std::string& tenant,
                                                             const std::string& request_id) override;
  absl::StatusOr<std::optional<StoredOrder>> FindByUpgradeId(const std::string& upgrade_id) override;
  absl::StatusOr<std::optional<StoredOrder>> FindActive(const std::string& database) override;
  absl::StatusOr<std::vector<StoredOrder>> ListByDatabase(const std::string& database) override;
  absl::StatusOr<bool> IsTestCopy(const std::string& database) override;
  absl::Status Admit(const upgrade::v1::Order& order, const OutgoingRecord& record, const AuditOf& audit_of) override;
  absl::Status MarkFinished(const std::string& upgrade_id, Outcome outcome, absl::Time at) override;
  absl::Status RecordTimings(const std::string& upgrade_id, const TestTimings& timings) override;
  absl::StatusOr<int> PruneEnded(absl::Time cutoff, int batch) override;
  absl::StatusOr<int> PruneAudit(absl::Time cutoff, int batch) override;
  absl::StatusOr<std::optional<StoredOrder>> FindByTestDatabase(const std::string& test_database) override;
  absl::Status RecordCopy(const std::string& upgrade_id, absl::Time expires_at, bool removed) override;
  absl::StatusOr<absl::Time> ExtendCopy(
      const std::string& upgrade_id, const std::function<absl::StatusOr<absl::Time>(const StoredOrder&)>& decide,
      const std::function<OutgoingRecord(const StoredOrder&, absl::Time)>& record_for,
      const AuditOf& audit_of) override;
  absl::StatusOr<StoredOrder> Cancel(const std::string& upgrade_id, absl::Time at,
                                     const std::function<OutgoingRecord(const StoredOrder&)>& record_for,
                                     const AuditOf& audit_of) override;
  absl::StatusOr<std::optional<absl::Time>> PassCheckpoint(const std::string& upgrade_id, bool point_of_no_return,
                                                           absl::Time at) override;
  absl::StatusOr<std::vector<StoredOrder>> Scheduled(absl::Time until, bool unreminded, int limit) override;
  absl::Status PutWindow(const std::string& tenant, const std::string& database,
                         const std::optional<upgrade::v1::MaintenanceWindow>& window, const AuditOf& audit_of) override;
  absl::StatusOr<std::optional<Found>> WindowOf(const std::string& tenant, const std::string& database) override;
  absl::StatusOr<bool> StartScheduled(const std::string& upgrade_id, absl::Time at,
                                      const std::function<Start(const StoredOrder&)>& decide) override;
  absl::StatusOr<bool> Remind(const std::string& upgrade_id, absl::Time at,
                              const std::function<std::optional<OutgoingRecord>(const StoredOrder&)>& record_for) override;
  absl::Status DrainOutbox(int limit, const std::function<absl::Status(const std::vector<OutgoingRecord>&)>& publish,
                           int* count) override;
  // The outbox's depth (for /metrics).
  absl::StatusOr<OutboxDepth> Outbox();

  absl::Status Append(const upgrade::v1::AuditRecord& record, const OutgoingRecord& published) override;
  absl::StatusOr<StoredClaim> ClaimWork(const std::string& upgrade_id, const std::string& work,
                                        const std::string& holder, absl::Duration ttl,
                                        const Capacity& capacity = {}) override;
  absl::StatusOr<std::map<std::pair<std::string, std::string>, int>> LiveWork() override;
  absl::Status ReleaseWork(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                           bool done) override;
  absl::StatusOr<std::vector<NumberedAuditRecord>> ListAudit(const std::string& tenant, const std::string& database,
                                                             int64_t before_seq, int limit) override;

  absl::Status CreateRollout(const StoredRollout& rollout) override;
  absl::StatusOr<std::optional<StoredRollout>> FindRollout(const std::string& rollout_id) override;
  absl::StatusOr<std::optional<StoredRollout>> FindRolloutByRequestId(const std::string& request_id) override;
  absl::StatusOr<std::vector<StoredRollout>> ListRollouts(int limit) override;
  absl::StatusOr<std::vector<std::string>> ActiveRollouts() override;
  absl::StatusOr<std::optional<StoredRollout>> LeaseRollout(const std::string& rollout_id, const std::string& holder,
                                                            absl::Time now, absl::Duration ttl) override;
  absl::Status SaveMember(const std::string& rollout_id, const RolloutMember& member) override;
  absl::StatusOr<bool> AdvanceRollout(const StoredRollout& rollout, const std::string& holder) override;
  absl::StatusOr<StoredRollout> ChangeRollout(const std::string& rollout_id,
                                              const std::function<absl::Status(StoredRollout&)>& decide) override;

  // OK when the database answers.
  absl::Status Ping();

 private:
  explicit PgOrderStore(std::unique_ptr<pg::Pool> pool);
  // The orders `where` selects ($1 is `arg`, $2 `second` if given), newest first.
  absl::StatusOr<std::vector<StoredOrder>> Query(const std::string& where, const std::string& arg,
                                                 const std::optional<std::string>& second = std::nullopt);

  // The rollout whose `column` (a constant of pg_rollout_book.cc) is `value`, with its members.
  absl::StatusOr<std::optional<StoredRollout>> FindRolloutWhere(const std::string& column, const std::string& value);

  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_PG_ORDER_STORE_H_
