#include "services/status/database_view.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/common/validation.h"

namespace upshift::status {

DatabaseView::DatabaseView(DatabaseDirectory& hosting, DatabaseRecordStore& store, const Catalog& catalog,
                           std::vector<std::string> reserved_databases)
    : hosting_(hosting), store_(store), catalog_(catalog), reserved_(std::move(reserved_databases)) {}

std::string DatabaseView::VersionOf(const std::string& name, const DatabaseRecord* record) {
  if (record != nullptr && !record->version.empty()) return record->version;
  {
    absl::MutexLock lock(&mu_);
    if (not_application_.count(name) > 0) return "";
  }
  absl::StatusOr<std::string> version = hosting_.ReadVersion(name, catalog_.version_query());
  if (version.ok()) {
    store_.RememberVersion(name, *version).IgnoreError();  // a cache: the next call reads it again
    return *version;
  }
  if (version.status().code() == absl::StatusCode::kFailedPrecondition) {
    absl::MutexLock lock(&mu_);
    not_application_.insert(name);
  }
  return "";
}

upgrade::v1::Database DatabaseView::Describe(const HostedDatabase& hosted,
                                             const std::map<std::string, DatabaseRecord>& records) {
  auto it = records.find(hosted.name);
  const DatabaseRecord* record = it == records.end() ? nullptr : &it->second;
  upgrade::v1::Database db;
  db.set_name(hosted.name);
  db.set_tenant(hosted.owner);
  db.set_online(hosted.online);
  db.set_version(VersionOf(hosted.name, record));
  if (record != nullptr) {
    db.set_parent(record->parent);
    if (record->expires_at != absl::InfinitePast()) ToProto(record->expires_at, db.mutable_expires_at());
    for (upgrade::v1::Tag tag : record->tags) db.add_tags(tag);
  }
  return db;
}

namespace {

// Nests `copy` under its main database, whose tenant it belongs to: with the restore points or the
// test copies.
void Nest(upgrade::v1::Database copy, upgrade::v1::Database& main) {
  copy.set_tenant(main.tenant());
  bool restore_point =
      std::find(copy.tags().begin(), copy.tags().end(), upgrade::v1::TAG_RESTORE_POINT) != copy.tags().end();
  *(restore_point ? main.add_restore_points() : main.add_test_copies()) = std::move(copy);
}

}  // namespace

absl::StatusOr<DatabasePage> DatabaseView::ListDatabases(const std::function<bool(const std::string& tenant)>& visible,
                                                         const std::string& after, int limit) {
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<HostedDatabase> hosted, hosting_.ListDatabases());
  UPSHIFT_ASSIGN_OR_RETURN(auto records, store_.DatabaseRecords());
  // Which databases are listed at the top, and whose they are, before any is described (a
  // description may read the database's version from the database itself).
  std::map<std::string, const HostedDatabase*> by_name;
  for (const HostedDatabase& h : hosted) by_name[h.name] = &h;
  auto parent_of = [&](const std::string& name) -> std::string {
    auto it = records.find(name);
    if (it == records.end() || it->second.parent.empty() || by_name.count(it->second.parent) == 0) return "";
    return it->second.parent;  // its main database is gone: the copy is listed on its own
  };
  // The page: the first `limit` visible main databases after `after`, by name.
  DatabasePage page;
  std::map<std::string, upgrade::v1::Database> mains;
  for (const auto& [name, h] : by_name) {
    if (name <= after || !parent_of(name).empty() || !visible(h->owner)) continue;
    if (static_cast<int>(mains.size()) == limit) {
      page.more = true;
      break;
    }
    mains[name] = Describe(*h, records);
  }
  for (const HostedDatabase& h : hosted) {
    const std::string parent = parent_of(h.name);
    if (parent.empty()) continue;
    auto main = mains.find(parent);
    if (main != mains.end()) Nest(Describe(h, records), main->second);
  }
  for (auto& [name, db] : mains) page.databases.push_back(std::move(db));
  return page;
}

// Reads only `name` and its copies: the relay describes the database of every status change, so
// this must not grow with the number of databases on the server.
absl::StatusOr<upgrade::v1::Database> DatabaseView::GetDatabase(
    const std::string& name, const std::function<bool(const std::string& tenant)>& may_see) {
  UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(name, reserved_));
  UPSHIFT_ASSIGN_OR_RETURN(auto records, store_.DatabaseRecordsOf(name));
  std::vector<std::string> names = {name};
  for (const auto& [other, record] : records) {
    if (other != name) names.push_back(other);
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<HostedDatabase> hosted, hosting_.FindDatabases(names));
  auto it = std::find_if(hosted.begin(), hosted.end(), [&](const HostedDatabase& h) { return h.name == name; });
  if (it == hosted.end()) {
    return DatabaseNotFound(name);
  }
  // A copy has no copies of its own, and belongs to its main database's tenant.
  auto own = records.find(name);
  const std::string parent = own == records.end() ? "" : own->second.parent;
  std::string tenant = it->owner;
  if (!parent.empty()) {
    UPSHIFT_ASSIGN_OR_RETURN(std::vector<HostedDatabase> main, hosting_.FindDatabases({parent}));
    if (!main.empty()) tenant = main.front().owner;
  }
  if (may_see && !may_see(tenant)) return DatabaseNotFound(name);
  upgrade::v1::Database db = Describe(*it, records);
  if (!parent.empty()) {
    db.set_tenant(tenant);
    return db;
  }
  for (const HostedDatabase& h : hosted) {
    if (h.name != name) Nest(Describe(h, records), db);
  }
  return db;
}

}  // namespace upshift::status
