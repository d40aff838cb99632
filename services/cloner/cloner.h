#ifndef UPSHIFT_SERVICES_CLONER_CLONER_H_
#define UPSHIFT_SERVICES_CLONER_CLONER_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/kafka/consumer.h"
#include "services/cloner/copying.h"
#include "services/cloner/options.h"
#include "services/cloner/production_cutover.h"
#include "services/cloner/copies.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::cloner {

// The cloner: routes each record to the lifecycle it belongs to (a Test's or a check's copy, a
// Production upgrade's cutover), once per event, and sweeps what time ends. Idempotent under
// redelivery.
class Cloner {
 public:
  Cloner(ClonerOptions options, const ClonerPorts& ports)
      : options_(std::move(options)),
        applied_(ports.applied),
        gate_(ports.gate),
        fleet_(ports.fleet),
        clock_(ports.clock),
        owned_(options_, ports.ledger),
        announcer_(ports.publisher, ports.clock),
        test_copies_(options_, ports, owned_, announcer_),
        production_(options_, ports, owned_, announcer_) {}
  Cloner(const Cloner&) = delete;
  Cloner& operator=(const Cloner&) = delete;

  // Consumer entry point for upgrade.orders and upgrade.events. Acts on the order request stored
  // for the record's upgrade (the gate's), never on the names the record carries: a record that
  // disagrees with the stored order is refused with PERMISSION_DENIED and changes nothing.
  absl::Status Handle(const ConsumedRecord& record);

  // Every replica sweeps (drops and rollbacks are idempotent): expired restore points, stalled
  // upgrades, expired test copies, each whatever the others' outcome. The first failure's code, with
  // every failure's message.
  absl::Status Sweep();
  // Forgets the ids of events acted on longer than applied_events_retention ago. Returns how many.
  absl::StatusOr<int> ForgetAppliedEvents();

  TestCopies& test_copies() { return test_copies_; }
  ProductionCutover& production() { return production_; }

 private:
  // What to do with the stored order of `event`'s upgrade, or nullptr when the event asks nothing
  // of the cloner.
  using Action = std::function<absl::Status(const upgrade::v1::Order&)>;
  Action ActionFor(const upgrade::v1::Event& event);

  const ClonerOptions options_;
  AppliedEvents& applied_;
  Gate& gate_;
  HostingFleet& fleet_;
  Clock& clock_;
  OwnedDatabases owned_;
  Announcer announcer_;
  TestCopies test_copies_;
  ProductionCutover production_;
};

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_CLONER_H_
