#ifndef UPSHIFT_SERVICES_MIGRATOR_CHECK_RUNNER_H_
#define UPSHIFT_SERVICES_MIGRATOR_CHECK_RUNNER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/catalog/catalog.h"
#include "services/migrator/migration_target.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::migrator {

// Runs a catalog's checks (pre-checks, post-checks, neutralization assertions) in a database: they
// only read, so up to `sessions` run side by side, each on a session of its own.
class CheckRunner {
 public:
  CheckRunner(ContentChecks& target, size_t sessions) : target_(target), sessions_(sessions) {}

  // Runs every one of `checks` in `database`, recording each in `report` under `kind`, in their
  // order. Returns the findings (one per check that returned false or failed, for a person to
  // read), or a retryable error (then nothing is recorded).
  absl::StatusOr<std::vector<std::string>> Run(const std::string& database, const std::vector<Check>& checks,
                                               const std::string& kind, upgrade::v1::IntegrityReport* report);

 private:
  ContentChecks& target_;
  const size_t sessions_;
};

}  // namespace upshift::migrator

#endif  // UPSHIFT_SERVICES_MIGRATOR_CHECK_RUNNER_H_
