#ifndef UPSHIFT_TESTS_UNIT_FAKES_H_
#define UPSHIFT_TESTS_UNIT_FAKES_H_

// Hand-written fakes of Upshift's own narrow ports, for unit tests.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"
#include "libs/common/time.h"
#include "libs/gate/gate.h"
#include "libs/hosting/hosting_server.h"
#include "libs/kafka/consumer.h"
#include "libs/kafka/publisher.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::testing {

class FakeClock final : public Clock {
 public:
  absl::Time Now() override { return now; }
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
};

class FakePublisher final : public Publisher {
 public:
  using Publisher::Publish;
  absl::Status Publish(const std::vector<OutgoingRecord>& batch) override {
    if (!fail_with.ok()) return fail_with;
    records.insert(records.end(), batch.begin(), batch.end());
    return absl::OkStatus();
  }
  // The events published on `topic`, decoded.
  std::vector<upgrade::v1::Event> Events(const std::string& topic = "upgrade.events") const {
    std::vector<upgrade::v1::Event> out;
    for (const OutgoingRecord& r : records) {
      if (r.topic != topic) continue;
      upgrade::v1::Event e;
      e.ParseFromString(r.payload);
      out.push_back(e);
    }
    return out;
  }
  std::vector<OutgoingRecord> records;
  absl::Status fail_with;
};

// Cancels the upgrades in `cancelled`, at the checkpoints in `cancel_at` (all when empty).
class FakeGate final : public Gate {
 public:
  absl::StatusOr<Passage> Pass(const std::string& upgrade_id, upgrade::v1::Checkpoint checkpoint) override {
    passed.push_back(checkpoint);
    if (ended.count(upgrade_id)) return Passage{Passage::kEnded, "ended"};
    if (cancelled.count(upgrade_id) && (cancel_at.empty() || cancel_at.count(checkpoint))) {
      return Passage{Passage::kCancelled, "cancelled on request"};
    }
    return Passage{};
  }
  // The orders of `orders`; NOT_FOUND for any other.
  absl::StatusOr<upgrade::v1::Order> GetOrder(const std::string& upgrade_id) override {
    auto it = orders.find(upgrade_id);
    if (it == orders.end()) return absl::NotFoundError(upgrade_id);
    return it->second;
  }
  // From `cancelled`, `handed_over` and `ended`; NOT_FOUND for an upgrade not in `orders`.
  absl::StatusOr<OrderState> GetState(const std::string& upgrade_id) override {
    if (orders.count(upgrade_id) == 0) return absl::NotFoundError(upgrade_id);
    return OrderState{cancelled.count(upgrade_id) > 0, handed_over.count(upgrade_id) > 0, ended.count(upgrade_id) > 0};
  }
  // Granted unless `claims` holds another holder's claim on it (they never expire here).
  absl::StatusOr<ClaimAnswer> Claim(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                                    absl::Duration, bool) override {
    std::lock_guard<std::mutex> lock(claims_mu);
    claimed.push_back(absl::StrCat(work, " ", upgrade_id));
    if (auto d = done.find({upgrade_id, work}); d != done.end()) return ClaimAnswer{false, d->second, {}, true};
    auto [it, added] = claims.try_emplace({upgrade_id, work}, holder);
    return ClaimAnswer{it->second == holder, it->second, absl::InfiniteFuture()};
  }
  absl::Status Release(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                       bool finished) override {
    std::lock_guard<std::mutex> lock(claims_mu);
    auto it = claims.find({upgrade_id, work});
    if (it == claims.end() || it->second != holder) return absl::OkStatus();
    if (finished) done[{upgrade_id, work}] = holder;
    claims.erase(it);
    return absl::OkStatus();
  }
  // Stores `order` as request would have admitted it.
  void Admit(const upgrade::v1::Order& order) { orders[order.upgrade_id()] = order; }
  std::mutex claims_mu;  // a claim's renewals come from a thread of its own
  std::map<std::pair<std::string, std::string>, std::string> claims;  // (upgrade id, work) -> holder
  std::map<std::pair<std::string, std::string>, std::string> done;    // work done, by whom
  std::vector<std::string> claimed;  // "work upgrade_id", in order
  std::map<std::string, upgrade::v1::Order> orders;
  std::set<std::string> ended;
  std::set<std::string> cancelled;
  std::set<std::string> handed_over;  // past their point of no return
  std::set<upgrade::v1::Checkpoint> cancel_at;
  std::vector<upgrade::v1::Checkpoint> passed;
};

// A hosting server of in-memory databases: name -> (version, row counts).
class FakeHosting final : public HostingServer {
 public:
  struct Db {
    std::string version;
    TableRowCounts rows;
    bool busy = false;  // has other sessions
    bool online = true;
    int32_t connection_limit = -1;
    int64_t size_bytes = 1000;
    std::string owner = "acme";  // its tenant
    std::map<std::string, absl::Duration> leases;  // upgrade id -> age of its last heartbeat
    int64_t oid = 0;  // given when added or copied
  };

  absl::StatusOr<std::vector<HostedDatabase>> ListDatabases() override {
    if (!down.ok()) return down;
    std::vector<HostedDatabase> out;
    for (const auto& [name, db] : dbs) out.push_back({name, db.online, db.connection_limit, db.owner});
    return out;
  }
  absl::StatusOr<std::vector<HostedDatabase>> FindDatabases(const std::vector<std::string>& names) override {
    if (!down.ok()) return down;
    std::vector<HostedDatabase> out;
    for (const auto& [name, db] : dbs) {
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        out.push_back({name, db.online, db.connection_limit, db.owner});
      }
    }
    return out;
  }
  absl::StatusOr<HostedDatabase> GetDatabase(const std::string& name) override {
    if (!down.ok()) return down;
    auto it = dbs.find(name);
    if (it == dbs.end()) return DatabaseNotFound(name);
    return HostedDatabase{name, it->second.online, it->second.connection_limit, it->second.owner, false, it->second.oid};
  }
  absl::StatusOr<std::string> ReadVersion(const std::string& name, const std::string&) override {
    if (!down.ok()) return down;
    if (reading) UPSHIFT_RETURN_IF_ERROR(reading(name));
    auto it = dbs.find(name);
    if (it == dbs.end()) return absl::NotFoundError(absl::StrCat("no database ", name));
    if (it->second.version.empty()) return absl::FailedPreconditionError("not an application database");
    return it->second.version;
  }
  absl::StatusOr<int64_t> DatabaseSizeBytes(const std::string& name) override { return DataSizeBytes(name); }
  absl::StatusOr<int64_t> DataSizeBytes(const std::string& name) override {
    if (!down.ok()) return down;
    auto it = dbs.find(name);
    if (it == dbs.end()) return absl::NotFoundError(name);
    return it->second.size_bytes;
  }
  absl::StatusOr<TableRowCounts> CountRows(const std::string& name) override {
    if (!down.ok()) return down;
    auto it = dbs.find(name);
    if (it == dbs.end()) return absl::NotFoundError(name);
    return it->second.rows;
  }
  absl::StatusOr<TableChecksums> ChecksumTables(const std::string&) override { return TableChecksums(); }
  // Rows the source's sessions add to each of its tables while a dump copies it, and right after a
  // template copy of it.
  bool dies_in_a_copy = false;
  int64_t written_during_dumps = 0;
  int64_t written_after_template_copies = 0;
  absl::Status CloneFromTemplate(const std::string& source, const std::string& target,
                                 const std::string& strategy) override {
    calls.push_back("template " + target);
    strategies.push_back(strategy);
    if (!down.ok()) return down;
    if (dies_in_a_copy) {  // the server dies under the copy, which fails as a tool's error would say it
      down = absl::UnavailableError("connection refused");
      return absl::InternalError("pg_dump: error: connection to server lost");
    }
    if (dbs.count(target)) return absl::AlreadyExistsError(target);
    if (!dbs.count(source)) return absl::NotFoundError(source);
    if (dbs[source].busy) return absl::FailedPreconditionError("source in use");
    dbs[target] = dbs[source];
    dbs[target].busy = false;
    dbs[target].oid = ++last_oid;
    if (corrupt_copies) dbs[target].rows.begin()->second += 1;
    // A session connects to the source once the copy is made, and writes before it is counted.
    for (auto& [table, rows] : dbs[source].rows) rows += written_after_template_copies;
    return absl::OkStatus();
  }
  absl::StatusOr<TableRowCounts> CloneByDump(const std::string& source, const std::string& target) override {
    calls.push_back("dump " + target);
    if (!down.ok()) return down;
    if (dbs.count(target)) return absl::AlreadyExistsError(target);
    dbs[target] = dbs[source];
    dbs[target].busy = false;
    dbs[target].oid = ++last_oid;
    if (corrupt_copies) dbs[target].rows.begin()->second += 1;
    TableRowCounts copied = dbs[source].rows;
    // The source's sessions keep writing after the snapshot the dump copied.
    for (auto& [table, rows] : dbs[source].rows) rows += written_during_dumps;
    return copied;
  }
  absl::Status DropDatabase(const std::string& name) override {
    calls.push_back("drop " + name);
    if (!down.ok()) return down;
    dbs.erase(name);
    return absl::OkStatus();
  }
  absl::Status Checkpoint() override {
    calls.push_back("checkpoint");
    return down;
  }
  absl::Status SetConnectionLimit(const std::string& name, int32_t limit) override {
    calls.push_back(absl::StrCat("limit ", name, " ", limit));
    if (!down.ok()) return down;
    if (!dbs.count(name)) return absl::NotFoundError(name);
    dbs[name].connection_limit = limit;
    dbs[name].online = limit != 0;
    return absl::OkStatus();
  }
  absl::Status TerminateSessions(const std::string& name) override {
    calls.push_back("terminate " + name);
    if (!down.ok()) return down;
    if (dbs.count(name)) dbs[name].busy = false;
    return absl::OkStatus();
  }
  absl::Status PutLease(const std::string& name, const std::string& upgrade_id) override {
    calls.push_back("lease " + name);
    if (!down.ok()) return down;
    dbs[name].leases[upgrade_id] = absl::ZeroDuration();
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<absl::Duration>> LeaseAge(const std::string& name,
                                                           const std::string& upgrade_id) override {
    if (!down.ok()) return down;
    auto it = dbs[name].leases.find(upgrade_id);
    if (it == dbs[name].leases.end()) return std::optional<absl::Duration>();
    return std::optional<absl::Duration>(it->second);
  }
  absl::Status DeleteLease(const std::string& name, const std::string& upgrade_id) override {
    dbs[name].leases.erase(upgrade_id);
    return absl::OkStatus();
  }
  absl::Status ReplaceDatabase(const std::string& name, const std::string& replacement) override {
    calls.push_back(absl::StrCat("replace ", name, " ", replacement));
    if (!down.ok()) return down;
    if (!dbs.count(replacement)) return absl::NotFoundError(replacement);
    dbs[name] = dbs[replacement];
    dbs.erase(replacement);
    return absl::OkStatus();
  }
  absl::Status SwapDatabases(const std::string& name, const std::string& copy) override {
    calls.push_back(absl::StrCat("swap ", name, " ", copy));
    if (!down.ok()) return down;
    if (!dbs.count(name)) return absl::NotFoundError(name);
    if (!dbs.count(copy)) return absl::NotFoundError(copy);
    if (dbs[name].busy || dbs[copy].busy) return absl::FailedPreconditionError("in use");
    std::swap(dbs[name], dbs[copy]);
    return absl::OkStatus();
  }

  // Adds a database at `version` holding `rows`.
  Db& Add(const std::string& name, const std::string& version, TableRowCounts rows = {}) {
    Db& db = dbs[name];
    db.oid = ++last_oid;
    db.version = version;
    db.rows = std::move(rows);
    return db;
  }

  std::map<std::string, Db> dbs;
  std::vector<std::string> calls;
  std::vector<std::string> strategies;  // of every CloneFromTemplate, in order
  int64_t last_oid = 16384;
  absl::Status down;  // when set, every call fails with it
  bool corrupt_copies = false;
  // Called by each ReadVersion (from any thread) before it reads; an error is the read's.
  std::function<absl::Status(const std::string&)> reading;
};

inline ConsumedRecord RecordOf(const upgrade::v1::Event& e, const std::string& topic = "upgrade.events") {
  ConsumedRecord r;
  r.topic = topic;
  r.key = e.order().database();
  r.payload = e.SerializeAsString();
  return r;
}

inline upgrade::v1::Order SampleOrder(upgrade::v1::Purpose purpose = upgrade::v1::PURPOSE_TEST) {
  upgrade::v1::Order o;
  o.set_upgrade_id("0f8fad5b-d9cb-469f-a165-70867728950e");
  o.set_database("acme");
  o.set_from_version("16.0");
  o.set_target_version("18.0");
  o.set_purpose(purpose);
  o.set_notify_email("owner@acme.example.com");
  o.set_test_database("acme_test_0f8fad5b");
  o.mutable_created_at()->set_seconds(1'800'000'000);
  return o;
}

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_UNIT_FAKES_H_
