#ifndef UPSHIFT_SERVICES_NOTIFIER_PG_SENT_LOG_H_
#define UPSHIFT_SERVICES_NOTIFIER_PG_SENT_LOG_H_

#include <memory>

#include "services/notifier/sent_log.h"

namespace upshift::pg {
class Pool;
}

namespace upshift::notifier {

// SentLog in the platform database, schema `notifier`.
class PgSentLog final : public SentLog {
 public:
  static absl::StatusOr<std::unique_ptr<PgSentLog>> Open(const std::string& conninfo);
  ~PgSentLog() override;
  absl::StatusOr<bool> WasSent(const std::string& event_id) override;
  absl::Status MarkSent(const std::string& event_id, const std::string& upgrade_id, const std::string& to,
                        const std::string& subject, bool ends) override;
  absl::StatusOr<std::optional<std::string>> EndAnnounced(const std::string& upgrade_id) override;
  absl::Status RememberOrder(const upgrade::v1::Order& order) override;
  absl::StatusOr<std::optional<upgrade::v1::Order>> RememberedOrder(const std::string& upgrade_id) override;
  absl::Status Defer(const upgrade::v1::Event& event) override;
  absl::StatusOr<std::vector<upgrade::v1::Event>> Deferred(const std::string& upgrade_id) override;
  absl::Status ForgetDeferred(const std::string& event_id) override;
  absl::StatusOr<std::vector<std::string>> AwaitingAcceptance(absl::Time kept_before, int limit) override;
  absl::Status ForgetHeld(const std::string& upgrade_id) override;
  absl::StatusOr<int> Prune(absl::Time cutoff, absl::Time pending_cutoff, int batch) override;

 private:
  explicit PgSentLog(std::unique_ptr<pg::Pool> pool);
  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace upshift::notifier

#endif  // UPSHIFT_SERVICES_NOTIFIER_PG_SENT_LOG_H_
