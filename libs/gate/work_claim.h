#ifndef UPSHIFT_LIBS_GATE_WORK_CLAIM_H_
#define UPSHIFT_LIBS_GATE_WORK_CLAIM_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/common/stop_token.h"
#include "libs/gate/gate.h"

namespace upshift {

// Who claims, and for how long.
struct ClaimOptions {
  std::string holder;  // this replica (see ReplicaId)
  absl::Duration ttl = absl::Seconds(30);
  // Set when the replica is stopping: its claims then no longer hold (see WorkClaim::Held), so its
  // work stops at the next step and goes to another replica at once.
  const StopToken* stopping = nullptr;
};

// How a claim meets its server's capacity (see WorkClaim::Take).
struct ClaimWait {
  // The work began before (its database may be offline): it does not wait for capacity.
  bool resumes = false;
  // Called while the claim waits for capacity, with what it waits for (for a heartbeat saying so).
  std::function<void(const std::string& waiting_for)> waiting;
};

// A name for this process, unique among replicas: "<service>/<host>/<pid>/<random>".
std::string ReplicaId(absl::string_view service);

// A claim held on a piece of an upgrade's work while it runs, renewed every third of its ttl from
// a thread of its own, and released when destroyed. Two replicas handed the same record by a
// rebalance never do the work at once: the second waits (UNAVAILABLE, retried) until the first
// released the claim, or died and let it expire.
class WorkClaim {
 public:
  // nullptr when the work is done already (by this replica or another) and its outcome announced:
  // nothing is left to do. UNAVAILABLE while another live replica holds the claim (the message
  // says who, and until when), or when request cannot be asked. While the order's hosting server
  // runs as much such work as its limit allows (unless `wait.resumes`), it waits here, asking again
  // every second, and calls `wait.waiting` with what it waits for at first and every 10 s (for a
  // heartbeat that says so); UNAVAILABLE if the replica stops meanwhile.
  static absl::StatusOr<std::unique_ptr<WorkClaim>> Take(Gate& gate, std::string upgrade_id, std::string work,
                                                         const ClaimOptions& options, const ClaimWait& wait = {});
  ~WorkClaim();
  WorkClaim(const WorkClaim&) = delete;
  WorkClaim& operator=(const WorkClaim&) = delete;

  // OK while the claim is this replica's (or a renewal could not reach request, which cannot tell
  // otherwise). UNAVAILABLE once a renewal found it another's (this replica was away longer than the
  // ttl), or once the replica is stopping: the work must stop there, and is someone else's next.
  absl::Status Held() const;

  // The work is done and its outcome announced: the claim, released when this is destroyed, answers
  // every later claim on the work so.
  void Done() { done_ = true; }

 private:
  WorkClaim(Gate& gate, std::string upgrade_id, std::string work, ClaimOptions options);
  void Renew();

  Gate& gate_;
  const std::string upgrade_id_;
  const std::string work_;
  const ClaimOptions options_;
  std::atomic<bool> lost_{false};
  bool done_ = false;
  absl::Notification stop_;
  std::thread renewer_;
};

// Runs `fn` under this replica's claim on `work` of `upgrade_id`'s upgrade (see WorkClaim::Take):
// OK at once, without running it, when the work is done and announced; UNAVAILABLE (retried) while
// another replica holds the claim; it first waits for the server's capacity (`wait`: see Take).
// The claim is marked done when `fn` returns OK, and released.
absl::Status RunUnderClaim(Gate& gate, const std::string& upgrade_id, const std::string& work,
                           const ClaimOptions& options, const std::function<absl::Status(const WorkClaim&)>& fn,
                           const ClaimWait& wait = {});

}  // namespace upshift

#endif  // UPSHIFT_LIBS_GATE_WORK_CLAIM_H_
