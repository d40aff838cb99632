#include "libs/catalog/catalog.h"

#include <google/protobuf/text_format.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/checksum.h"
#include "libs/common/textproto.h"
#include "libs/common/validation.h"
#include "upgrade/v1/catalog.pb.h"

namespace upshift {
namespace {

// Reads a file the manifest names at `where` ("file:line").
absl::StatusOr<std::string> ReadCatalogFile(const std::string& dir, const std::string& where,
                                            const std::string& relative, const std::string& what) {
  if (relative.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", what, " names no file"));
  if (relative.front() == '/' || relative.find("..") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", what, " \"", relative, "\" must be a path inside the catalog folder"));
  }
  // The same once symbolic links are resolved: a link may not lead out of the catalog either.
  std::error_code error;
  const std::filesystem::path root = std::filesystem::canonical(dir, error);
  const std::filesystem::path resolved = std::filesystem::weakly_canonical(std::filesystem::path(dir) / relative, error);
  const std::string prefix = root.string() + "/";
  if (error || resolved.string().compare(0, prefix.size(), prefix) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", what, " \"", relative,
                                                   "\" leads out of the catalog folder (through a symbolic link)"));
  }
  absl::StatusOr<std::string> text = ReadFile(absl::StrCat(dir, "/", relative));
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", what, ": ", text.status().message()));
  return text;
}

}  // namespace

absl::StatusOr<Catalog> Catalog::Load(const std::string& dir) {
  const std::string manifest = absl::StrCat(dir, "/catalog.textproto");
  absl::StatusOr<std::string> text = ReadFile(manifest);
  if (!text.ok()) return text.status();
  upgrade::v1::Catalog proto;
  google::protobuf::TextFormat::ParseInfoTree locations;
  if (absl::Status parsed = ParseTextProto(*text, manifest, &proto, &locations); !parsed.ok()) return parsed;
  // "file:line" of element `index` of `field` in `tree` (the manifest, or a hop in it): every error
  // about something written in the manifest says where it is written. `index` must be -1 for a
  // singular field and in range for a repeated one (the parser aborts otherwise).
  using Tree = google::protobuf::TextFormat::ParseInfoTree;
  auto at = [&](const Tree* tree, const google::protobuf::Descriptor* type, const char* field, int index) {
    const google::protobuf::FieldDescriptor* f = type->FindFieldByName(field);
    int line = tree != nullptr && f != nullptr ? tree->GetLocation(f, index).line : -1;
    return line < 0 ? manifest : absl::StrCat(manifest, ":", line + 1);
  };
  const google::protobuf::Descriptor* catalog_type = upgrade::v1::Catalog::descriptor();
  const google::protobuf::Descriptor* hop_type = upgrade::v1::CatalogHop::descriptor();

  Catalog c;
  c.application_ = proto.application();
  if (proto.versions_size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(manifest, ": list at least two versions, oldest first"));
  }
  std::set<std::string> seen;
  for (int i = 0; i < proto.versions_size(); ++i) {
    const std::string& v = proto.versions(i);
    // The parser records list elements unreliably (versions: [...]); the list's own line is accurate.
    std::string where = at(&locations, catalog_type, "versions", 0);
    if (absl::Status s = ValidateVersion(v); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
    }
    if (!seen.insert(v).second) return absl::InvalidArgumentError(absl::StrCat(where, ": version ", v, " listed twice"));
    c.versions_.push_back(v);
  }
  if (proto.version_query().empty()) return absl::InvalidArgumentError(absl::StrCat(manifest, ": version_query is empty"));
  if (proto.set_version().empty()) return absl::InvalidArgumentError(absl::StrCat(manifest, ": set_version is empty"));
  c.version_query_ = proto.version_query();
  c.set_version_sql_ = proto.set_version();
  if (!proto.neutralize().empty()) {
    absl::StatusOr<std::string> sql =
        ReadCatalogFile(dir, at(&locations, catalog_type, "neutralize", -1), proto.neutralize(), "neutralize");
    if (!sql.ok()) return sql.status();
    c.neutralize_sql_ = *sql;
  }
  auto read_checks = [&](const auto& checks, const Tree* tree, const google::protobuf::Descriptor* type,
                         const char* field, const std::string& what, std::vector<Check>* out) -> absl::Status {
    for (int i = 0; i < checks.size(); ++i) {
      const auto& check = checks.Get(i);
      if (check.name().empty() || check.sql().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(at(tree, type, field, i), ": every ", what, " needs a name and sql"));
      }
      out->push_back({check.name(), check.sql()});
    }
    return absl::OkStatus();
  };
  if (absl::Status s =
          read_checks(proto.post_checks(), &locations, catalog_type, "post_checks", "post_check", &c.post_checks_);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = read_checks(proto.neutralization_assertions(), &locations, catalog_type,
                                   "neutralization_assertions", "neutralization assertion",
                                   &c.neutralization_assertions_);
      !s.ok()) {
    return s;
  }
  for (int i = 0; i < proto.unchanged_tables_size(); ++i) {
    const std::string& table = proto.unchanged_tables(i);
    size_t dot = table.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == table.size()) {
      return absl::InvalidArgumentError(absl::StrCat(at(&locations, catalog_type, "unchanged_tables", i),
                                                     ": unchanged_tables entry \"", table, "\" must be schema.table"));
    }
    c.unchanged_tables_.push_back(table);
  }
  if (proto.hops_size() != proto.versions_size() - 1) {
    return absl::InvalidArgumentError(absl::StrCat(manifest, ": ", proto.versions_size(), " versions need ",
                                                   proto.versions_size() - 1, " hops, found ", proto.hops_size()));
  }
  for (int i = 0; i < proto.hops_size(); ++i) {
    const auto& hp = proto.hops(i);
    const std::string hop_at = at(&locations, catalog_type, "hops", i);
    const Tree* hop_tree = locations.GetTreeForNested(catalog_type->FindFieldByName("hops"), i);
    if (hp.from() != c.versions_[i] || hp.to() != c.versions_[i + 1]) {
      return absl::InvalidArgumentError(absl::StrCat(hop_at, ": hop ", i + 1, " goes ", hp.from(), " -> ", hp.to(),
                                                     " but the versions chain ", c.versions_[i], " -> ",
                                                     c.versions_[i + 1]));
    }
    Hop hop{hp.from(), hp.to(), {}, {}, hp.single_transaction()};
    if (absl::Status s = read_checks(hp.pre_checks(), hop_tree, hop_type, "pre_checks",
                                     absl::StrCat("pre_check of hop ", hp.from(), " -> ", hp.to()), &hop.pre_checks);
        !s.ok()) {
      return s;
    }
    std::set<std::string> names;
    for (int j = 0; j < hp.steps_size(); ++j) {
      const auto& sp = hp.steps(j);
      const std::string step_at = at(hop_tree, hop_type, "steps", j);
      if (sp.name().empty() || !names.insert(sp.name()).second) {
        return absl::InvalidArgumentError(absl::StrCat(step_at, ": hop ", hop.from, " -> ", hop.to,
                                                       " has a step with an empty or repeated name \"", sp.name(), "\""));
      }
      std::string what = absl::StrCat("step ", sp.name(), " of hop ", hop.from, " -> ", hop.to);
      if (sp.sql().empty() == sp.command().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(step_at, ": ", what, " needs exactly one of sql and command"));
      }
      if (!sp.sql().empty()) {
        absl::StatusOr<std::string> sql = ReadCatalogFile(dir, step_at, sp.sql(), what);
        if (!sql.ok()) return sql.status();
        hop.steps.push_back({sp.name(), sp.sql(), *sql, Fingerprint(*sql), "", {}, absl::Hours(1), sp.superuser()});
        continue;
      }
      if (hop.single_transaction) {
        return absl::InvalidArgumentError(absl::StrCat(
            step_at, ": ", what, ": a command cannot run inside the hop's single transaction; use sql"));
      }
      absl::StatusOr<std::string> program = ReadCatalogFile(dir, step_at, sp.command(), what);
      if (!program.ok()) return program.status();
      std::string path = absl::StrCat(dir, "/", sp.command());
      if (access(path.c_str(), X_OK) != 0) {
        return absl::InvalidArgumentError(absl::StrCat(step_at, ": ", what, ": ", sp.command(), " is not executable"));
      }
      if (sp.timeout_seconds() < 0) {
        return absl::InvalidArgumentError(absl::StrCat(step_at, ": ", what, ": timeout_seconds must be positive"));
      }
      std::vector<std::string> args(sp.args().begin(), sp.args().end());
      hop.steps.push_back({sp.name(), sp.command(), "", Fingerprint(absl::StrCat(*program, "\n", absl::StrJoin(args, "\n"))),
                           path, args,
                           sp.timeout_seconds() > 0 ? absl::Seconds(sp.timeout_seconds()) : absl::Hours(1),
                           sp.superuser()});
    }
    c.hops_.push_back(std::move(hop));
  }
  return c;
}

int Catalog::IndexOf(const std::string& version) const {
  for (size_t i = 0; i < versions_.size(); ++i) {
    if (versions_[i] == version) return static_cast<int>(i);
  }
  return -1;
}

bool Catalog::Knows(const std::string& version) const { return IndexOf(version) >= 0; }

std::vector<std::string> Catalog::TargetsFrom(const std::string& from) const {
  int i = IndexOf(from);
  if (i < 0) return {};
  return std::vector<std::string>(versions_.begin() + i + 1, versions_.end());
}

std::vector<std::string> Catalog::SuperuserSteps(const std::string& from, const std::string& to) const {
  std::vector<std::string> out;
  absl::StatusOr<std::vector<Hop>> plan = Plan(from, to);
  if (!plan.ok()) return out;
  for (const Hop& hop : *plan) {
    for (const Step& step : hop.steps) {
      if (step.superuser) out.push_back(absl::StrCat(hop.from, "->", hop.to, "/", step.name));
    }
  }
  return out;
}

absl::StatusOr<std::vector<Hop>> Catalog::Plan(const std::string& from, const std::string& to) const {
  int a = IndexOf(from), b = IndexOf(to);
  if (a < 0) {
    return absl::FailedPreconditionError(absl::StrCat("version ", from, " is not in the ", application_,
                                                      " catalog (known: ", absl::StrJoin(versions_, ", "), ")"));
  }
  if (b < 0) {
    return absl::FailedPreconditionError(absl::StrCat("target version ", to, " is not in the ", application_,
                                                      " catalog (known: ", absl::StrJoin(versions_, ", "), ")"));
  }
  if (b <= a) {
    return absl::FailedPreconditionError(
        absl::StrCat("target version ", to, " is not newer than the current version ", from));
  }
  return std::vector<Hop>(hops_.begin() + a, hops_.begin() + b);
}

}  // namespace upshift
