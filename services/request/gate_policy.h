#ifndef UPSHIFT_SERVICES_REQUEST_GATE_POLICY_H_
#define UPSHIFT_SERVICES_REQUEST_GATE_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "upgrade/v1/gate.pb.h"

namespace upshift::request {

// The services the gate serves: the two workers, and status and the notifier, which only read orders.
enum class GateWorker { kCloner, kMigrator, kStatus, kNotifier };

// The names (a certificate's CN or one of its DNS SANs) that identify each service.
struct GateIdentities {
  std::vector<std::string> cloner = {"cloner", "upshift-cloner"};
  std::vector<std::string> migrator = {"migrator", "upshift-migrator"};
  std::vector<std::string> status = {"status", "upshift-status"};
  std::vector<std::string> notifier = {"notifier", "upshift-notifier"};
};

// Who may ask the gate what: the cloner's and the migrator's certificates, each for its own kind of
// work, and status's and the notifier's, to read an order whose acceptance they never saw. Every
// certificate of the platform's CA passes the gate's mTLS (request's too); this is what keeps it
// from reading orders, and status and the notifier from passing a checkpoint or marking a
// replica's work done.
//
//   GetOrder                                    cloner, migrator, status, notifier
//   PassCheckpoint TAKE_OFFLINE                 cloner
//   PassCheckpoint BEGIN_MIGRATION, FINISH      migrator
//   ClaimWork, ReleaseWork "copy", "snapshot"   cloner
//   ClaimWork, ReleaseWork "plan"               migrator
class GatePolicy {
 public:
  explicit GatePolicy(GateIdentities identities) : identities_(std::move(identities)) {}

  // The service the peer certificate's `names` identify. PERMISSION_DENIED when none does (or when
  // they name more than one: a certificate is one service's).
  absl::StatusOr<GateWorker> Identify(const std::vector<std::string>& names) const;

  // OK when `worker` may do these; PERMISSION_DENIED saying who may otherwise.
  static absl::Status MayPass(GateWorker worker, upgrade::v1::Checkpoint checkpoint);
  static absl::Status MayClaim(GateWorker worker, const std::string& work);

 private:
  const GateIdentities identities_;
};

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_GATE_POLICY_H_
