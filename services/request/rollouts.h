#ifndef UPSHIFT_SERVICES_REQUEST_ROLLOUTS_H_
#define UPSHIFT_SERVICES_REQUEST_ROLLOUTS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/auth/principal.h"
#include "libs/catalog/catalog.h"
#include "libs/common/time.h"
#include "libs/hosting/hosting_fleet.h"
#include "services/request/admission.h"
#include "services/request/auditor.h"
#include "services/request/order_store.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::request {

// What became of one of a rollout's databases (RolloutDatabase.state).
enum class MemberState { kLeft, kRunning, kSucceeded, kFailed, kSkipped };
const char* MemberStateName(MemberState state);
std::optional<MemberState> MemberStateNamed(const std::string& name);

struct RolloutMember {
  std::string database;
  std::string server;
  std::string tenant;
  int wave = 0;  // 0-based
  MemberState state = MemberState::kLeft;
  std::string upgrade_id;
  std::string note;
  absl::Time ordered_at = absl::InfinitePast();
  absl::Time ended_at = absl::InfinitePast();
  bool ended() const { return state == MemberState::kSucceeded || state == MemberState::kFailed || state == MemberState::kSkipped; }
};

struct StoredRollout {
  std::string rollout_id;
  upgrade::v1::StartRolloutRequest spec;
  upgrade::v1::RolloutState state = upgrade::v1::ROLLOUT_RUNNING;
  std::string reason;
  int wave = 0;                                  // the current wave, 0-based
  absl::Time next_wave_at = absl::InfinitePast();  // baking until
  int seen_failures = 0;                         // of the current wave, counted by a resume
  std::string created_by;
  absl::Time created_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
  int waves = 0;  // how many
  std::vector<RolloutMember> members;  // by wave, then name
};

// The durable record of rollouts and their databases. Thread-safe; every method may return
// UNAVAILABLE.
class RolloutBook {
 public:
  virtual ~RolloutBook() = default;

  // Records a new rollout and its members. ALREADY_EXISTS when its spec's request_id is taken.
  virtual absl::Status CreateRollout(const StoredRollout& rollout) = 0;

  // With its members.
  virtual absl::StatusOr<std::optional<StoredRollout>> FindRollout(const std::string& rollout_id) = 0;
  virtual absl::StatusOr<std::optional<StoredRollout>> FindRolloutByRequestId(const std::string& request_id) = 0;

  // Up to `limit`, newest first, with their members.
  virtual absl::StatusOr<std::vector<StoredRollout>> ListRollouts(int limit) = 0;

  // The ids of the running and paused rollouts.
  virtual absl::StatusOr<std::vector<std::string>> ActiveRollouts() = 0;

  // Leases running or paused rollout `rollout_id` to `holder` until `now + ttl`, unless another
  // holder's lease lasts past `now`. The rollout, with its members; nullopt when it has ended or
  // another holds it. Only the holder of the lease records its members and orders its databases.
  virtual absl::StatusOr<std::optional<StoredRollout>> LeaseRollout(const std::string& rollout_id,
                                                                    const std::string& holder, absl::Time now,
                                                                    absl::Duration ttl) = 0;

  // Records what became of one member.
  virtual absl::Status SaveMember(const std::string& rollout_id, const RolloutMember& member) = 0;

  // Records the driver's decision (state, reason, wave, next_wave_at, seen_failures) if the rollout
  // is still running and `holder` still leases it; returns whether it did.
  virtual absl::StatusOr<bool> AdvanceRollout(const StoredRollout& rollout, const std::string& holder) = 0;

  // In one transaction on the rollout: `decide` changes its state and reason (or refuses, which
  // changes nothing). NOT_FOUND: no such rollout. Returns it as recorded.
  virtual absl::StatusOr<StoredRollout> ChangeRollout(const std::string& rollout_id,
                                                      const std::function<absl::Status(StoredRollout&)>& decide) = 0;
};

struct RolloutOptions {
  // The platform's own databases: never taken.
  std::vector<std::string> reserved_databases;
  // How long one replica keeps a rollout to itself between sweeps.
  absl::Duration lease = absl::Seconds(10);
  // Databases ordered per rollout and sweep; the rest at the next.
  int orders_per_sweep = 50;
};

// Fleet upgrades in waves (RolloutService), for operators. A rollout's databases are read from the
// hosting servers when it starts and fixed then. Each sweep the replica that leases a running
// rollout: records what became of the upgrades it ordered; pauses it when its current wave's
// failures pass max_failed_percent; moves to the next wave when every database of this one ended
// (after the bake time); and orders the current wave's databases that are left, through Admission
// (every rule of a customer's order holds), never more at once on a server than the server's
// copies limit (an upgrade waiting for its maintenance window runs nothing yet, and holds no place). Each database is ordered with the idempotency key "rollout:<id>:<database>": a
// replica that dies between ordering and recording it, or two replicas that both order it, get the
// same upgrade. Thread-safe.
class Rollouts {
 public:
  // `copies_limit(server)`: the copies the inventory lets the server run at once (0: no limit).
  // `holder` names this replica in leases. `recorded` is called after anything was ordered.
  Rollouts(RolloutOptions options, const Catalog& catalog, HostingFleet& fleet, Admission& admission,
           OrderBook& orders, RolloutBook& book, Auditor& auditor, Clock& clock,
           std::function<int(const std::string&)> copies_limit, std::string holder);

  // PERMISSION_DENIED without upgrades.operator (every call). INVALID_ARGUMENT naming the field;
  // FAILED_PRECONDITION when no database matches; UNAVAILABLE when a server does not answer.
  absl::StatusOr<upgrade::v1::Rollout> Start(const upgrade::v1::StartRolloutRequest& request, const Principal& caller);
  absl::StatusOr<upgrade::v1::Rollout> Get(const std::string& rollout_id, const Principal& caller);
  absl::StatusOr<upgrade::v1::ListRolloutsResponse> List(const upgrade::v1::ListRolloutsRequest& request,
                                                         const Principal& caller);
  absl::StatusOr<upgrade::v1::Rollout> Pause(const std::string& rollout_id, const Principal& caller);
  absl::StatusOr<upgrade::v1::Rollout> Resume(const std::string& rollout_id, const Principal& caller);
  absl::StatusOr<upgrade::v1::Rollout> Cancel(const std::string& rollout_id, const Principal& caller);

  // Drives every running rollout this replica can lease, once; of a paused one, only records what
  // became of the upgrades it ordered.
  absl::Status Sweep();

  // Exports upshift_rollout_databases{rollout,state} for the newest rollouts (at each scrape).
  void Export();

 private:
  absl::Status Drive(StoredRollout rollout);
  // Orders `member` for `rollout`: OK (it runs), a refusal that skips it, or an error to retry.
  absl::StatusOr<upgrade::v1::Upgrade> Order(const StoredRollout& rollout, const RolloutMember& member);
  absl::StatusOr<std::vector<RolloutMember>> Select(const upgrade::v1::StartRolloutRequest& request);
  // The databases of server `name` the selector takes, their versions read `reads_at_once` at a time.
  absl::StatusOr<std::vector<RolloutMember>> SelectOn(const upgrade::v1::StartRolloutRequest& request,
                                                      const std::string& name, size_t reads_at_once);
  absl::StatusOr<upgrade::v1::Rollout> Change(const std::string& rollout_id, const Principal& caller,
                                              const std::function<absl::Status(StoredRollout&)>& decide);

  const RolloutOptions options_;
  const Catalog& catalog_;
  HostingFleet& fleet_;
  Admission& admission_;
  OrderBook& orders_;
  RolloutBook& book_;
  Auditor& auditor_;
  Clock& clock_;
  const std::function<int(const std::string&)> copies_limit_;
  const std::string holder_;
};

// The rollout as the API shows it at `now` (its databases too when `with_databases`).
upgrade::v1::Rollout RolloutOf(const StoredRollout& stored, bool with_databases);

// Splits `count` databases into the waves `waves` asks for: the size of each non-empty wave, in
// order. The last wave takes every database the others left; empty: one wave.
std::vector<int> WaveSizes(const google::protobuf::RepeatedPtrField<upgrade::v1::RolloutWave>& waves, int count);

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_ROLLOUTS_H_
