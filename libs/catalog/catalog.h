#ifndef UPSHIFT_LIBS_CATALOG_CATALOG_H_
#define UPSHIFT_LIBS_CATALOG_CATALOG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace upshift {

struct Step {
  std::string name;
  std::string file;  // relative to the catalog folder
  std::string sql;   // empty for a command step
  std::string checksum;  // Fingerprint of the script (SQL, or the command's file and arguments)
  // A command step: the executable's absolute path, its arguments, and its time limit.
  std::string command;
  std::vector<std::string> args;
  absl::Duration timeout = absl::Hours(1);
  // Runs as the platform's superuser instead of the database's owner (the catalog says it needs to).
  bool superuser = false;
};

struct Check {
  std::string name;
  std::string sql;  // returns one boolean
};

struct Hop {
  std::string from;
  std::string to;
  std::vector<Step> steps;
  std::vector<Check> pre_checks;
  bool single_transaction = false;
};

// A migration catalog loaded from a folder (see deploy/catalogs/README.md). Immutable once loaded,
// so it is safe to share between threads.
class Catalog {
 public:
  // Reads `dir`/catalog.textproto and every file it names. INVALID_ARGUMENT naming the file (and line,
  // for the manifest) when something does not parse, a file is missing, or the hops do not chain
  // through the listed versions in order.
  static absl::StatusOr<Catalog> Load(const std::string& dir);

  const std::string& application() const { return application_; }
  const std::vector<std::string>& versions() const { return versions_; }
  const std::string& version_query() const { return version_query_; }
  const std::string& set_version_sql() const { return set_version_sql_; }
  const std::string& neutralize_sql() const { return neutralize_sql_; }
  const std::vector<Check>& post_checks() const { return post_checks_; }
  const std::vector<Check>& neutralization_assertions() const { return neutralization_assertions_; }
  const std::vector<std::string>& unchanged_tables() const { return unchanged_tables_; }

  bool Knows(const std::string& version) const;

  // The versions a database at `from` can be upgraded to, in order.
  std::vector<std::string> TargetsFrom(const std::string& from) const;

  // The hops from `from` to `to`, in order. FAILED_PRECONDITION when either version is not in the
  // catalog or `to` is not newer than `from`.
  absl::StatusOr<std::vector<Hop>> Plan(const std::string& from, const std::string& to) const;

  // The steps of Plan(from, to) that the catalog marks `superuser: true`, as "from->to/step", in
  // order; empty when there are none or no such plan.
  std::vector<std::string> SuperuserSteps(const std::string& from, const std::string& to) const;

 private:
  int IndexOf(const std::string& version) const;

  std::string application_;
  std::vector<std::string> versions_;
  std::string version_query_;
  std::string set_version_sql_;
  std::string neutralize_sql_;
  std::vector<Check> post_checks_;
  std::vector<Check> neutralization_assertions_;
  std::vector<std::string> unchanged_tables_;
  std::vector<Hop> hops_;  // hops_[i] goes from versions_[i] to versions_[i + 1]
};

}  // namespace upshift

#endif  // UPSHIFT_LIBS_CATALOG_CATALOG_H_
