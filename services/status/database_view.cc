#include "services/status/database_view.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/common/validation.h"

namespace upshift::status {

DatabaseView::DatabaseView(HostingServer& hosting, StatusStore& store, const Catalog& catalog,
                           std::vector<std::string> reserved_databases)
    : hosting_(hosting), store_(store), catalog_(catalog), reserved_(std::move(reserved_databases)) {}

std::string DatabaseView::VersionOf(const std::string& name, const DatabaseRecord* record) {
  if (record != nullptr && !record->version.empty()) return record->version;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (not_application_.count(name) > 0) return "";
  }
  absl::StatusOr<std::string> version = hosting_.ReadVersion(name, catalog_.version_query());
  if (version.ok()) {
    store_.RememberVersion(name, *version).IgnoreError();  // a cache: the next call reads it again
    return *version;
  }
  if (version.status().code() == absl::StatusCode::kFailedPrecondition) {
    std::lock_guard<std::mutex> lock(mu_);
    not_application_.insert(name);
  }
  return "";
}

absl::StatusOr<std::vector<upgrade::v1::Database>> DatabaseView::ListDatabases() {
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<HostedDatabase> hosted, hosting_.ListDatabases());
  UPSHIFT_ASSIGN_OR_RETURN(auto records, store_.DatabaseRecords());
  std::map<std::string, upgrade::v1::Database> mains;
  std::vector<upgrade::v1::Database> copies;
  for (const HostedDatabase& h : hosted) {
    auto it = records.find(h.name);
    const DatabaseRecord* record = it == records.end() ? nullptr : &it->second;
    upgrade::v1::Database db;
    db.set_name(h.name);
    db.set_online(h.online);
    db.set_version(VersionOf(h.name, record));
    if (record != nullptr) {
      db.set_parent(record->parent);
      if (record->expires_at != absl::InfinitePast()) ToProto(record->expires_at, db.mutable_expires_at());
      for (upgrade::v1::Tag tag : record->tags) db.add_tags(tag);
    }
    if (db.parent().empty()) {
      mains[h.name] = std::move(db);
    } else {
      copies.push_back(std::move(db));
    }
  }
  for (upgrade::v1::Database& copy : copies) {
    auto parent = mains.find(copy.parent());
    bool restore_point = std::find(copy.tags().begin(), copy.tags().end(), upgrade::v1::TAG_RESTORE_POINT) !=
                         copy.tags().end();
    if (parent != mains.end()) {
      *(restore_point ? parent->second.add_restore_points() : parent->second.add_test_copies()) = std::move(copy);
    } else {
      mains[copy.name()] = std::move(copy);  // its main database is gone: list the copy on its own
    }
  }
  std::vector<upgrade::v1::Database> out;
  for (auto& [name, db] : mains) out.push_back(std::move(db));
  return out;
}

absl::StatusOr<upgrade::v1::Database> DatabaseView::GetDatabase(const std::string& name) {
  UPSHIFT_RETURN_IF_ERROR(ValidateDatabaseName(name, reserved_));
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<upgrade::v1::Database> all, ListDatabases());
  for (upgrade::v1::Database& db : all) {
    if (db.name() == name) return std::move(db);
    for (auto* nested : {db.mutable_test_copies(), db.mutable_restore_points()}) {
      for (upgrade::v1::Database& copy : *nested) {
        if (copy.name() == name) return std::move(copy);
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("database \"", name, "\" does not exist on the hosting server"));
}

}  // namespace upshift::status
