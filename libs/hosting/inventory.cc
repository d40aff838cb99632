#include "libs/hosting/inventory.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/textproto.h"
#include "libs/hosting/hosting_server.h"
#include "upgrade/v1/inventory.pb.h"

namespace upshift {
namespace {

bool ValidServerName(const std::string& name) {
  if (name.empty() || name.size() > 63 || !absl::ascii_islower(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) && !absl::ascii_isdigit(static_cast<unsigned char>(c)) &&
        c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<Inventory> Inventory::Parse(const std::string& text, const std::string& file, const Sources& sources) {
  upgrade::v1::HostingInventory proto;
  google::protobuf::TextFormat::ParseInfoTree locations;
  if (absl::Status parsed = ParseTextProto(text, file, &proto, &locations); !parsed.ok()) return parsed;
  if (proto.server_size() == 0) return absl::InvalidArgumentError(absl::StrCat(file, ": lists no server"));
  const google::protobuf::FieldDescriptor* server_field =
      upgrade::v1::HostingInventory::descriptor()->FindFieldByName("server");
  Inventory inventory;
  std::set<std::string> names;
  for (int i = 0; i < proto.server_size(); ++i) {
    const upgrade::v1::InventoryServer& s = proto.server(i);
    const int line = locations.GetLocation(server_field, i).line;
    const std::string where = line < 0 ? file : absl::StrCat(file, ":", line + 1);
    auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": server \"", s.name(), "\": ", what));
    };
    if (!ValidServerName(s.name())) {
      return bad("a name is 1 to 63 of a-z, 0-9 and '-', starting with a letter");
    }
    if (!names.insert(s.name()).second) return bad("named twice");
    if (s.max_copies() < 1 || s.max_plans() < 1) {
      return bad(absl::StrCat("max_copies and max_plans must be at least 1 (they are ", s.max_copies(), " and ",
                              s.max_plans(), ")"));
    }
    for (const auto& [key, value] : s.labels()) {
      if (key.empty()) return bad("a label has an empty key");
    }
    if (s.conninfo_env().empty() == s.conninfo_file().empty()) {
      return bad("name its connection string with exactly one of conninfo_env and conninfo_file");
    }
    std::string conninfo;
    if (!s.conninfo_env().empty()) {
      std::optional<std::string> value = sources.env(s.conninfo_env());
      if (!value.has_value() || value->empty()) {
        return bad(absl::StrCat("environment variable ", s.conninfo_env(), " is not set"));
      }
      conninfo = *std::move(value);
    } else {
      absl::StatusOr<std::string> read = sources.read_file(s.conninfo_file());
      if (!read.ok()) return bad(std::string(read.status().message()));
      conninfo = std::string(absl::StripTrailingAsciiWhitespace(*read));
    }
    if (absl::Status checked = sources.check_conninfo(conninfo); !checked.ok()) {
      return bad(absl::StrCat("its connection string is unusable: ", checked.message()));
    }
    ServerSpec spec;
    spec.name = s.name();
    spec.conninfo = std::move(conninfo);
    spec.max_copies = s.max_copies();
    spec.max_plans = s.max_plans();
    spec.labels.insert(s.labels().begin(), s.labels().end());
    inventory.servers_.push_back(std::move(spec));
  }
  return inventory;
}

Inventory Inventory::Single(const std::string& name, const std::string& conninfo) {
  Inventory inventory;
  ServerSpec spec;
  spec.name = name;
  spec.conninfo = conninfo;
  inventory.servers_.push_back(std::move(spec));
  return inventory;
}

const ServerSpec* Inventory::Find(const std::string& name) const {
  for (const ServerSpec& s : servers_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

absl::StatusOr<std::string> PlaceDatabase(const std::string& database, const std::vector<std::string>& listed_on) {
  if (listed_on.empty()) return DatabaseNotFound(database);
  if (listed_on.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat("database \"", database, "\" exists on several hosting servers (",
                                                      absl::StrJoin(listed_on, ", "),
                                                      "): Upshift acts on neither until one is renamed"));
  }
  return listed_on.front();
}

}  // namespace upshift
