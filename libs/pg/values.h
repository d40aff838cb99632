#ifndef UPSHIFT_LIBS_PG_VALUES_H_
#define UPSHIFT_LIBS_PG_VALUES_H_

// Values passed to and read from SQL: times and text arrays.

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace upshift::pg {

// A timestamptz literal for a bound parameter (UTC, microseconds).
std::string FormatTime(absl::Time t);

// A text[] literal of `values` (each double-quoted, its quotes and backslashes escaped), to pass as
// one parameter: `... = ANY($1::text[])`.
std::string TextArrayLiteral(const std::vector<std::string>& values);
// SQL expression reading a timestamptz column as microseconds since the epoch (NULL stays NULL).
std::string MicrosOf(absl::string_view column);
// Microseconds since the epoch (as from MicrosOf) to absl::Time; NULL -> InfinitePast().
absl::Time TimeFromField(const pqxx::field& f);

}  // namespace upshift::pg

#endif  // UPSHIFT_LIBS_PG_VALUES_H_
