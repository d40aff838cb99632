#ifndef UPSHIFT_SERVICES_CLONER_COPIES_H_
#define UPSHIFT_SERVICES_CLONER_COPIES_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/common/concurrent.h"
#include "services/cloner/copying.h"
#include "services/cloner/options.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::cloner {

// The life of a Test upgrade's copy (and of a check's throwaway copy): made and compared with its
// source table by table, at most max_test_copies per database, extended, warned about, and dropped
// when its upgrade failed or was cancelled, when its check ended, or when it expired.
class TestCopies {
 public:
  TestCopies(const ClonerOptions& options, const ClonerPorts& ports, OwnedDatabases& owned, Announcer& announcer)
      : options_(options),
        fleet_(ports.fleet),
        store_(ports.copies),
        gate_(ports.gate),
        clock_(ports.clock),
        owned_(owned),
        announcer_(announcer),
        copying_(options.max_concurrent_copies) {}

  // A Test or a check was accepted: makes its copy, under this replica's claim.
  absl::Status OnAccepted(const upgrade::v1::Order& order);
  // A Test failed before its copy was handed over: drops the copy.
  absl::Status OnFailed(const upgrade::v1::Order& order);
  // A Test was cancelled at its customer's request: drops the copy.
  absl::Status OnCancelled(const upgrade::v1::Order& order);
  // A check ended (however it ended): drops its copy.
  absl::Status OnCheckEnded(const upgrade::v1::Order& order);
  // The customer extended the copy's life.
  absl::Status OnTestCopyExtended(const upgrade::v1::Order& order, absl::Time expires_at);
  // Warns 7 days and 1 day before a test copy expires, and drops expired copies (recording each
  // drop). Returns how many copies were dropped.
  absl::StatusOr<int> ExpireTestCopies();

 private:
  // The server `order` names: its copy is made there, beside its source.
  absl::StatusOr<std::shared_ptr<HostingServer>> On(const upgrade::v1::Order& order);
  absl::Status Copy(const upgrade::v1::Order& order);
  // Makes `order`'s copy (replacing an unfinished one); a non-retryable error is the order's failure.
  // A copy made by dump comes with the source's row counts in the snapshot it copied; one made from
  // the template with none (the source is counted beside the copy).
  absl::StatusOr<std::optional<TableRowCounts>> MakeCopy(const upgrade::v1::Order& order);
  // Counts the source and its copy: `dumped`, the source's counts in the snapshot a dump copied, or
  // none after a template copy (both are counted now, side by side).
  absl::Status CountCopy(const upgrade::v1::Order& order, const std::optional<TableRowCounts>& dumped,
                         TableRowCounts* source_rows, TableRowCounts* copy_rows);
  absl::Status Fail(const upgrade::v1::Order& order, const std::string& error);
  // Drops a test's or a check's copy if the cloner made it, and records why.
  absl::Status DropCopy(const upgrade::v1::Order& order, const std::string& reason);
  // Drops a test copy, records why, and announces it.
  absl::Status DropTestCopy(const upgrade::v1::Order& order, const std::string& reason);

  const ClonerOptions& options_;
  HostingFleet& fleet_;
  TestCopyStore& store_;
  Gate& gate_;
  Clock& clock_;
  OwnedDatabases& owned_;
  Announcer& announcer_;
  Semaphore copying_;  // copies at work
};

}  // namespace upshift::cloner

#endif  // UPSHIFT_SERVICES_CLONER_COPIES_H_
