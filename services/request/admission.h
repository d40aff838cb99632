#ifndef UPSHIFT_SERVICES_REQUEST_ADMISSION_H_
#define UPSHIFT_SERVICES_REQUEST_ADMISSION_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/catalog/catalog.h"
#include "libs/auth/principal.h"
#include "libs/common/rate_limiter.h"
#include "libs/common/time.h"
#include "libs/hosting/hosting_fleet.h"
#include "services/request/auditor.h"
#include "services/request/order_store.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::request {

struct AdmissionOptions {
  // The platform's own databases on the hosting server: never upgraded.
  std::vector<std::string> reserved_databases;
  // A Production upgrade needs a successful Test at most this old.
  absl::Duration max_test_age = absl::Hours(24 * 30);
  // Orders and checks a tenant may make (operators are not limited): `orders_per_hour` (0: no
  // limit), and up to `order_burst` at once.
  int orders_per_hour = 60;
  int order_burst = 10;
  // GetUpgradeOptions calls a tenant may make (each reads its database): `reads_per_minute` (0: no
  // limit), up to `read_burst` at once.
  int reads_per_minute = 120;
  int read_burst = 20;
  // A Production upgrade's bound on its offline window when its order names none: this many times
  // its estimated downtime, and at least `max_offline_floor`.
  double max_offline_factor = 3;
  absl::Duration max_offline_floor = absl::Minutes(5);
  // How long the cloner keeps a successful Production upgrade's restore point (its
  // --restore_point_retention): a revert is admitted only within it.
  absl::Duration restore_point_retention = absl::Hours(24 * 7);
};

// The furthest ahead an upgrade may be scheduled (RequestUpgradeRequest.not_before).
inline constexpr absl::Duration kMaxScheduleAhead = absl::Hours(24 * 90);

// The longest a Production upgrade may keep its database offline: what the order asks
// (`requested`, when set), else the default of `options` for this `estimate`. INVALID_ARGUMENT for
// a bound below the estimate (it would roll back an upgrade going as planned) or above 7 days.
absl::StatusOr<absl::Duration> MaxOffline(std::optional<absl::Duration> requested, absl::Duration estimate,
                                          const AdmissionOptions& options);

// The expected offline time of a Production upgrade, part by part from what its Test measured, each
// scaled by how much the database grew since the Test, plus the hand-offs between services: the
// restore point (the database copied, as the Test copied it; the copy takes its name), then the plan
// (the Test's plan, and the Test's row counts: the Production's plan counts its restore point beside
// its steps, where the Test's had the cloner's counts).
struct DowntimeEstimate {
  absl::Duration restore_point;  // going offline, the database copied and the names swapped
  absl::Duration plan;           // the plan with the restore point read beside it, and coming back online
  absl::Duration total() const { return restore_point + plan; }
};
DowntimeEstimate EstimateDowntime(const TestTimings& test, int64_t size_now_bytes);

// Decides whether an order may be admitted and records it. Thread-safe (its collaborators are).
class Admission {
 public:
  // `admitted` is called after every newly recorded order (to wake the outbox relay).
  // The limits are `orders` and `reads` when given (shared by every replica: PgRateLimiter), else
  // this replica's own, from `options`.
  // Each database is looked for on every server of `fleet`; its order names the one that holds it.
  // A Production upgrade ordered without not_before goes to its database's maintenance window in
  // `windows`, when given and one is set.
  Admission(AdmissionOptions options, const Catalog& catalog, HostingFleet& fleet, OrderStore& store, Clock& clock,
            std::function<void()> admitted, Limiter* orders = nullptr, Limiter* reads = nullptr,
            WindowBook* windows = nullptr);

  // INVALID_ARGUMENT: malformed input. NOT_FOUND: no such database, or another tenant's (the same
  // answer: a caller learns nothing of other tenants' databases). FAILED_PRECONDITION: the order
  // breaks a rule (version, active upgrade, Production without a successful Test, test copy).
  // UNAVAILABLE: a dependency is down; nothing was recorded. A repeated request_id (per tenant)
  // returns the first order's Upgrade when the call asks for the same order, else ALREADY_EXISTS.
  // The order belongs to the database's tenant, its owner role on the hosting server, and names that
  // server. FAILED_PRECONDITION, naming them, when the caller's database name is on two servers.
  // PERMISSION_DENIED first, before anything is looked up, unless `caller` holds upgrades.test (a
  // Test) or upgrades.production (a Production upgrade). RESOURCE_EXHAUSTED when the tenant made
  // more orders and checks than its rate allows (a repeated request_id does not count).
  // `audit_of`, when given, makes the audit record written with the admitted order.
  // `rollout_id`: the rollout that orders it (Order.rollout_id), if any.
  absl::StatusOr<upgrade::v1::Upgrade> RequestUpgrade(const upgrade::v1::RequestUpgradeRequest& request,
                                                      const Principal& caller, const AuditOf& audit_of = nullptr,
                                                      const std::string& rollout_id = "");

  // Admits a check (dry run) of upgrading `database` to `target_version`. Codes as RequestUpgrade;
  // FAILED_PRECONDITION also while a Production upgrade or another check of the database is active.
  // PERMISSION_DENIED without upgrades.test.
  absl::StatusOr<upgrade::v1::Upgrade> CheckUpgrade(const upgrade::v1::CheckUpgradeRequest& request,
                                                    const Principal& caller, const AuditOf& audit_of = nullptr,
                                                    const std::string& rollout_id = "");

  // Admits a revert of a successful Production upgrade (PURPOSE_REVERT): the database goes back to
  // its restore point. PERMISSION_DENIED without upgrades.production. NOT_FOUND: unknown, or another
  // tenant's. FAILED_PRECONDITION: not a successful Production upgrade, not the database's latest,
  // reverted (or being reverted) already, its restore point no longer kept, the database not at its
  // target version, another upgrade active, or `confirm_data_loss` not set (the message says what
  // is lost, since when). Codes otherwise as RequestUpgrade.
  absl::StatusOr<upgrade::v1::RevertUpgradeResponse> RevertUpgrade(const upgrade::v1::RevertUpgradeRequest& request,
                                                                   const Principal& caller,
                                                                   const AuditOf& audit_of = nullptr);

  // The steps of `order`'s plan that run as the hosting server's superuser, as "from->to/step".
  std::vector<std::string> SuperuserSteps(const upgrade::v1::Order& order) const {
    return catalog_.SuperuserSteps(order.from_version(), order.target_version());
  }

  // What may be ordered now, per target version: Test; Production after a matching successful Test;
  // a check unless a Production upgrade or a check is active.
  // PERMISSION_DENIED without upgrades.read. RESOURCE_EXHAUSTED when the tenant made more such
  // calls than its rate allows, or every read of customer databases was busy; DEADLINE_EXCEEDED when
  // the database kept the version query waiting.
  absl::StatusOr<upgrade::v1::GetUpgradeOptionsResponse> GetUpgradeOptions(
      const upgrade::v1::GetUpgradeOptionsRequest& request, const Principal& caller);

 private:
  // The order first admitted in `asked`'s tenant with its request_id, if any. ALREADY_EXISTS when that order is not
  // what `asked` asks for (another database, target, purpose or email): a reused key is refused.
  absl::StatusOr<std::optional<upgrade::v1::Upgrade>> FirstWithRequestId(const upgrade::v1::Order& asked);
  // A new order for `placed` (its tenant, server and name) with a fresh upgrade id.
  upgrade::v1::Order NewOrder(const PlacedDatabase& placed, const std::string& from,
                              const std::string& target, upgrade::v1::Purpose purpose,
                              const std::string& request_id) const;
  // The order's scheduled start: nullopt when it starts at once (none asked, or one not after now).
  // INVALID_ARGUMENT for a malformed time, or one more than kMaxScheduleAhead ahead.
  absl::StatusOr<std::optional<absl::Time>> NotBefore(const upgrade::v1::RequestUpgradeRequest& request);
  // Takes one of the tenant's orders, unless an operator orders.
  absl::Status Limit(const std::string& tenant, const Principal& caller);
  // Records a new order (created now) with its acceptance in the outbox, and wakes the relay.
  absl::StatusOr<upgrade::v1::Upgrade> Record(upgrade::v1::Order order, const AuditOf& audit_of);
  // Validates `database` and finds its server (Locate); its owner role is its tenant. NOT_FOUND, in
  // the words used for a database that does not exist, when it is another tenant's.
  absl::StatusOr<PlacedDatabase> Place(const std::string& database, const Principal& caller);
  // Reads the current version of `placed`, refusing a test copy.
  absl::StatusOr<std::string> CurrentVersion(const PlacedDatabase& placed);
  // The successful Test that allows a Production upgrade of `database` from `from` to `target`, or
  // FAILED_PRECONDITION saying which rule fails and what to do.
  absl::StatusOr<const StoredOrder*> TestAllowingProduction(const std::vector<StoredOrder>& orders,
                                                            const std::string& database, const std::string& from,
                                                            const std::string& target) const;

  const AdmissionOptions options_;
  const Catalog& catalog_;
  HostingFleet& fleet_;
  OrderStore& store_;
  Clock& clock_;
  RateLimiter own_orders_limit_;
  RateLimiter own_reads_limit_;
  Limiter& per_tenant_;
  Limiter& reads_per_tenant_;
  std::function<void()> admitted_;
  WindowBook* const windows_;
};

// The audit of `call` when the logic commits a decision about an order: the record is written in
// that decision's own transaction, naming the order's tenant, database (unless the call named one)
// and id, and for an admission (`admission` given) the plan's superuser steps. *written, when
// given, says it was made (the caller then records the call only if the decision did not commit).
AuditOf AuditInDecision(Auditor& auditor, const AuditedCall& call, bool* written, const Admission* admission);

// The Upgrade the API shows for a stored order (state ACCEPTED while active).
upgrade::v1::Upgrade UpgradeOf(const StoredOrder& stored);

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_ADMISSION_H_
