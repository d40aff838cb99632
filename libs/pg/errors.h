#ifndef UPSHIFT_LIBS_PG_ERRORS_H_
#define UPSHIFT_LIBS_PG_ERRORS_H_

// How libpqxx's exceptions become absl::Status: they stop at the adapters.

#include <pqxx/pqxx>

#include "absl/status/status.h"

namespace upshift::pg {

// Maps a libpqxx (or std) exception to a status: lost connection -> UNAVAILABLE, serialization
// failure / deadlock -> ABORTED, unique violation -> ALREADY_EXISTS, other SQL errors -> INTERNAL
// (with the server's message), in-doubt commit -> UNAVAILABLE.
absl::Status StatusFromException(const std::exception& e);

}  // namespace upshift::pg

#endif  // UPSHIFT_LIBS_PG_ERRORS_H_
