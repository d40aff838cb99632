#include "services/request/rollouts.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/common/concurrent.h"
#include "libs/common/deadline.h"
#include "libs/common/ids.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/common/validation.h"
#include "libs/metrics/metrics.h"

namespace upshift::request {

using upgrade::v1::RolloutState;

const char* MemberStateName(MemberState state) {
  switch (state) {
    case MemberState::kLeft: return "left";
    case MemberState::kRunning: return "running";
    case MemberState::kSucceeded: return "succeeded";
    case MemberState::kFailed: return "failed";
    case MemberState::kSkipped: return "skipped";
  }
  return "left";
}

std::optional<MemberState> MemberStateNamed(const std::string& name) {
  for (MemberState s : {MemberState::kLeft, MemberState::kRunning, MemberState::kSucceeded, MemberState::kFailed,
                        MemberState::kSkipped}) {
    if (name == MemberStateName(s)) return s;
  }
  return std::nullopt;
}

std::vector<int> WaveSizes(const google::protobuf::RepeatedPtrField<upgrade::v1::RolloutWave>& waves, int count) {
  std::vector<int> sizes;
  int left = count;
  for (const upgrade::v1::RolloutWave& wave : waves) {
    if (left == 0) break;
    int size = wave.size_case() == upgrade::v1::RolloutWave::kDatabases
                   ? wave.databases()
                   : static_cast<int>((static_cast<int64_t>(wave.percent()) * count + 99) / 100);
    size = std::clamp(size, 1, left);
    sizes.push_back(size);
    left -= size;
  }
  if (left > 0) {
    if (sizes.empty()) {
      sizes.push_back(left);
    } else {
      sizes.back() += left;
    }
  }
  return sizes;
}

upgrade::v1::Rollout RolloutOf(const StoredRollout& stored, bool with_databases) {
  upgrade::v1::Rollout r;
  r.set_rollout_id(stored.rollout_id);
  *r.mutable_spec() = stored.spec;
  r.set_state(stored.state);
  r.set_reason(stored.reason);
  r.set_current_wave(stored.wave + 1);
  r.set_created_by(stored.created_by);
  ToProto(stored.created_at, r.mutable_created_at());
  ToProto(stored.updated_at, r.mutable_updated_at());
  if (stored.state == upgrade::v1::ROLLOUT_RUNNING && stored.next_wave_at != absl::InfinitePast()) {
    ToProto(stored.next_wave_at, r.mutable_next_wave_at());
  }
  for (int w = 0; w < stored.waves; ++w) {
    upgrade::v1::RolloutWaveProgress* p = r.add_waves();
    p->set_wave(w + 1);
    absl::Time started = absl::InfiniteFuture();
    absl::Time finished = absl::InfinitePast();
    bool all_ended = true;
    for (const RolloutMember& m : stored.members) {
      if (m.wave != w) continue;
      p->set_databases(p->databases() + 1);
      switch (m.state) {
        case MemberState::kLeft: p->set_left(p->left() + 1); break;
        case MemberState::kRunning: p->set_running(p->running() + 1); break;
        case MemberState::kSucceeded: p->set_succeeded(p->succeeded() + 1); break;
        case MemberState::kFailed: p->set_failed(p->failed() + 1); break;
        case MemberState::kSkipped: p->set_skipped(p->skipped() + 1); break;
      }
      if (m.ordered_at != absl::InfinitePast()) started = std::min(started, m.ordered_at);
      all_ended = all_ended && m.ended();
      if (m.ended()) finished = std::max(finished, m.ended_at);
    }
    if (started != absl::InfiniteFuture()) ToProto(started, p->mutable_started_at());
    if (all_ended && finished != absl::InfinitePast()) ToProto(finished, p->mutable_finished_at());
  }
  if (with_databases) {
    for (const RolloutMember& m : stored.members) {
      upgrade::v1::RolloutDatabase* d = r.add_databases();
      d->set_database(m.database);
      d->set_server(m.server);
      d->set_tenant(m.tenant);
      d->set_wave(m.wave + 1);
      d->set_state(MemberStateName(m.state));
      d->set_upgrade_id(m.upgrade_id);
      d->set_note(m.note);
    }
  }
  return r;
}

Rollouts::Rollouts(RolloutOptions options, const Catalog& catalog, HostingFleet& fleet, Admission& admission,
                   OrderBook& orders, RolloutBook& book, Auditor& auditor, Clock& clock,
                   std::function<int(const std::string&)> copies_limit, std::string holder)
    : options_(std::move(options)),
      catalog_(catalog),
      fleet_(fleet),
      admission_(admission),
      orders_(orders),
      book_(book),
      auditor_(auditor),
      clock_(clock),
      copies_limit_(std::move(copies_limit)),
      holder_(std::move(holder)) {}

namespace {

constexpr char kWhat[] = "rollouts";

// The rollout `first` started with a request_id, when `asked` (a new call with the same request_id)
// asks for the same; otherwise ALREADY_EXISTS, as RequestUpgrade answers a key reused for another
// order: a retry gets its rollout, a reused key never passes for another selection.
absl::StatusOr<upgrade::v1::Rollout> SameRollout(const StoredRollout& first,
                                                 const upgrade::v1::StartRolloutRequest& asked) {
  if (!google::protobuf::util::MessageDifferencer::Equals(first.spec, asked)) {
    return absl::AlreadyExistsError(absl::StrCat("request_id \"", asked.request_id(), "\" was used for rollout ",
                                                 first.rollout_id,
                                                 " with another request; a new rollout needs a new request_id"));
  }
  return RolloutOf(first, false);
}

absl::Status ValidateSpec(const upgrade::v1::StartRolloutRequest& request, const Catalog& catalog,
                          const std::vector<std::string>& servers) {
  UPSHIFT_RETURN_IF_ERROR(ValidateVersion(request.target_version()));
  if (!catalog.Knows(request.target_version())) {
    return absl::InvalidArgumentError(
        absl::StrCat("target_version ", request.target_version(), " is not in the catalog"));
  }
  if (request.purpose() != upgrade::v1::PURPOSE_CHECK && request.purpose() != upgrade::v1::PURPOSE_TEST &&
      request.purpose() != upgrade::v1::PURPOSE_PRODUCTION) {
    return absl::InvalidArgumentError("purpose must be PURPOSE_CHECK, PURPOSE_TEST or PURPOSE_PRODUCTION");
  }
  for (const std::string& v : request.selector().from_versions()) {
    UPSHIFT_RETURN_IF_ERROR(ValidateVersion(v));
    if (!catalog.Knows(v)) return absl::InvalidArgumentError(absl::StrCat("selector.from_versions: ", v, " is not in the catalog"));
  }
  for (int i = 0; i < request.selector().servers_size(); ++i) {
    const std::string& s = request.selector().servers(i);
    if (std::find(servers.begin(), servers.end(), s) == servers.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("selector.servers[", i, "] names no hosting server of the inventory"));
    }
  }
  for (int i = 0; i < request.selector().tenants_size(); ++i) {
    if (!ValidateDatabaseName(request.selector().tenants(i)).ok()) {  // a tenant is a role name, of the same shape
      return absl::InvalidArgumentError(absl::StrCat("selector.tenants[", i, "] is not a tenant name"));
    }
  }
  if (request.waves_size() > 100) return absl::InvalidArgumentError("waves: at most 100");
  for (int i = 0; i < request.waves_size(); ++i) {
    const upgrade::v1::RolloutWave& w = request.waves(i);
    bool ok = (w.size_case() == upgrade::v1::RolloutWave::kDatabases && w.databases() > 0) ||
              (w.size_case() == upgrade::v1::RolloutWave::kPercent && w.percent() >= 1 && w.percent() <= 100);
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("waves[", i, "]: give databases (at least 1) or percent (1 to 100)"));
    }
  }
  if (request.has_bake()) {
    const google::protobuf::Duration& b = request.bake();
    if (b.seconds() < 0 || b.nanos() < 0 || b.seconds() > 7 * 24 * 3600) {
      return absl::InvalidArgumentError("bake must be between 0 and 7 days");
    }
  }
  if (request.max_failed_percent() < 0 || request.max_failed_percent() > 100) {
    return absl::InvalidArgumentError("max_failed_percent must be between 0 and 100");
  }
  if (request.purpose() != upgrade::v1::PURPOSE_CHECK) UPSHIFT_RETURN_IF_ERROR(ValidateEmail(request.notify_email()));
  if (!request.request_id().empty()) UPSHIFT_RETURN_IF_ERROR(ValidateRequestId(request.request_id()));
  return absl::OkStatus();
}

bool Listed(const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

absl::StatusOr<std::vector<RolloutMember>> Rollouts::SelectOn(const upgrade::v1::StartRolloutRequest& request,
                                                               const std::string& name, size_t reads_at_once) {
  UPSHIFT_ASSIGN_OR_RETURN(std::shared_ptr<HostingServer> server, fleet_.Server(name));
  absl::StatusOr<std::vector<HostedDatabase>> listed = server->ListDatabases();
  if (!listed.ok()) {
    return absl::UnavailableError(absl::StrCat("hosting server ", name, " does not answer (",
                                               listed.status().message(), "); nothing was started"));
  }
  std::vector<const HostedDatabase*> candidates;
  for (const HostedDatabase& db : *listed) {
    if (!ValidateDatabaseName(db.name, options_.reserved_databases).ok()) continue;
    if (Listed(request.selector().tenants(), db.owner)) candidates.push_back(&db);
  }
  // Whether each candidate is taken, or why that could not be told.
  std::vector<absl::StatusOr<bool>> taken(candidates.size(), false);
  const absl::Time deadline = DeadlineScope::Current();
  ForEachConcurrently(candidates.size(), reads_at_once, [&](size_t i) {
    DeadlineScope within(deadline);
    const HostedDatabase& db = *candidates[i];
    absl::StatusOr<bool> copy = orders_.IsTestCopy(db.name);
    if (!copy.ok() || *copy) {
      taken[i] = copy.ok() ? absl::StatusOr<bool>(false) : copy.status();
      return;
    }
    absl::StatusOr<std::string> version = server->ReadVersion(db.name, catalog_.version_query());
    if (absl::IsNotFound(version.status()) || absl::IsFailedPrecondition(version.status())) {
      taken[i] = false;  // dropped since it was listed, or not an application database
    } else if (!version.ok()) {
      // Busy, away or slow: unknown, never taken for "not selected".
      taken[i] = absl::UnavailableError(absl::StrCat("the version of ", db.name, " on ", name,
                                                     " could not be read (", version.status().message(),
                                                     "); nothing was started"));
    } else {
      taken[i] = Listed(request.selector().from_versions(), *version) &&
                 catalog_.Plan(*version, request.target_version()).ok();
    }
  });
  std::vector<RolloutMember> members;
  for (size_t i = 0; i < candidates.size(); ++i) {
    UPSHIFT_ASSIGN_OR_RETURN(bool take, std::move(taken[i]));
    if (take) members.push_back(RolloutMember{candidates[i]->name, name, candidates[i]->owner});
  }
  return members;
}

absl::StatusOr<std::vector<RolloutMember>> Rollouts::Select(const upgrade::v1::StartRolloutRequest& request) {
  // Each database's version is read inside it, on a connection of its own: thousands of them one
  // after another would outlast the call. Servers are read side by side, each with a few reads at
  // once, fewer than its --max_database_reads, so that customers' own reads still find places.
  constexpr size_t kServersAtOnce = 8;
  constexpr size_t kReadsAtOncePerServer = 4;
  std::vector<std::string> servers;
  for (const std::string& name : fleet_.ServerNames()) {
    if (Listed(request.selector().servers(), name)) servers.push_back(name);
  }
  const absl::Time deadline = DeadlineScope::Current();  // the caller's, for every thread below
  std::vector<absl::StatusOr<std::vector<RolloutMember>>> per_server(servers.size(), std::vector<RolloutMember>());
  ForEachConcurrently(servers.size(), kServersAtOnce, [&](size_t s) {
    DeadlineScope within(deadline);
    per_server[s] = SelectOn(request, servers[s], kReadsAtOncePerServer);
  });
  std::map<std::string, RolloutMember> found;
  std::set<std::string> twice;
  for (absl::StatusOr<std::vector<RolloutMember>>& on_server : per_server) {
    if (!on_server.ok()) return on_server.status();
    for (RolloutMember& member : *on_server) {
      if (found.count(member.database) > 0) twice.insert(member.database);
      found[member.database] = std::move(member);
    }
  }
  std::vector<RolloutMember> members;
  for (auto& [name, member] : found) {
    if (twice.count(name) > 0) {
      member.state = MemberState::kSkipped;
      member.note = "a database of this name is on two servers: neither is upgraded";
    }
    members.push_back(std::move(member));
  }
  return members;
}

absl::StatusOr<upgrade::v1::Rollout> Rollouts::Start(const upgrade::v1::StartRolloutRequest& request,
                                                     const Principal& caller) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kOperator, kWhat));
  UPSHIFT_RETURN_IF_ERROR(ValidateSpec(request, catalog_, fleet_.ServerNames()));
  if (!request.request_id().empty()) {
    UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredRollout> first, book_.FindRolloutByRequestId(request.request_id()));
    if (first.has_value()) return SameRollout(*first, request);
  }
  const absl::Time selecting = clock_.Now();
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<RolloutMember> members, Select(request));
  const absl::Duration selected_in = clock_.Now() - selecting;
  if (members.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no database matches the selector with a path to ",
                                                      request.target_version(), ": nothing to roll out"));
  }
  StoredRollout rollout;
  rollout.rollout_id = NewUpgradeId();
  rollout.spec = request;
  rollout.created_by = caller.subject;
  rollout.created_at = rollout.updated_at = clock_.Now();
  std::vector<int> sizes = WaveSizes(request.waves(), static_cast<int>(members.size()));
  rollout.waves = static_cast<int>(sizes.size());
  size_t next = 0;
  for (int w = 0; w < rollout.waves; ++w) {
    for (int i = 0; i < sizes[w]; ++i) members[next++].wave = w;
  }
  for (RolloutMember& m : members) {
    if (m.state == MemberState::kSkipped) m.ordered_at = m.ended_at = rollout.created_at;
  }
  rollout.members = std::move(members);
  absl::Status created = book_.CreateRollout(rollout);
  if (absl::IsAlreadyExists(created)) {  // the same key, started meanwhile by another call
    UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredRollout> first, book_.FindRolloutByRequestId(request.request_id()));
    if (first.has_value()) return SameRollout(*first, request);
  }
  UPSHIFT_RETURN_IF_ERROR(created);
  LogInfo(absl::StrCat("rollout ", rollout.rollout_id, " started by ", caller.subject, ": ", rollout.members.size(),
                       " databases to ", request.target_version(), " in ", rollout.waves, " waves (selected in ",
                       absl::FormatDuration(selected_in), ")"));
  return RolloutOf(rollout, false);
}

absl::StatusOr<upgrade::v1::Rollout> Rollouts::Get(const std::string& rollout_id, const Principal& caller) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kOperator, kWhat));
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(rollout_id));
  UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredRollout> found, book_.FindRollout(rollout_id));
  if (!found.has_value()) return absl::NotFoundError(absl::StrCat("no rollout ", rollout_id));
  return RolloutOf(*found, true);
}

absl::StatusOr<upgrade::v1::ListRolloutsResponse> Rollouts::List(const upgrade::v1::ListRolloutsRequest& request,
                                                                 const Principal& caller) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kOperator, kWhat));
  if (request.page_size() < 0) return absl::InvalidArgumentError("page_size must not be negative");
  const int limit = request.page_size() == 0 ? 50 : std::min(request.page_size(), 500);
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<StoredRollout> found, book_.ListRollouts(limit));
  upgrade::v1::ListRolloutsResponse response;
  for (const StoredRollout& r : found) *response.add_rollouts() = RolloutOf(r, false);
  return response;
}

absl::StatusOr<upgrade::v1::Rollout> Rollouts::Change(const std::string& rollout_id, const Principal& caller,
                                                      const std::function<absl::Status(StoredRollout&)>& decide) {
  UPSHIFT_RETURN_IF_ERROR(RequireScope(caller, scopes::kOperator, kWhat));
  UPSHIFT_RETURN_IF_ERROR(ValidateUpgradeId(rollout_id));
  UPSHIFT_ASSIGN_OR_RETURN(StoredRollout changed, book_.ChangeRollout(rollout_id, [&](StoredRollout& r) {
    UPSHIFT_RETURN_IF_ERROR(decide(r));
    r.updated_at = clock_.Now();
    return absl::OkStatus();
  }));
  LogInfo(absl::StrCat("rollout ", rollout_id, ": ", changed.reason));
  return RolloutOf(changed, false);
}

absl::StatusOr<upgrade::v1::Rollout> Rollouts::Pause(const std::string& rollout_id, const Principal& caller) {
  return Change(rollout_id, caller, [&](StoredRollout& r) {
    if (r.state != upgrade::v1::ROLLOUT_RUNNING) {
      return absl::FailedPreconditionError(absl::StrCat("rollout ", rollout_id, " is not running"));
    }
    r.state = upgrade::v1::ROLLOUT_PAUSED;
    r.reason = absl::StrCat("paused by ", caller.subject);
    return absl::OkStatus();
  });
}

absl::StatusOr<upgrade::v1::Rollout> Rollouts::Resume(const std::string& rollout_id, const Principal& caller) {
  return Change(rollout_id, caller, [&](StoredRollout& r) {
    if (r.state != upgrade::v1::ROLLOUT_PAUSED) {
      return absl::FailedPreconditionError(absl::StrCat("rollout ", rollout_id, " is not paused"));
    }
    // The failures that paused it are seen: it pauses again only on new ones.
    r.seen_failures = static_cast<int>(std::count_if(r.members.begin(), r.members.end(), [&](const RolloutMember& m) {
      return m.wave == r.wave && m.state == MemberState::kFailed;
    }));
    r.state = upgrade::v1::ROLLOUT_RUNNING;
    r.reason = absl::StrCat("resumed by ", caller.subject);
    return absl::OkStatus();
  });
}

absl::StatusOr<upgrade::v1::Rollout> Rollouts::Cancel(const std::string& rollout_id, const Principal& caller) {
  return Change(rollout_id, caller, [&](StoredRollout& r) {
    if (r.state == upgrade::v1::ROLLOUT_CANCELLED || r.state == upgrade::v1::ROLLOUT_DONE) {
      return absl::FailedPreconditionError(absl::StrCat("rollout ", rollout_id, " has ended"));
    }
    r.state = upgrade::v1::ROLLOUT_CANCELLED;
    r.reason = absl::StrCat("cancelled by ", caller.subject, "; upgrades already ordered go on");
    return absl::OkStatus();
  });
}

absl::Status Rollouts::Sweep() {
  UPSHIFT_ASSIGN_OR_RETURN(std::vector<std::string> running, book_.ActiveRollouts());
  absl::Status first_error;
  for (const std::string& id : running) {
    absl::StatusOr<std::optional<StoredRollout>> leased = book_.LeaseRollout(id, holder_, clock_.Now(), options_.lease);
    absl::Status driven = leased.ok() ? (leased->has_value() ? Drive(**std::move(leased)) : absl::OkStatus())
                                      : leased.status();
    if (!driven.ok()) {
      LogWarning(absl::StrCat("rollout ", id, ": ", driven.message()));
      first_error.Update(driven);
    }
  }
  return first_error;
}

absl::StatusOr<upgrade::v1::Upgrade> Rollouts::Order(const StoredRollout& rollout, const RolloutMember& member) {
  // The operator who started it orders each database, with the rollout's audit.
  Principal starter{rollout.created_by, "", {scopes::kOperator}};
  AuditedCall call;
  call.method = "upgrade.v1.RolloutService/StartRollout";
  call.peer = "rollout";
  call.caller = &starter;
  call.database = member.database;
  call.rollout_id = rollout.rollout_id;
  const std::string request_id = absl::StrCat("rollout:", rollout.rollout_id, ":", member.database);
  call.request_id = request_id;
  AuditOf audit_of = AuditInDecision(auditor_, call, nullptr, &admission_);
  if (rollout.spec.purpose() == upgrade::v1::PURPOSE_CHECK) {
    upgrade::v1::CheckUpgradeRequest check;
    check.set_database(member.database);
    check.set_target_version(rollout.spec.target_version());
    check.set_request_id(request_id);
    return admission_.CheckUpgrade(check, starter, audit_of, rollout.rollout_id);
  }
  upgrade::v1::RequestUpgradeRequest order;
  order.set_database(member.database);
  order.set_target_version(rollout.spec.target_version());
  order.set_purpose(rollout.spec.purpose());
  order.set_notify_email(rollout.spec.notify_email());
  order.set_request_id(request_id);
  return admission_.RequestUpgrade(order, starter, audit_of, rollout.rollout_id);
}

absl::Status Rollouts::Drive(StoredRollout rollout) {
  static metrics::Family& paused = metrics::Default().Counter(
      "upshift_rollouts_paused_total", "Rollouts that paused themselves: a wave's failures passed its threshold");
  static metrics::Family& ordered = metrics::Default().Counter(
      "upshift_rollout_orders_total", "Databases a rollout ordered, or skipped (a rule refused them)", {"outcome"});
  LogScope scope(rollout.rollout_id, "");
  const absl::Time now = clock_.Now();
  // What became of the upgrades it ordered. Those waiting for their start (a maintenance window)
  // run nothing yet: they hold no place on their server.
  std::set<std::string> waiting_to_start;
  for (RolloutMember& m : rollout.members) {
    if (m.state != MemberState::kRunning) continue;
    UPSHIFT_ASSIGN_OR_RETURN(std::optional<StoredOrder> order, orders_.FindByUpgradeId(m.upgrade_id));
    if (order.has_value() && order->outcome == Outcome::kActive) {
      if (order->scheduled()) waiting_to_start.insert(m.database);
      continue;
    }
    if (!order.has_value()) {
      m.state = MemberState::kSkipped;
      m.note = "its upgrade is no longer on record";
      m.ended_at = now;
    } else {
      m.state = order->outcome == Outcome::kSucceeded ? MemberState::kSucceeded
                : order->outcome == Outcome::kFailed  ? MemberState::kFailed
                                                      : MemberState::kSkipped;
      if (order->outcome == Outcome::kCancelled) m.note = "its upgrade was cancelled";
      m.ended_at = order->finished_at;
    }
    UPSHIFT_RETURN_IF_ERROR(book_.SaveMember(rollout.rollout_id, m));
  }
  if (rollout.state != upgrade::v1::ROLLOUT_RUNNING) return absl::OkStatus();
  // The current wave's failures, against its threshold.
  int size = 0, failed = 0, ended = 0;
  for (const RolloutMember& m : rollout.members) {
    if (m.wave != rollout.wave) continue;
    ++size;
    if (m.state == MemberState::kFailed) ++failed;
    if (m.ended()) ++ended;
  }
  const int allowed = rollout.spec.max_failed_percent();
  if (failed > rollout.seen_failures && static_cast<int64_t>(failed) * 100 > static_cast<int64_t>(allowed) * size) {
    rollout.state = upgrade::v1::ROLLOUT_PAUSED;
    rollout.reason = absl::StrCat("paused by itself: wave ", rollout.wave + 1, ": ", failed, " of ", size,
                                  " failed (", failed * 100 / size, "%), above the ", allowed,
                                  "% allowed; ListFailureGroups with this rollout_id groups them by cause");
    rollout.updated_at = now;
    UPSHIFT_ASSIGN_OR_RETURN(bool saved, book_.AdvanceRollout(rollout, holder_));
    if (saved) {
      paused.Increment();
      LogWarning(absl::StrCat("rollout ", rollout.rollout_id, " ", rollout.reason));
    }
    return absl::OkStatus();
  }
  if (ended == size) {
    rollout.updated_at = now;
    rollout.seen_failures = 0;
    if (rollout.wave + 1 >= rollout.waves) {
      int ok = 0, bad = 0, skipped = 0;
      for (const RolloutMember& m : rollout.members) {
        ok += m.state == MemberState::kSucceeded;
        bad += m.state == MemberState::kFailed;
        skipped += m.state == MemberState::kSkipped;
      }
      rollout.state = upgrade::v1::ROLLOUT_DONE;
      rollout.reason = absl::StrCat("every wave ended: ", ok, " succeeded, ", bad, " failed, ", skipped, " skipped");
    } else {
      ++rollout.wave;
      rollout.next_wave_at = now + FromProto(rollout.spec.bake());
      rollout.reason = absl::StrCat("wave ", rollout.wave, " ended; wave ", rollout.wave + 1, " starts at ",
                                    absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", rollout.next_wave_at, absl::UTCTimeZone()));
    }
    UPSHIFT_ASSIGN_OR_RETURN(bool saved, book_.AdvanceRollout(rollout, holder_));
    if (saved) LogInfo(absl::StrCat("rollout ", rollout.rollout_id, ": ", rollout.reason));
    return absl::OkStatus();
  }
  if (now < rollout.next_wave_at) return absl::OkStatus();  // baking
  // Order the wave's databases that are left, within each server's copies limit.
  std::map<std::string, int> busy;
  for (const RolloutMember& m : rollout.members) {
    if (m.state == MemberState::kRunning && waiting_to_start.count(m.database) == 0) ++busy[m.server];
  }
  int placed = 0;
  for (RolloutMember& m : rollout.members) {
    if (m.wave != rollout.wave || m.state != MemberState::kLeft) continue;
    if (placed >= options_.orders_per_sweep) break;
    const int limit = copies_limit_ ? copies_limit_(m.server) : 0;
    if (limit > 0 && busy[m.server] >= limit) continue;
    LogScope on(rollout.rollout_id, m.database);
    absl::StatusOr<upgrade::v1::Upgrade> upgrade = Order(rollout, m);
    if (upgrade.ok()) {
      m.state = MemberState::kRunning;
      m.upgrade_id = upgrade->upgrade_id();
      m.ordered_at = now;
      if (upgrade->state() != upgrade::v1::STATE_SCHEDULED) ++busy[m.server];
      ++placed;
      ordered.Increment({"ordered"});
    } else if (absl::IsFailedPrecondition(upgrade.status()) || absl::IsNotFound(upgrade.status()) ||
               absl::IsInvalidArgument(upgrade.status()) || absl::IsAlreadyExists(upgrade.status()) ||
               absl::IsPermissionDenied(upgrade.status())) {
      m.state = MemberState::kSkipped;
      m.note = std::string(upgrade.status().message());
      m.ordered_at = m.ended_at = now;
      ordered.Increment({"skipped"});
      LogInfo(absl::StrCat("rollout ", rollout.rollout_id, " skips ", m.database, ": ", m.note));
    } else {
      // Down for now (a server, the platform database, the tenant's reads): the next sweep tries again.
      LogWarning(absl::StrCat("rollout ", rollout.rollout_id, " could not order ", m.database, " yet: ",
                              upgrade.status().message()));
      break;
    }
    UPSHIFT_RETURN_IF_ERROR(book_.SaveMember(rollout.rollout_id, m));
  }
  return absl::OkStatus();
}

void Rollouts::Export() {
  static metrics::Family& databases = metrics::Default().Gauge(
      "upshift_rollout_databases",
      "A rollout's databases by what became of them (left, running, succeeded, failed, skipped), for the newest "
      "rollouts",
      {"rollout", "state"});
  static metrics::Family& running = metrics::Default().Gauge(
      "upshift_rollout_state", "1 for a rollout's current state (running, paused, cancelled, done)",
      {"rollout", "state"});
  absl::StatusOr<std::vector<StoredRollout>> newest = book_.ListRollouts(20);
  if (!newest.ok()) return;
  for (const StoredRollout& r : *newest) {
    std::map<MemberState, int> counts;
    for (MemberState s : {MemberState::kLeft, MemberState::kRunning, MemberState::kSucceeded, MemberState::kFailed,
                          MemberState::kSkipped}) {
      counts[s] = 0;
    }
    for (const RolloutMember& m : r.members) ++counts[m.state];
    for (const auto& [state, n] : counts) databases.Set({r.rollout_id, MemberStateName(state)}, n);
    for (auto [state, name] : std::vector<std::pair<RolloutState, const char*>>{
             {upgrade::v1::ROLLOUT_RUNNING, "running"},
             {upgrade::v1::ROLLOUT_PAUSED, "paused"},
             {upgrade::v1::ROLLOUT_CANCELLED, "cancelled"},
             {upgrade::v1::ROLLOUT_DONE, "done"}}) {
      running.Set({r.rollout_id, name}, r.state == state ? 1 : 0);
    }
  }
}

}  // namespace upshift::request
