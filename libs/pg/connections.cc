#include "libs/pg/connections.h"

#include <libpq-fe.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/common/logging.h"
#include "libs/pg/errors.h"

namespace upshift::pg {

std::string ConnInfoFor(absl::string_view base, absl::string_view dbname) {
  // libpq takes the last value of a repeated keyword.
  return absl::StrCat(base, " dbname=", QuoteConnValue(dbname));
}

absl::Status CheckConnInfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? error : "cannot parse";
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(
        absl::StrCat("connection string: ", RedactSecrets(absl::StripTrailingAsciiWhitespace(why))));
  }
  absl::Status status;
  for (PQconninfoOption* o = options; o->keyword != nullptr && status.ok(); ++o) {
    if (o->val == nullptr) continue;
    const std::string keyword = o->keyword;
    const std::string value = o->val;
    if (keyword == "port") {
      for (absl::string_view port : absl::StrSplit(value, ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(port, &n) || n < 1 || n > 65535) {
          status = absl::InvalidArgumentError(absl::StrCat("connection string: port \"", port, "\" is not a port"));
        }
      }
    } else if (keyword == "connect_timeout") {
      int n = 0;
      if (!absl::SimpleAtoi(value, &n)) {
        status = absl::InvalidArgumentError(absl::StrCat("connection string: connect_timeout \"", value, "\" is not a number"));
      }
    } else if (keyword == "sslmode") {
      static const std::set<std::string> kModes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
      if (!kModes.count(value)) {
        status = absl::InvalidArgumentError(absl::StrCat("connection string: sslmode \"", value, "\" is not libpq's"));
      }
    }
  }
  PQconninfoFree(options);
  return status;
}

absl::StatusOr<std::map<std::string, std::string>> EnvironmentFor(const std::string& conninfo) {
  // libpq's own names for its keywords' environment variables.
  static const std::map<std::string, std::string> kVariables = {
      {"host", "PGHOST"},         {"hostaddr", "PGHOSTADDR"},       {"port", "PGPORT"},
      {"dbname", "PGDATABASE"},   {"user", "PGUSER"},               {"password", "PGPASSWORD"},
      {"passfile", "PGPASSFILE"}, {"sslmode", "PGSSLMODE"},         {"sslcert", "PGSSLCERT"},
      {"sslkey", "PGSSLKEY"},     {"sslrootcert", "PGSSLROOTCERT"}, {"connect_timeout", "PGCONNECT_TIMEOUT"},
      {"application_name", "PGAPPNAME"}, {"options", "PGOPTIONS"},
  };
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? error : "cannot parse";
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat("connection string: ", absl::StripTrailingAsciiWhitespace(why)));
  }
  std::map<std::string, std::string> env;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    auto it = kVariables.find(o->keyword);
    if (o->val != nullptr && it != kVariables.end()) env[it->second] = o->val;
  }
  PQconninfoFree(options);
  return env;
}

// A value inside libpq's `options`: libpq splits them at white space, and a backslash keeps the
// next character as it is.
std::string EscapeOption(absl::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

std::string QuoteConnValue(absl::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

std::string WithSessionSettings(const std::string& conninfo,
                                const std::vector<std::pair<std::string, std::string>>& settings) {
  std::string options;
  char* error = nullptr;
  if (PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error)) {
    for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
      if (o->val != nullptr && std::string(o->keyword) == "options") options = o->val;
    }
    PQconninfoFree(parsed);
  }
  if (error != nullptr) PQfreemem(error);
  for (const auto& [name, value] : settings) {
    absl::StrAppend(&options, options.empty() ? "" : " ", "-c ", name, "=", EscapeOption(value));
  }
  // libpq takes the last value of a repeated keyword.
  return absl::StrCat(conninfo, " options=", QuoteConnValue(options));
}

absl::Status WithConnection(absl::string_view base, absl::string_view dbname,
                            const std::function<absl::Status(pqxx::connection&)>& fn) {
  return WithConnInfo(ConnInfoFor(base, dbname), fn);
}

absl::Status WithConnInfo(const std::string& conninfo, const std::function<absl::Status(pqxx::connection&)>& fn) {
  try {
    pqxx::connection conn(conninfo);
    return fn(conn);
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

absl::Status PingServer(absl::string_view conninfo) {
  try {
    pqxx::connection conn(absl::StrCat(conninfo, " connect_timeout=2"));
    pqxx::nontransaction tx(conn);
    tx.exec("SELECT 1");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

}  // namespace upshift::pg
