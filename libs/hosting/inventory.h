#ifndef UPSHIFT_LIBS_HOSTING_INVENTORY_H_
#define UPSHIFT_LIBS_HOSTING_INVENTORY_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace upshift {

// One hosting server of the inventory, its connection string resolved.
struct ServerSpec {
  std::string name;
  std::string conninfo;  // a secret: never logged, never shown
  // At most this many copies and plans at once on the server, across replicas; 0: no limit (a
  // server named by --hosting_db rather than an inventory).
  int max_copies = 0;
  int max_plans = 0;
  std::map<std::string, std::string> labels;
  bool operator==(const ServerSpec& o) const {
    return name == o.name && conninfo == o.conninfo && max_copies == o.max_copies && max_plans == o.max_plans &&
           labels == o.labels;
  }
};

// The hosting servers Upshift serves (protos/upgrade/v1/inventory.proto, in text format).
class Inventory {
 public:
  // Where the connection strings come from (the process's environment and files, in production),
  // and how one is checked (libpq's own parser: pg::CheckConnInfo).
  struct Sources {
    std::function<std::optional<std::string>(const std::string& name)> env;
    std::function<absl::StatusOr<std::string>(const std::string& path)> read_file;
    std::function<absl::Status(const std::string& conninfo)> check_conninfo;
  };

  // Parses `text`, read from `file`. INVALID_ARGUMENT saying where ("file:line") and what: a syntax
  // error or an unknown field, no server, a bad or repeated name, a limit below 1, a label with an
  // empty key, a connection string named in neither or both ways, missing, or one libpq would
  // refuse (never quoting it).
  static absl::StatusOr<Inventory> Parse(const std::string& text, const std::string& file, const Sources& sources);

  // An inventory of one server, without limits.
  static Inventory Single(const std::string& name, const std::string& conninfo);

  const std::vector<ServerSpec>& servers() const { return servers_; }
  // nullptr when no server has that name.
  const ServerSpec* Find(const std::string& name) const;

 private:
  std::vector<ServerSpec> servers_;
};

// The server that holds `database`, given every server that lists a database of that name.
// NOT_FOUND when none does; FAILED_PRECONDITION naming them when two or more do: a name found twice
// is reported and never acted on, since either could be the customer's.
absl::StatusOr<std::string> PlaceDatabase(const std::string& database, const std::vector<std::string>& listed_on);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_HOSTING_INVENTORY_H_
