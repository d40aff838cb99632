// PgOrderStore's RolloutBook: rollouts and their databases in schema `request` (migration 9).

#include "absl/strings/str_cat.h"
#include "libs/common/time.h"
#include "libs/pg/pool.h"
#include "libs/pg/values.h"
#include "services/request/pg_order_store.h"

namespace upshift::request {
namespace {

const std::string kRolloutColumns = absl::StrCat(
    "rollout_id, spec, state, reason, wave, waves, ", pg::MicrosOf("next_wave_at"), ", seen_failures, created_by, ",
    pg::MicrosOf("created_at"), ", ", pg::MicrosOf("updated_at"));

StoredRollout RolloutFromRow(const pqxx::row& row) {
  StoredRollout r;
  r.rollout_id = row[0].as<std::string>();
  pqxx::binarystring spec(row[1]);
  r.spec.ParseFromArray(spec.data(), static_cast<int>(spec.size()));
  r.state = static_cast<upgrade::v1::RolloutState>(row[2].as<int>());
  r.reason = row[3].as<std::string>();
  r.wave = row[4].as<int>();
  r.waves = row[5].as<int>();
  r.next_wave_at = pg::TimeFromField(row[6]);
  r.seen_failures = row[7].as<int>();
  r.created_by = row[8].as<std::string>();
  r.created_at = pg::TimeFromField(row[9]);
  r.updated_at = pg::TimeFromField(row[10]);
  return r;
}

void LoadMembers(pqxx::work& tx, StoredRollout& r) {
  r.members.clear();
  for (const auto& row : tx.exec_params(
           absl::StrCat("SELECT database, server, tenant, wave, state, coalesce(upgrade_id, ''), note, ",
                        pg::MicrosOf("ordered_at"), ", ", pg::MicrosOf("ended_at"),
                        " FROM request.rollout_members WHERE rollout_id = $1 ORDER BY wave, database"),
           r.rollout_id)) {
    RolloutMember m;
    m.database = row[0].as<std::string>();
    m.server = row[1].as<std::string>();
    m.tenant = row[2].as<std::string>();
    m.wave = row[3].as<int>();
    m.state = MemberStateNamed(row[4].as<std::string>()).value_or(MemberState::kLeft);
    m.upgrade_id = row[5].as<std::string>();
    m.note = row[6].as<std::string>();
    m.ordered_at = pg::TimeFromField(row[7]);
    m.ended_at = pg::TimeFromField(row[8]);
    r.members.push_back(std::move(m));
  }
}

// A time for NULLIF($n, '')::timestamptz: empty (NULL) for InfinitePast.
std::string TimeOrNull(absl::Time t) { return t == absl::InfinitePast() ? std::string() : pg::FormatTime(t); }

void UpsertMember(pqxx::work& tx, const std::string& rollout_id, const RolloutMember& m) {
  tx.exec_params(
      "INSERT INTO request.rollout_members (rollout_id, database, server, tenant, wave, state, upgrade_id, note, "
      "ordered_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, NULLIF($9, '')::timestamptz, "
      "NULLIF($10, '')::timestamptz) ON CONFLICT (rollout_id, database) DO UPDATE SET state = EXCLUDED.state, upgrade_id = EXCLUDED.upgrade_id, "
      "note = EXCLUDED.note, ordered_at = EXCLUDED.ordered_at, ended_at = EXCLUDED.ended_at",
      rollout_id, m.database, m.server, m.tenant, m.wave, MemberStateName(m.state), m.upgrade_id, m.note,
      TimeOrNull(m.ordered_at), TimeOrNull(m.ended_at));
}

}  // namespace

absl::Status PgOrderStore::CreateRollout(const StoredRollout& r) {
  return pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    pqxx::result inserted = tx.exec_params(
        "INSERT INTO request.rollouts (rollout_id, request_id, spec, state, reason, wave, waves, seen_failures, "
        "created_by, created_at, updated_at) VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, $7, $8, $9, "
        "$10::timestamptz, $11::timestamptz) ON CONFLICT (request_id) DO NOTHING RETURNING rollout_id",
        r.rollout_id, r.spec.request_id(), pqxx::binarystring(r.spec.SerializeAsString()), static_cast<int>(r.state),
        r.reason, r.wave, r.waves, r.seen_failures, r.created_by, pg::FormatTime(r.created_at),
        pg::FormatTime(r.updated_at));
    if (inserted.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("request_id ", r.spec.request_id(), " started another rollout"));
    }
    for (const RolloutMember& m : r.members) UpsertMember(tx, r.rollout_id, m);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<StoredRollout>> PgOrderStore::FindRolloutWhere(const std::string& column,
                                                                            const std::string& value) {
  std::optional<StoredRollout> found;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    found.reset();
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT ", kRolloutColumns, " FROM request.rollouts WHERE ", column, " = $1"), value);
    if (rows.empty()) return absl::OkStatus();
    found = RolloutFromRow(rows[0]);
    LoadMembers(tx, *found);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<std::optional<StoredRollout>> PgOrderStore::FindRollout(const std::string& rollout_id) {
  return FindRolloutWhere("rollout_id", rollout_id);
}

absl::StatusOr<std::optional<StoredRollout>> PgOrderStore::FindRolloutByRequestId(const std::string& request_id) {
  return FindRolloutWhere("request_id", request_id);
}

absl::StatusOr<std::vector<StoredRollout>> PgOrderStore::ListRollouts(int limit) {
  std::vector<StoredRollout> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row : tx.exec_params(
             absl::StrCat("SELECT ", kRolloutColumns, " FROM request.rollouts ORDER BY created_at DESC LIMIT $1"),
             limit)) {
      out.push_back(RolloutFromRow(row));
      LoadMembers(tx, out.back());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<std::string>> PgOrderStore::ActiveRollouts() {
  std::vector<std::string> out;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    out.clear();
    for (const auto& row : tx.exec_params(
             "SELECT rollout_id FROM request.rollouts WHERE state IN ($1, $2) ORDER BY created_at",
             static_cast<int>(upgrade::v1::ROLLOUT_RUNNING), static_cast<int>(upgrade::v1::ROLLOUT_PAUSED))) {
      out.push_back(row[0].as<std::string>());
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::optional<StoredRollout>> PgOrderStore::LeaseRollout(const std::string& rollout_id,
                                                                        const std::string& holder, absl::Time now,
                                                                        absl::Duration ttl) {
  std::optional<StoredRollout> found;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    found.reset();
    pqxx::result rows = tx.exec_params(
        absl::StrCat("UPDATE request.rollouts SET holder = $2, lease_until = $4::timestamptz WHERE rollout_id = $1 "
                     "AND state IN ($5, $6) AND (holder IS NULL OR holder = $2 OR lease_until <= $3::timestamptz) "
                     "RETURNING ",
                     kRolloutColumns),
        rollout_id, holder, pg::FormatTime(now), pg::FormatTime(now + ttl),
        static_cast<int>(upgrade::v1::ROLLOUT_RUNNING), static_cast<int>(upgrade::v1::ROLLOUT_PAUSED));
    if (rows.empty()) return absl::OkStatus();
    found = RolloutFromRow(rows[0]);
    LoadMembers(tx, *found);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return found;
}

absl::Status PgOrderStore::SaveMember(const std::string& rollout_id, const RolloutMember& member) {
  return pool_->Transact([&](pqxx::work& tx) {
    UpsertMember(tx, rollout_id, member);
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> PgOrderStore::AdvanceRollout(const StoredRollout& r, const std::string& holder) {
  bool saved = false;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) {
    pqxx::result rows = tx.exec_params(
        "UPDATE request.rollouts SET state = $3, reason = $4, wave = $5, next_wave_at = NULLIF($6, '')::timestamptz, "
        "seen_failures = $7, updated_at = $8::timestamptz WHERE rollout_id = $1 AND holder = $2 AND state = $9 "
        "RETURNING rollout_id",
        r.rollout_id, holder, static_cast<int>(r.state), r.reason, r.wave, TimeOrNull(r.next_wave_at),
        r.seen_failures, pg::FormatTime(r.updated_at), static_cast<int>(upgrade::v1::ROLLOUT_RUNNING));
    saved = !rows.empty();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return saved;
}

absl::StatusOr<StoredRollout> PgOrderStore::ChangeRollout(const std::string& rollout_id,
                                                          const std::function<absl::Status(StoredRollout&)>& decide) {
  StoredRollout changed;
  absl::Status status = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT ", kRolloutColumns, " FROM request.rollouts WHERE rollout_id = $1 FOR UPDATE"),
        rollout_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no rollout ", rollout_id));
    changed = RolloutFromRow(rows[0]);
    LoadMembers(tx, changed);
    if (absl::Status s = decide(changed); !s.ok()) return s;
    tx.exec_params(
        "UPDATE request.rollouts SET state = $2, reason = $3, seen_failures = $4, updated_at = $5::timestamptz, "
        "holder = NULL, lease_until = NULL WHERE rollout_id = $1",
        rollout_id, static_cast<int>(changed.state), changed.reason, changed.seen_failures,
        pg::FormatTime(changed.updated_at));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return changed;
}

}  // namespace upshift::request
