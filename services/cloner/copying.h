#ifndef UPSHIFT_SERVICES_CLONER_COPYING_H_
#define UPSHIFT_SERVICES_CLONER_COPYING_H_

// What test copies and restore points share: the databases the cloner owns, how a copy is made
// and compared with its source, and how the cloner announces what it did.

#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/common/time.h"
#include "libs/hosting/hosting_server.h"
#include "libs/kafka/events.h"
#include "libs/kafka/publisher.h"
#include "services/cloner/options.h"
#include "services/cloner/stores.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::cloner {

// The databases the cloner makes and drops: only those it recorded making, never a reserved one.
class OwnedDatabases {
 public:
  OwnedDatabases(const ClonerOptions& options, DatabaseLedger& ledger) : options_(options), ledger_(ledger) {}

  // Each method acts on the server `on`, the one the upgrade's order names.
  // Makes `database` for `upgrade_id` with `create`, recorded first as made by the cloner. A
  // leftover of an earlier attempt of the same upgrade is dropped and made again; a database of that
  // name the cloner did not make stays (ALREADY_EXISTS). PERMISSION_DENIED for a reserved name.
  absl::Status Create(DatabaseCopier& on, const std::string& upgrade_id, const std::string& database,
                      const std::function<absl::Status()>& create);
  // Drops `database` if the cloner recorded making it for `upgrade_id` (false, and nothing is done,
  // otherwise). PERMISSION_DENIED for a reserved database.
  absl::StatusOr<bool> DropIfMade(DatabaseCopier& on, const std::string& upgrade_id, const std::string& database);
  // DropIfMade, and the drop recorded with its reason.
  absl::StatusOr<bool> Drop(DatabaseCopier& on, const std::string& upgrade_id, const std::string& database,
                            const std::string& reason);

 private:
  absl::Status CheckNotReserved(const std::string& database) const;

  const ClonerOptions& options_;
  DatabaseLedger& ledger_;
};

// Publishes the cloner's events about an order.
class Announcer {
 public:
  Announcer(Publisher& publisher, Clock& clock) : publisher_(publisher), clock_(clock) {}
  // Publishes the event `kind` about `order`, filled in by `fill`.
  absl::Status Emit(const upgrade::v1::Order& order, const std::string& kind,
                    const std::function<void(upgrade::v1::Event&)>& fill);
  // Says, in a heartbeat, that `order`'s work on a record of kind `working_on` waits (for its
  // server's capacity, or for its server to answer).
  void Waiting(const upgrade::v1::Order& order, const std::string& working_on, const std::string& waiting_for) {
    PublishWaiting(publisher_, order, working_on, "cloner", waiting_for, clock_.Now());
  }

 private:
  Publisher& publisher_;
  Clock& clock_;
};

// The CREATE DATABASE strategy for copying `database` (see ClonerOptions::template_strategy).
absl::StatusOr<std::string> StrategyFor(const ClonerOptions& options, DatabaseMeasures& hosting,
                                        const std::string& database);

// Before `database` is copied file by file (StrategyFor says file_copy), a checkpoint of its server
// while it still serves: the copy's own checkpoint then has little left to write. A server that does
// not answer: UNAVAILABLE. Any other failure is logged only: the copy's own checkpoint still writes
// everything, just inside the copy.
absl::Status CheckpointBeforeFileCopy(const ClonerOptions& options, HostingServer& hosting,
                                      const std::string& database);

void FillCounts(const TableRowCounts& counts, google::protobuf::RepeatedPtrField<upgrade::v1::TableCount>* out);
// The first difference between two row-count maps, for a person to read; empty when equal.
std::string FirstDifference(const TableRowCounts& source, const TableRowCounts& copy);

// Databases `a` and `b` read at once, on two sessions: a copy is checked against its source in the
// time of one read.
std::pair<absl::StatusOr<TableRowCounts>, absl::StatusOr<TableRowCounts>> CountBoth(DatabaseMeasures& hosting,
                                                                                    const std::string& a,
                                                                                    const std::string& b);

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_COPYING_H_
