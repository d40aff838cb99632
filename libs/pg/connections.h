#ifndef UPSHIFT_LIBS_PG_CONNECTIONS_H_
#define UPSHIFT_LIBS_PG_CONNECTIONS_H_

// Connection strings (checked, quoted, turned into PG* variables) and one-off connections.

#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace upshift::pg {

// OK when libpq can use `conninfo` as it is: it parses, its keywords are libpq's, its port(s) and
// connect_timeout are numbers, its sslmode is one of libpq's. INVALID_ARGUMENT otherwise, saying
// why (never quoting a password): a connection with it could never succeed, so it is not retried.
absl::Status CheckConnInfo(const std::string& conninfo);

// `base` libpq connection string with the database replaced by `dbname` (quoted for libpq).
std::string ConnInfoFor(absl::string_view base, absl::string_view dbname);
// A value inside libpq's `options` (-c name=value): a backslash before every white space and
// backslash, as libpq splits them.
std::string EscapeOption(absl::string_view value);
// A value for a libpq keyword=value connection string: single-quoted, its quotes and backslashes
// escaped.
std::string QuoteConnValue(absl::string_view value);

// The PG* environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, ...) that make libpq clients
// such as pg_dump connect as `conninfo` says, so that no secret appears on a command line.
// INVALID_ARGUMENT when `conninfo` does not parse.
absl::StatusOr<std::map<std::string, std::string>> EnvironmentFor(const std::string& conninfo);

// Opens a connection with `conninfo` (keyword form) and runs SELECT 1: a health probe. UNAVAILABLE
// when the server does not answer within 2 seconds.
absl::Status PingServer(absl::string_view conninfo);

// `conninfo` with `-c name=value` settings appended to its `options` (those it has are kept). The
// values are escaped as libpq splits options: a backslash before every space and backslash.
std::string WithSessionSettings(const std::string& conninfo, const std::vector<std::pair<std::string, std::string>>& settings);

// Opens a one-off connection to `dbname` on the server described by `base`, runs `fn`, closes it.
absl::Status WithConnection(absl::string_view base, absl::string_view dbname,
                            const std::function<absl::Status(pqxx::connection&)>& fn);
// The same with a whole connection string.
absl::Status WithConnInfo(const std::string& conninfo, const std::function<absl::Status(pqxx::connection&)>& fn);

}  // namespace upshift::pg

#endif  // UPSHIFT_LIBS_PG_CONNECTIONS_H_
