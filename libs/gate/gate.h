#ifndef UPSHIFT_LIBS_GATE_GATE_H_
#define UPSHIFT_LIBS_GATE_GATE_H_

#include <deque>
#include <map>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "upgrade/v1/events.pb.h"
#include "upgrade/v1/gate.pb.h"

namespace upshift {

// What request answers at a checkpoint.
struct Passage {
  enum Kind {
    kProceed,
    kCancelled,  // stop, and announce the cancellation
    kEnded,      // the upgrade ended already (a redelivered record): nothing to do, nothing to announce
  };
  Kind kind = kProceed;
  std::string reason;  // why not, for a person
};

// The answer to a claim on a piece of an upgrade's work (see upgrade.v1.ClaimWorkRequest).
struct ClaimAnswer {
  bool granted = false;
  std::string holder;  // who holds it now (or did the work)
  absl::Time expires_at;
  bool done = false;  // the work was done and its outcome announced
  std::string waiting_for;  // not granted: the server's capacity is taken (see ClaimWorkResponse)
};

// Where an order stands as request recorded it (see upgrade.v1.GetOrderResponse).
struct OrderState {
  bool cancel_requested = false;
  bool past_point_of_no_return = false;
  bool ended = false;
};

// Asks request, which owns orders, whether an upgrade may pass a checkpoint that a cancellation
// must not race with, and what an upgrade's order is. Thread-safe.
class Gate {
 public:
  virtual ~Gate() = default;
  // UNAVAILABLE: ask again later.
  virtual absl::StatusOr<Passage> Pass(const std::string& upgrade_id, upgrade::v1::Checkpoint checkpoint) = 0;
  // The order as request stored it. NOT_FOUND: request admitted no such upgrade. UNAVAILABLE: ask
  // again later.
  virtual absl::StatusOr<upgrade::v1::Order> GetOrder(const std::string& upgrade_id) = 0;
  // Where the order of `upgrade_id` stands now (asked each time: it changes). NOT_FOUND, UNAVAILABLE
  // as GetOrder.
  virtual absl::StatusOr<OrderState> GetState(const std::string& upgrade_id) = 0;
  // Claims (or renews) `work` of an upgrade for `holder`, for `ttl`: granted unless another holder's
  // claim is live, or (unless `resumes`: see ClaimWorkRequest) the order's server runs its limit of
  // such work. UNAVAILABLE: ask again later.
  virtual absl::StatusOr<ClaimAnswer> Claim(const std::string& upgrade_id, const std::string& work,
                                            const std::string& holder, absl::Duration ttl, bool resumes) = 0;
  // Gives `holder`'s claim up; with `done`, keeps it as the record that the work is done.
  virtual absl::Status Release(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                               bool done) = 0;
};

// Remembers the orders `gate` returned: an admitted order never changes, so each worker asks request
// once per upgrade instead of once per record, and keeps working on upgrades it knows while request
// restarts. Checkpoints always go to `gate`. Keeps at most `capacity` orders, dropping the oldest.
// Thread-safe.
class CachingGate final : public Gate {
 public:
  explicit CachingGate(Gate& gate, size_t capacity = 10000) : gate_(gate), capacity_(capacity) {}
  absl::StatusOr<Passage> Pass(const std::string& upgrade_id, upgrade::v1::Checkpoint checkpoint) override {
    return gate_.Pass(upgrade_id, checkpoint);
  }
  absl::StatusOr<upgrade::v1::Order> GetOrder(const std::string& upgrade_id) override;
  absl::StatusOr<OrderState> GetState(const std::string& upgrade_id) override { return gate_.GetState(upgrade_id); }
  absl::StatusOr<ClaimAnswer> Claim(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                                    absl::Duration ttl, bool resumes) override {
    return gate_.Claim(upgrade_id, work, holder, ttl, resumes);
  }
  absl::Status Release(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                       bool done) override {
    return gate_.Release(upgrade_id, work, holder, done);
  }

 private:
  Gate& gate_;
  const size_t capacity_;
  absl::Mutex mu_;
  std::map<std::string, upgrade::v1::Order> orders_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> oldest_first_ ABSL_GUARDED_BY(mu_);
};

// The stored order of the upgrade that `claimed` (the order a record carries) names, for a worker to
// act on instead of the record. PERMISSION_DENIED when the record disagrees with it in any field,
// or names an upgrade request never admitted (the record goes to the DLQ and changes nothing);
// UNAVAILABLE when request cannot be asked now.
absl::StatusOr<upgrade::v1::Order> AuthoritativeOrder(Gate& gate, const upgrade::v1::Order& claimed);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_GATE_H_
