#ifndef UPSHIFT_LIBS_KAFKA_EVENTS_H_
#define UPSHIFT_LIBS_KAFKA_EVENTS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/publisher.h"
#include "upgrade/v1/events.pb.h"

namespace upshift {

// An event about `order` whose id is EventId(upgrade id, kind): re-publishing it yields the same id.
// The caller sets the event's kind.
upgrade::v1::Event MakeEvent(const upgrade::v1::Order& order, absl::string_view kind, absl::string_view source,
                             absl::Time now);

// The acceptance request publishes when `order` starts (at once, or at its scheduled start). status
// makes the very same record (same event id) from request's stored order when it never saw it.
upgrade::v1::Event AcceptanceOf(const upgrade::v1::Order& order, absl::Time now);

// Publishes `event` on upgrade.events, keyed by its database.
absl::Status PublishEvent(Publisher& publisher, const upgrade::v1::Event& event);

// Publishes a Heartbeat on behalf of `source` (e.g. "migrator") for the upgrade whose order or
// event `working_on` is: its worker is alive and at work on it. Does nothing for a record that is
// not a valid event. Each heartbeat has an id of its own.
absl::Status PublishHeartbeat(Publisher& publisher, const ConsumedRecord& working_on, absl::string_view source,
                              absl::Time now);

// Publishes a Heartbeat on behalf of `source` for `order`'s upgrade whose work (on the record of kind
// `working_on`) waits for its hosting server's capacity: `waiting_for` says what it waits for
// (status shows it, and the upgrade is not stalled meanwhile). Logs, and drops, a failure.
void PublishWaiting(Publisher& publisher, const upgrade::v1::Order& order, absl::string_view working_on,
                    absl::string_view source, const std::string& waiting_for, absl::Time now);

// OK when `claimed` (the order a record carries) is `stored` (the order request stored) in every
// field; else PERMISSION_DENIED naming the first difference: the record goes to the DLQ.
absl::Status AgreesWithStoredOrder(const upgrade::v1::Order& stored, const upgrade::v1::Order& claimed);

// Parses a record of upgrade.orders or upgrade.events. INVALID_ARGUMENT (the record goes to the DLQ)
// when it is larger than 4 MiB, or not an Event with an id and source of at most 200 bytes, a kind,
// and an order whose every id, database name, version and email is valid. PERMISSION_DENIED when
// the service that signed it (record.signer, checked by the consumer) may not say its kind of event
// (MaySay): a worker's leaked key cannot make request's announcements, nor one worker another's.
absl::StatusOr<upgrade::v1::Event> ParseEvent(const ConsumedRecord& record);

// Whether `record` is a well-formed heartbeat (ParseEvent accepts it, and it is a Heartbeat): what
// the cloner and the migrator do nothing with (KafkaConsumer's pass_over).
bool IsHeartbeat(const ConsumedRecord& record);

// Which service may say which kind of event on upgrade.orders and upgrade.events:
//   request   accepted, cancel_requested, test_copy_extended
//   cloner    clone_started, clone_succeeded, went_offline, snapshot_started, snapshot_succeeded,
//             coming_online, rolling_back, rolled_back, test_copy_expiring, test_copy_dropped,
//             succeeded, failed, cancelled, heartbeat
//   migrator  migration_started, migrated, migration_failed, step_applied,
//             succeeded, failed, cancelled, heartbeat
// (status republishes every kind on its own topic, upgrade.status, which it alone signs.)
// PERMISSION_DENIED saying who may, otherwise.
absl::Status MaySay(absl::string_view signer, upgrade::v1::Event::KindCase kind);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_KAFKA_EVENTS_H_
