#ifndef UPSHIFT_SERVICES_REQUEST_ORDER_STORE_H_
#define UPSHIFT_SERVICES_REQUEST_ORDER_STORE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kafka/publisher.h"
#include "services/request/audit_log.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::request {

enum class Outcome { kActive, kSucceeded, kFailed, kCancelled };

// What a Test upgrade measured: the basis of its Production upgrade's downtime estimate.
struct TestTimings {
  absl::Duration clone = absl::ZeroDuration();    // copy and check
  absl::Duration migrate = absl::ZeroDuration();  // plan, neutralization and post-checks
  int64_t source_size_bytes = 0;                  // the source's table data, when it was copied
  absl::Duration copy = absl::ZeroDuration();     // the copy alone, part of clone (0: not measured)
};

struct StoredOrder {
  upgrade::v1::Order order;
  Outcome outcome = Outcome::kActive;
  absl::Time finished_at = absl::InfinitePast();
  TestTimings timings;
  absl::Time cancel_requested_at = absl::InfinitePast();  // InfinitePast: not requested
  absl::Time no_return_at = absl::InfinitePast();         // when it passed its point of no return
  absl::Time copy_expires_at = absl::InfinitePast();      // Test: its copy's expiry, once made
  bool copy_removed = false;                              // Test: its copy was dropped
  // A scheduled order (order.not_before set): when its acceptance was recorded (InfinitePast: not
  // started yet) and when its reminder was. An order admitted to start at once started when created.
  absl::Time started_at = absl::InfinitePast();
  absl::Time reminded_at = absl::InfinitePast();
  bool scheduled() const {
    return outcome == Outcome::kActive && order.has_not_before() && started_at == absl::InfinitePast();
  }
};

// Whether an order of `a` may be active while one of `b` is, on the same database: a check runs
// beside a Test upgrade (both work on copies), nothing else runs beside anything.
inline bool MayRunBeside(upgrade::v1::Purpose a, upgrade::v1::Purpose b) {
  auto pair = [&](upgrade::v1::Purpose x, upgrade::v1::Purpose y) { return (a == x && b == y) || (a == y && b == x); };
  return pair(upgrade::v1::PURPOSE_CHECK, upgrade::v1::PURPOSE_TEST);
}

// The durable record of admitted orders and the outbox that carries them to Kafka, seen through four
// narrow ports. Implementations are thread-safe; every method may return UNAVAILABLE (database
// unreachable).

// Orders looked up: by key, by database, by test copy.
class OrderBook {
 public:
  virtual ~OrderBook() = default;

  // The order `tenant` admitted with `request_id` (idempotency keys are per tenant).
  virtual absl::StatusOr<std::optional<StoredOrder>> FindByRequestId(const std::string& tenant,
                                                                     const std::string& request_id) = 0;

  virtual absl::StatusOr<std::optional<StoredOrder>> FindByUpgradeId(const std::string& upgrade_id) = 0;

  // The upgrade (Test or Production, not a check) of `database` that has not ended, if any.
  virtual absl::StatusOr<std::optional<StoredOrder>> FindActive(const std::string& database) = 0;

  // Every order of `database`, newest first.
  virtual absl::StatusOr<std::vector<StoredOrder>> ListByDatabase(const std::string& database) = 0;

  // Whether `database` is a copy Upshift made for some order: a Test's copy, a check's throwaway
  // copy, or a Production upgrade's restore point.
  virtual absl::StatusOr<bool> IsTestCopy(const std::string& database) = 0;

  // The order whose test copy is `test_database`, if any.
  virtual absl::StatusOr<std::optional<StoredOrder>> FindByTestDatabase(const std::string& test_database) = 0;
};

// What callers decide about an order, each recorded with its outbox record and its audit in one
// transaction with the rule it must pass.
class OrderDecisions {
 public:
  virtual ~OrderDecisions() = default;

  // Records `order` and `record` (its outbox entry) in one transaction. FAILED_PRECONDITION: an
  // order of the database that `order` may not run beside (MayRunBeside) is still active.
  // ALREADY_EXISTS: the order's request_id is taken in its tenant. The audit `audit_of` makes of the
  // admitted order (if any) is appended in the same transaction.
  virtual absl::Status Admit(const upgrade::v1::Order& order, const OutgoingRecord& record,
                             const AuditOf& audit_of) = 0;

  // Records a cancellation of `upgrade_id` and the outbox record `record_for` makes of it, in one
  // transaction with the checks: NOT_FOUND (unknown), FAILED_PRECONDITION (ended, or past its point
  // of no return). A repeated cancellation is OK and records nothing more. Returns the order. The
  // audit `audit_of` makes of a recorded cancellation is appended in the same transaction. A
  // scheduled order (not started) ends there and then: `record_for` sees it kCancelled.
  virtual absl::StatusOr<StoredOrder> Cancel(const std::string& upgrade_id, absl::Time at,
                                             const std::function<OutgoingRecord(const StoredOrder&)>& record_for,
                                             const AuditOf& audit_of) = 0;

  // A worker reached a checkpoint: returns the time of the cancellation if one was recorded (do not
  // proceed), else nullopt (proceed), recording `at` as the point of no return when `point_of_no_return`.
  // One transaction, serialized with Cancel. NOT_FOUND: unknown upgrade.
  virtual absl::StatusOr<std::optional<absl::Time>> PassCheckpoint(const std::string& upgrade_id,
                                                                   bool point_of_no_return, absl::Time at) = 0;

  // In one transaction on the order of `upgrade_id`: `decide` returns the copy's new expiry (or an
  // error, which changes nothing), and it is recorded with the outbox record `record_for` makes and
  // the audit `audit_of` makes.
  virtual absl::StatusOr<absl::Time> ExtendCopy(
      const std::string& upgrade_id, const std::function<absl::StatusOr<absl::Time>(const StoredOrder&)>& decide,
      const std::function<OutgoingRecord(const StoredOrder&, absl::Time)>& record_for, const AuditOf& audit_of) = 0;
};

// What the workers report about an order, as it happens.
class OrderOutcomes {
 public:
  virtual ~OrderOutcomes() = default;

  // Records that an order ended. Idempotent; an unknown upgrade id is OK (nothing to do).
  virtual absl::Status MarkFinished(const std::string& upgrade_id, Outcome outcome, absl::Time at) = 0;

  // Records a Test copy's expiry (`removed`: the copy is gone). Unknown upgrade id: OK.
  virtual absl::Status RecordCopy(const std::string& upgrade_id, absl::Time expires_at, bool removed) = 0;

  // Records what a Test measured (fields left zero are not changed). Unknown upgrade id: OK.
  virtual absl::Status RecordTimings(const std::string& upgrade_id, const TestTimings& timings) = 0;
};

// Scheduled orders: those waiting for their start, started or refused at it, and reminded.
class OrderSchedule {
 public:
  virtual ~OrderSchedule() = default;

  // Up to `limit` active orders not started yet (and not asked to be cancelled) whose not_before
  // is at or before `until`, soonest first; `unreminded` only those not reminded yet.
  virtual absl::StatusOr<std::vector<StoredOrder>> Scheduled(absl::Time until, bool unreminded, int limit) = 0;

  // In one transaction on the order of `upgrade_id`, if it is still scheduled (active, not started,
  // no cancellation asked): `decide` returns the record to publish and whether the order starts
  // (recorded started at `at`) or is refused (it ends cancelled at `at`). Returns whether it was
  // still scheduled; false (nothing done) when another replica or a cancellation got there first.
  struct Start {
    bool starts = true;
    OutgoingRecord record;
  };
  virtual absl::StatusOr<bool> StartScheduled(const std::string& upgrade_id, absl::Time at,
                                              const std::function<Start(const StoredOrder&)>& decide) = 0;

  // Records the reminder of a scheduled order at `at` with the outbox record `record_for` makes (none:
  // it needs no reminder), once: false (nothing done) if it was reminded, started or ended meanwhile.
  virtual absl::StatusOr<bool> Remind(const std::string& upgrade_id, absl::Time at,
                                      const std::function<std::optional<OutgoingRecord>(const StoredOrder&)>& record_for) = 0;
};

// Maintenance windows, of a tenant (database "") or of one of its databases.
class WindowBook {
 public:
  virtual ~WindowBook() = default;

  // Sets (`window` given) or removes the window of (`tenant`, `database`), with the audit
  // `audit_of` makes of it, in one transaction.
  virtual absl::Status PutWindow(const std::string& tenant, const std::string& database,
                                 const std::optional<upgrade::v1::MaintenanceWindow>& window,
                                 const AuditOf& audit_of) = 0;

  // The window of `database` (of `tenant`) if it has one, else its tenant's; `own` says which. With
  // an empty `database`: the tenant's.
  struct Found {
    upgrade::v1::MaintenanceWindow window;
    bool own = false;
  };
  virtual absl::StatusOr<std::optional<Found>> WindowOf(const std::string& tenant, const std::string& database) = 0;
};

// The background work on the store: the outbox relayed, ended orders forgotten.
class OrderHousekeeping {
 public:
  virtual ~OrderHousekeeping() = default;

  // Hands up to `limit` outbox records, oldest first, to `publish`, and removes them when it returns
  // OK, all in one transaction that only one replica holds at a time. *count is how many were handed.
  virtual absl::Status DrainOutbox(int limit,
                                   const std::function<absl::Status(const std::vector<OutgoingRecord>&)>& publish,
                                   int* count) = 0;

  // Forgets at most `batch` orders that ended before `cutoff`, and their claims: Tests only once
  // their copy is gone (a copy still lives on its order). Returns how many orders it forgot.
  virtual absl::StatusOr<int> PruneEnded(absl::Time cutoff, int batch) = 0;
};

// The whole store: its four ports, implemented together by one adapter. It declares nothing of its
// own; a caller takes the ports it needs.
class OrderStore : public OrderBook,
                   public OrderDecisions,
                   public OrderOutcomes,
                   public OrderSchedule,
                   public OrderHousekeeping {};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_ORDER_STORE_H_
