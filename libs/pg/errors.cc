#include "libs/pg/errors.h"

#include <typeinfo>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace upshift::pg {

namespace {

// libpq's messages end with a newline; statuses read better without it. An exception without a
// message is named by its type, so that the error still says something.
std::string What(const std::exception& e) {
  std::string what(absl::StripTrailingAsciiWhitespace(e.what()));
  return what.empty() ? absl::StrCat("(", typeid(e).name(), " without a message)") : what;
}

}  // namespace

absl::Status StatusFromException(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("database connection lost: ", What(e)));
  }
  // libpqxx throws the bare base class when libpq hands back no result at all: the connection died
  // under the query (seen while PostgreSQL crash-restarts). Retry, do not give the record up.
  if (typeid(e) == typeid(pqxx::failure)) {
    return absl::UnavailableError(absl::StrCat("database connection lost: ", What(e)));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("commit outcome unknown: ", What(e)));
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(What(e));
  }
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return absl::AlreadyExistsError(What(e));
  }
  // libpqxx 6.4 throws this one without its SQLSTATE (42501), which would read as a lost
  // connection below: it is the server refusing a statement, a permanent error.
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) return absl::InternalError(What(e));
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    // Class 08: connection exception; 57P01-03: admin shutdown, crash shutdown, cannot connect now.
    // No SQLSTATE: the server sent no error at all, which libpq reports when the connection failed.
    if (state.empty() || state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
      return absl::UnavailableError(absl::StrCat("database unavailable: ", What(e)));
    }
    if (state == "40001" || state == "40P01") return absl::AbortedError(What(e));
    return absl::InternalError(What(e));
  }
  return absl::InternalError(What(e));
}

}  // namespace upshift::pg
