#ifndef UPSHIFT_SERVICES_STATUS_STALL_SWEEP_H_
#define UPSHIFT_SERVICES_STATUS_STALL_SWEEP_H_

#include "absl/time/time.h"
#include "libs/common/stop_token.h"
#include "libs/kafka/outbox_relay.h"
#include "libs/kafka/producer.h"
#include "services/status/change_hub.h"
#include "services/status/status_store.h"

namespace upshift::status {

// Marks stalled the upgrades no worker reported on for `timeout`, looking every quarter of it, until
// `stop`. Only once the broker has been reachable for a whole `timeout`: while it is away, silence
// proves nothing.
void SweepStalls(StatusLedger& store, KafkaProducer& producer, absl::Duration timeout, ChangeHub& hub,
                 OutboxRelay& relay, const StopToken& stop);

}  // namespace upshift::status

#endif  // UPSHIFT_SERVICES_STATUS_STALL_SWEEP_H_
