#ifndef UPSHIFT_LIBS_COMMON_VALIDATION_H_
#define UPSHIFT_LIBS_COMMON_VALIDATION_H_

// Validation of every user-given value before it reaches SQL, a command line or an email header.
// Each function returns OK or INVALID_ARGUMENT with a message a person can act on.

#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"

namespace upshift {

// A customer database name: ^[a-z][a-z0-9_]{0,62}$, and none of PostgreSQL's own databases
// (postgres, template0, template1) nor any name in `reserved` (the platform's own databases).
absl::Status ValidateDatabaseName(absl::string_view name, const std::vector<std::string>& reserved = {});

// An application version: dot-separated numbers, e.g. "16.0" or "17.0.1" (1 to 4 parts, 32 chars at most).
absl::Status ValidateVersion(absl::string_view version);

// An email address of the form local@domain.tld: 254 characters at most, a conservative character
// set (letters, digits and . _ % + - in the local part; letters, digits and - in domain labels).
absl::Status ValidateEmail(absl::string_view email);

// A client idempotency key: 1 to 128 characters of [A-Za-z0-9._:-]. Empty is allowed (no key).
absl::Status ValidateRequestId(absl::string_view request_id);

// An upgrade id as minted by request: a lowercase UUID.
absl::Status ValidateUpgradeId(absl::string_view upgrade_id);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_VALIDATION_H_
