#include "services/migrator/check_runner.h"

#include "absl/strings/str_cat.h"
#include "libs/common/concurrent.h"
#include "libs/common/retry.h"

namespace upshift::migrator {

absl::StatusOr<std::vector<std::string>> CheckRunner::Run(const std::string& database,
                                                          const std::vector<Check>& checks, const std::string& kind,
                                                          upgrade::v1::IntegrityReport* report) {
  std::vector<absl::StatusOr<bool>> results(checks.size(), absl::UnknownError("not run"));
  ForEachConcurrently(checks.size(), sessions_,
                      [&](size_t i) { results[i] = target_.RunCheck(database, checks[i].sql); });
  for (const absl::StatusOr<bool>& passed : results) {
    if (IsRetryable(passed.status())) return passed.status();
  }
  std::vector<std::string> findings;
  for (size_t i = 0; i < checks.size(); ++i) {
    const absl::StatusOr<bool>& passed = results[i];
    upgrade::v1::CheckReport* r = report->add_checks();
    r->set_kind(kind);
    r->set_name(checks[i].name);
    r->set_passed(passed.ok() && *passed);
    if (r->passed()) continue;
    r->set_detail(passed.ok() ? "returned false" : absl::StrCat("failed: ", passed.status().message()));
    findings.push_back(absl::StrCat(kind, " ", checks[i].name, " ", r->detail()));
  }
  return findings;
}

}  // namespace upshift::migrator
