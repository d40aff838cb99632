#ifndef UPSHIFT_LIBS_COMMON_IDS_H_
#define UPSHIFT_LIBS_COMMON_IDS_H_

#include <string>
#include "absl/strings/string_view.h"

namespace upshift {

// A random (version 4) UUID in lowercase. Thread-safe.
std::string NewUpgradeId();

// The name of the test copy a Test upgrade makes: derived from the upgrade id alone, so that every
// retry of the clone targets the same database. Always a valid database name of 63 characters at most.
std::string TestDatabaseName(absl::string_view database, absl::string_view upgrade_id);

// The name of the throwaway copy a check (dry run) migrates, derived from the upgrade id alone.
std::string CheckDatabaseName(absl::string_view database, absl::string_view upgrade_id);

// The name of the restore point a Production upgrade makes, derived from the upgrade id alone.
std::string RestorePointName(absl::string_view database, absl::string_view upgrade_id);

// The id of the event of `kind` for an upgrade: the same for every re-publication, so consumers dedup on it.
std::string EventId(absl::string_view upgrade_id, absl::string_view kind);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_IDS_H_
