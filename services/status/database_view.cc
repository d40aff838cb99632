#include "services/status/database_view.h"

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/common/validation.h"

namespace upshift::status {

DatabaseView::DatabaseView(HostingFleet& fleet, DatabaseRecordStore& store, const Catalog& catalog,
                           std::vector<std::string> reserved_databases)
    : fleet_(fleet), store_(store), catalog_(catalog), reserved_(std::move(reserved_databases)) {}

std::string DatabaseView::VersionOf(DatabaseDirectory& hosting, const std::string& server, const std::string& name,
                                    const DatabaseRecord* record) {
  if (record != nullptr && !record->version.empty()) return record->version;
  {
    absl::MutexLock lock(&mu_);
    if (not_application_.count({server, name}) > 0) return "";
  }
  absl::StatusOr<std::string> version = hosting.ReadVersion(name, catalog_.version_query());
  if (version.ok()) {
    store_.RememberVersion(name, *version).IgnoreError();  // a cache: the next call reads it again
    return *version;
  }
  if (version.status().code() == absl::StatusCode::kFailedPrecondition) {
    absl::MutexLock lock(&mu_);
    not_application_.insert({server, name});
  }
  return "";
}

upgrade::v1::Database DatabaseView::Describe(DatabaseDirectory& hosting, const std::string& server,
                                             const HostedDatabase& hosted,
                                             const std::map<std::string, DatabaseRecord>& records) {
  auto it = records.find(hosted.name);
  const DatabaseRecord* record = it == records.end() ? nullptr : &it->second;
  upgrade::v1::Database db;
  db.set_name(hosted.name);
  db.set_server(server);
  db.set_tenant(hosted.owner);
  db.set_online(hosted.online);
  db.set_version(VersionOf(hosting, server, hosted.name, record));
  if (record != nullptr) {
    db.set_parent(record->parent);
    if (record->expires_at != absl::InfinitePast()) ToProto(record->expires_at, db.mutable_expires_at());
    if (record->scheduled_start != absl::InfinitePast()) ToProto(record->scheduled_start, db.mutable_scheduled_start());
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

// A database as one server lists it.
struct Held {
  std::string server;
  std::shared_ptr<HostingServer> hosting;
  HostedDatabase database;
};

}  // namespace

absl::StatusOr<DatabasePage> DatabaseView::ListDatabases(const std::function<bool(const std::string& tenant)>& visible,
                                                         const PagePosition& after, int limit,
                                                         const std::string& server) {
  std::vector<std::string> servers = fleet_.ServerNames();
  if (!server.empty()) {
    if (std::find(servers.begin(), servers.end(), server) == servers.end()) return ServerNotFound(server);
    servers = {server};
  }
  std::vector<Held> hosted;
  for (const std::string& name : servers) {
    absl::StatusOr<std::shared_ptr<HostingServer>> hosting = fleet_.Server(name);
    if (!hosting.ok()) continue;  // dropped from the inventory meanwhile
    absl::StatusOr<std::vector<HostedDatabase>> listed = (*hosting)->ListDatabases();
    if (listed.status().code() == absl::StatusCode::kUnavailable && servers.size() > 1) {
      LogWarning(absl::StrCat("hosting server ", name, " does not answer; its databases are left out of the list: ",
                              listed.status().message()));
      continue;
    }
    if (!listed.ok()) return listed.status();
    for (HostedDatabase& db : *listed) hosted.push_back({name, *hosting, std::move(db)});
  }
  UPSHIFT_ASSIGN_OR_RETURN(auto records, store_.DatabaseRecords());
  // Which databases are listed at the top, and whose they are, before any is described (a
  // description may read the database's version from the database itself). Copies stay on their
  // source's server: a copy's main database is the one of its parent's name on its own server.
  using Key = std::pair<std::string, std::string>;  // (name, server)
  std::map<Key, const Held*> by_key;
  for (const Held& h : hosted) by_key[{h.database.name, h.server}] = &h;
  auto parent_of = [&](const Held& h) -> std::string {
    auto it = records.find(h.database.name);
    if (it == records.end() || it->second.parent.empty() || by_key.count({it->second.parent, h.server}) == 0) return "";
    return it->second.parent;  // its main database is gone: the copy is listed on its own
  };
  // The page: the first `limit` visible main databases after `after`, by name, then server.
  DatabasePage page;
  std::map<Key, upgrade::v1::Database> mains;
  const Key start{after.name, after.server};
  for (const auto& [key, h] : by_key) {
    if ((!after.name.empty() && key <= start) || !parent_of(*h).empty() || !visible(h->database.owner)) continue;
    if (static_cast<int>(mains.size()) == limit) {
      page.more = true;
      break;
    }
    mains[key] = Describe(*h->hosting, h->server, h->database, records);
  }
  for (const Held& h : hosted) {
    const std::string parent = parent_of(h);
    if (parent.empty()) continue;
    auto main = mains.find({parent, h.server});
    if (main != mains.end()) Nest(Describe(*h.hosting, h.server, h.database, records), main->second);
  }
  for (auto& [key, db] : mains) page.databases.push_back(std::move(db));
  return page;
}

// Reads only `name` and its copies: the relay describes the database of every status change, so
// this must not grow with the number of databases on the servers.
absl::StatusOr<upgrade::v1::Database> DatabaseView::GetDatabase(
    const std::string& name, const std::function<bool(const std::string& tenant)>& may_see, const std::string& server) {
  UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(name, reserved_));
  UPSHIFT_ASSIGN_OR_RETURN(auto records, store_.DatabaseRecordsOf(name));
  auto own = records.find(name);
  const std::string parent = own == records.end() ? "" : own->second.parent;
  std::string on;
  std::shared_ptr<HostingServer> hosting;
  if (!server.empty()) {
    UPSHIFT_ASSIGN_OR_RETURN(hosting, fleet_.Server(server));
    on = server;
  } else {
    // Only which server holds it is read here. A main database of another tenant is passed over as
    // one that does not exist; a copy's tenant is its main database's, decided below.
    UPSHIFT_ASSIGN_OR_RETURN(PlacedDatabase placed, Locate(fleet_, name, [&](const HostedDatabase& h) {
                               return may_see == nullptr || !parent.empty() || may_see(h.owner);
                             }));
    on = placed.server;
    hosting = std::move(placed.hosting);
  }
  std::vector<std::string> names = {name};
  for (const auto& [other, record] : records) {
    if (other != name) names.push_back(other);
  }
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<HostedDatabase> hosted, hosting->FindDatabases(names));
  auto it = std::find_if(hosted.begin(), hosted.end(), [&](const HostedDatabase& h) { return h.name == name; });
  if (it == hosted.end()) {
    return DatabaseNotFound(name);
  }
  // A copy has no copies of its own, and belongs to its main database's tenant.
  std::string tenant = it->owner;
  if (!parent.empty()) {
    UPSHIFT_ASSIGN_OR_RETURN(std::vector<HostedDatabase> main, hosting->FindDatabases({parent}));
    if (!main.empty()) tenant = main.front().owner;
  }
  if (may_see && !may_see(tenant)) return DatabaseNotFound(name);
  upgrade::v1::Database db = Describe(*hosting, on, *it, records);
  if (!parent.empty()) {
    db.set_tenant(tenant);
    return db;
  }
  for (const HostedDatabase& h : hosted) {
    if (h.name != name) Nest(Describe(*hosting, on, h, records), db);
  }
  return db;
}

}  // namespace upshift::status
