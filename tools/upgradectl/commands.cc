#include "tools/upgradectl/commands.h"

#include <cstdio>
#include <functional>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/common/grpc_util.h"
#include "libs/common/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tools/upgradectl/printers.h"
#include "upgrade/v1/audit.grpc.pb.h"
#include "upgrade/v1/upgrade.grpc.pb.h"

namespace upshift::ctl {
namespace {

using namespace upgrade::v1;
using Operands = std::vector<std::string>;

void Print(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

int Report(const grpc::Status& status) {
  std::cerr << "upgradectl: " << FromGrpcStatus(status).ToString() << "\n";
  bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  return unreachable ? kUnreachable : kRefused;
}

// A call's context, with its deadline.
std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return ctx;
}

// Asks `list` for every page of `req` (page size 1000), handing each answer to `print`: 0, or the
// exit code of the first call that failed.
template <typename Request, typename Response>
int EveryPage(Request req, absl::Duration timeout,
              const std::function<grpc::Status(grpc::ClientContext*, const Request&, Response*)>& list,
              const std::function<void(const Response&)>& print) {
  req.set_page_size(1000);
  do {
    Response resp;
    grpc::Status s = list(Context(timeout).get(), req, &resp);
    if (!s.ok()) return Report(s);
    print(resp);
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  return 0;
}

// One watch of an upgrade: prints each change until the stream ends (see Watch).
grpc::Status WatchOnce(StatusService::Stub& stub, const std::string& upgrade_id, absl::Duration timeout, Upgrade* last,
                       std::string& last_line) {
  WatchUpgradeRequest req;
  req.set_upgrade_id(upgrade_id);
  auto ctx = Context(timeout);
  std::unique_ptr<grpc::ClientReader<Upgrade>> reader = stub.WatchUpgrade(ctx.get(), req);
  Upgrade u;
  while (reader->Read(&u)) {
    std::string line = FormatWatchLine(u);
    if (line == last_line) continue;  // a heartbeat: nothing to show
    Print(line);
    last_line = std::move(line);
    *last = u;
  }
  return reader->Finish();
}

// Prints each change of an upgrade until it ends; `last` is the final Upgrade seen. A stream the
// server ends UNAVAILABLE (a connection asked to move on, a replica going away) is watched again
// until the upgrade ends or `timeout` passes: the first message of a watch is the current state.
grpc::Status Watch(StatusService::Stub& stub, const std::string& upgrade_id, absl::Duration timeout, Upgrade* last) {
  const absl::Time until = absl::Now() + timeout;
  std::string last_line;
  for (;;) {
    grpc::Status s = WatchOnce(stub, upgrade_id, until - absl::Now(), last, last_line);
    const State state = last->state();
    const bool ended = state == STATE_SUCCEEDED || state == STATE_FAILED || state == STATE_ROLLED_BACK ||
                       state == STATE_CANCELLED;
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE || ended || absl::Now() >= until) return s;
    absl::SleepFor(absl::Seconds(1));
  }
}

// grpc.health.v1 Check of `service` ("": the whole server) at `address`: prints the answer and
// returns 0 when SERVING, kUnreachable otherwise.
int CheckHealth(const Clients& clients, const std::string& address, const std::string& service,
                absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(clients.Dial(address));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(Context(timeout).get(), req, &resp);
  const std::string what = service.empty() ? address : absl::StrCat(address, " ", service);
  if (!s.ok()) {
    std::printf("%-24s %s\n", what.c_str(), FromGrpcStatus(s).ToString().c_str());
    return kUnreachable;
  }
  std::printf("%-24s %s\n", what.c_str(), grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : kUnreachable;
}

int RequestCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  RequestUpgradeRequest req;
  req.set_database(o[0]);
  req.set_target_version(o[1]);
  req.set_notify_email(settings.email);
  req.set_request_id(settings.request_id);
  if (settings.purpose == "test") {
    req.set_purpose(PURPOSE_TEST);
  } else if (settings.purpose == "production") {
    req.set_purpose(PURPOSE_PRODUCTION);
  } else {
    std::cerr << "usage: upgradectl request ... --purpose=test|production\n";
    return kUsage;
  }
  if (settings.max_offline != absl::ZeroDuration()) ToProto(settings.max_offline, req.mutable_max_offline());
  if (!settings.not_before.empty()) {
    absl::Time at;
    std::string why;
    if (!absl::ParseTime(absl::RFC3339_full, settings.not_before, &at, &why)) {
      std::cerr << "upgradectl request: --not_before=" << settings.not_before << " is not an RFC 3339 time (" << why
                << ")\n";
      return kUsage;
    }
    ToProto(at, req.mutable_not_before());
  }
  RequestUpgradeResponse resp;
  grpc::Status s = UpgradeService::NewStub(clients.Request())->RequestUpgrade(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(FormatUpgrade(resp.upgrade()));
  return 0;
}

int CheckCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  CheckUpgradeRequest req;
  req.set_database(o[0]);
  req.set_target_version(o[1]);
  req.set_request_id(settings.request_id);
  CheckUpgradeResponse resp;
  grpc::Status s = UpgradeService::NewStub(clients.Request())->CheckUpgrade(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(absl::StrCat("checking ", resp.upgrade().database(), " -> ", resp.upgrade().target_version(),
                     " on a throwaway copy (check ", resp.upgrade().upgrade_id(), ")\n"));
  Upgrade last;
  s = Watch(*StatusService::NewStub(clients.Status()), resp.upgrade().upgrade_id(), settings.timeout * 100, &last);
  if (!s.ok()) return Report(s);
  Print("\n" + FormatUpgrade(last));
  return last.state() == STATE_SUCCEEDED ? 0 : kUpgradeFailed;
}

int ServersCommand(const Operands&, const Settings& settings, const Clients& clients) {
  ListServersResponse resp;
  grpc::Status s =
      UpgradeService::NewStub(clients.Request())->ListServers(Context(settings.timeout).get(), ListServersRequest(), &resp);
  if (!s.ok()) return Report(s);
  std::string out = ServerHeader();
  for (const HostingServerStatus& server : resp.servers()) out += FormatServerRow(server);
  Print(out);
  return 0;
}

int OptionsCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  GetUpgradeOptionsRequest req;
  req.set_database(o[0]);
  GetUpgradeOptionsResponse resp;
  grpc::Status s =
      UpgradeService::NewStub(clients.Request())->GetUpgradeOptions(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(FormatOptions(resp));
  return 0;
}

int ListCommand(const Operands&, const Settings& settings, const Clients& clients) {
  Print(DatabaseHeader());
  auto stub = StatusService::NewStub(clients.Status());
  ListDatabasesRequest first;
  first.set_server(settings.server);
  return EveryPage<ListDatabasesRequest, ListDatabasesResponse>(
      first, settings.timeout, [&](auto* ctx, const auto& req, auto* resp) { return stub->ListDatabases(ctx, req, resp); },
      [](const ListDatabasesResponse& resp) {
        for (const Database& db : resp.databases()) {
          std::string rows = FormatDatabaseRow(db, false);
          for (const Database& copy : db.test_copies()) rows += FormatDatabaseRow(copy, true);
          for (const Database& rp : db.restore_points()) rows += FormatDatabaseRow(rp, true);
          Print(rows);
        }
      });
}

int ShowCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  GetUpgradeRequest req;
  req.set_upgrade_id(o[0]);
  Upgrade resp;
  grpc::Status s = StatusService::NewStub(clients.Status())->GetUpgrade(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(FormatUpgrade(resp));
  return 0;
}

int WatchCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  Upgrade last;
  grpc::Status s = Watch(*StatusService::NewStub(clients.Status()), o[0], settings.timeout * 100, &last);
  if (!s.ok()) return Report(s);
  return last.state() == STATE_SUCCEEDED ? 0 : kUpgradeFailed;
}

int CancelCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  CancelUpgradeRequest req;
  req.set_upgrade_id(o[0]);
  CancelUpgradeResponse resp;
  grpc::Status s = UpgradeService::NewStub(clients.Request())->CancelUpgrade(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(absl::StrCat("cancelling upgrade ", resp.upgrade().upgrade_id(), " of ", resp.upgrade().database(),
                     " (follow it with: upgradectl watch ", resp.upgrade().upgrade_id(), ")\n"));
  return 0;
}

// Asks request first without the confirmation: its refusal says what the revert loses, since when.
// The operator confirms by typing "revert" (or --yes), then it is ordered.
int RevertCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  RevertUpgradeRequest req;
  req.set_upgrade_id(o[0]);
  req.set_request_id(settings.request_id);
  RevertUpgradeResponse resp;
  auto stub = UpgradeService::NewStub(clients.Request());
  grpc::Status s = stub->RevertUpgrade(Context(settings.timeout).get(), req, &resp);
  if (s.error_code() != grpc::StatusCode::FAILED_PRECONDITION ||
      s.error_message().find("confirm_data_loss") == std::string::npos) {
    return Report(s.ok() ? grpc::Status(grpc::StatusCode::INTERNAL, "reverted without a confirmation") : s);
  }
  std::cerr << s.error_message() << "\n";
  if (!settings.yes) {
    std::cerr << "Type \"revert\" to revert and lose those writes: ";
    std::string answer;
    if (!std::getline(std::cin, answer) || answer != "revert") {
      std::cerr << "not reverted\n";
      return kUsage;
    }
  }
  req.set_confirm_data_loss(true);
  s = stub->RevertUpgrade(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(absl::StrCat("reverting ", resp.upgrade().database(), " to ", resp.upgrade().target_version(), ": upgrade ",
                     resp.upgrade().upgrade_id(), " (follow it with: upgradectl watch ", resp.upgrade().upgrade_id(),
                     ")\n"));
  return 0;
}

int ExtendCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  ExtendTestCopyRequest req;
  req.set_database(o[0]);
  ExtendTestCopyResponse resp;
  grpc::Status s = UpgradeService::NewStub(clients.Request())->ExtendTestCopy(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(absl::StrCat("test copy ", resp.database(), " now expires ", When(resp.expires_at()), "\n"));
  return 0;
}

int UpgradesCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  auto stub = StatusService::NewStub(clients.Status());
  ListUpgradesRequest req;
  req.set_database(o[0]);
  return EveryPage<ListUpgradesRequest, ListUpgradesResponse>(
      req, settings.timeout, [&](auto* ctx, const auto& r, auto* resp) { return stub->ListUpgrades(ctx, r, resp); },
      [](const ListUpgradesResponse& resp) {
        for (const Upgrade& u : resp.upgrades()) Print(FormatUpgradeRow(u));
      });
}

int AuditCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  auto stub = AuditService::NewStub(clients.Request());
  ListAuditRecordsRequest req;
  if (!o.empty()) req.set_database(o[0]);
  req.set_tenant(settings.tenant);
  Print(AuditHeader());
  return EveryPage<ListAuditRecordsRequest, ListAuditRecordsResponse>(  // newest first
      req, settings.timeout, [&](auto* ctx, const auto& r, auto* resp) { return stub->ListAuditRecords(ctx, r, resp); },
      [](const ListAuditRecordsResponse& resp) {
        for (const AuditRecord& r : resp.records()) Print(FormatAuditRow(r));
      });
}

int BacklogCommand(const Operands&, const Settings& settings, const Clients& clients) {
  GetBacklogResponse resp;
  grpc::Status s =
      StatusService::NewStub(clients.Status())->GetBacklog(Context(settings.timeout).get(), GetBacklogRequest(), &resp);
  if (!s.ok()) return Report(s);
  Print(FormatBacklog(resp));
  return 0;
}

int FailuresCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  ListFailureGroupsRequest req;
  if (!o.empty()) req.set_target_version(o[0]);
  req.set_rollout_id(settings.rollout_id);
  ListFailureGroupsResponse resp;
  grpc::Status s =
      StatusService::NewStub(clients.Status())->ListFailureGroups(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(FormatFailureGroups(resp));
  return 0;
}

// DATABASE, or "-" for the tenant's own window (an operator adds --tenant).
void NameWindow(const std::string& database, const Settings& settings, std::string* db, std::string* tenant) {
  if (database != "-") *db = database;
  if (database == "-") *tenant = settings.tenant;
}

int WindowCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  GetMaintenanceWindowRequest req;
  NameWindow(o.empty() ? "-" : o[0], settings, req.mutable_database(), req.mutable_tenant());
  GetMaintenanceWindowResponse resp;
  grpc::Status s = UpgradeService::NewStub(clients.Request())->GetMaintenanceWindow(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  Print(FormatWindow(resp));
  return 0;
}

int SetWindowCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  if (o.size() != 1 && o.size() != 5) {
    std::cerr << "usage: upgradectl set-window DATABASE|- [WEEKDAYS START LENGTH TIME_ZONE]\n";
    return kUsage;
  }
  SetMaintenanceWindowRequest req;
  NameWindow(o[0], settings, req.mutable_database(), req.mutable_tenant());
  if (o.size() == 5) {
    MaintenanceWindow* w = req.mutable_window();
    for (absl::string_view day : absl::StrSplit(o[1], ',')) {
      int d = 0;
      if (!absl::SimpleAtoi(day, &d)) {
        std::cerr << "upgradectl set-window: WEEKDAYS are numbers, 1 Monday to 7 Sunday, e.g. 6,7\n";
        return kUsage;
      }
      w->add_weekdays(d);
    }
    w->set_start(o[2]);
    absl::Duration length;
    if (!absl::ParseDuration(o[3], &length)) {
      std::cerr << "upgradectl set-window: LENGTH is a duration, e.g. 4h\n";
      return kUsage;
    }
    ToProto(length, w->mutable_length());
    w->set_time_zone(o[4]);
  }
  SetMaintenanceWindowResponse resp;
  grpc::Status s = UpgradeService::NewStub(clients.Request())->SetMaintenanceWindow(Context(settings.timeout).get(), req, &resp);
  if (!s.ok()) return Report(s);
  GetMaintenanceWindowResponse shown;
  if (resp.has_window()) {
    *shown.mutable_window() = resp.window();
    shown.set_set_on(o[0] == "-" ? "tenant" : "database");
    *shown.mutable_next_opening() = resp.next_opening();
  }
  Print(FormatWindow(shown));
  return 0;
}

// "10,25%" -> waves of 10 databases, then 25%. False for a malformed size.
bool ParseWaves(const std::string& text, StartRolloutRequest* req) {
  if (text.empty()) return true;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int n = 0;
    const bool percent = absl::ConsumeSuffix(&part, "%");
    if (!absl::SimpleAtoi(part, &n)) return false;
    if (percent) {
      req->add_waves()->set_percent(n);
    } else {
      req->add_waves()->set_databases(n);
    }
  }
  return true;
}

void AddEach(const std::string& list, google::protobuf::RepeatedPtrField<std::string>* to) {
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipEmpty())) to->Add(std::string(item));
}

int RolloutCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  auto stub = RolloutService::NewStub(clients.Request());
  const std::string& action = o[0];
  auto usage = [] {
    std::cerr << "usage: upgradectl rollout start TARGET_VERSION --email=ADDRESS [--purpose=check|test|production] "
                 "[--from=V,..] [--tenant=T,..] [--server=S,..] [--waves=10,25%,..] [--bake=1h] "
                 "[--max_failed_percent=N] [--request_id=KEY]\n"
                 "       upgradectl rollout list | show ID | pause ID | resume ID | cancel ID\n";
    return kUsage;
  };
  if (action == "list") {
    if (o.size() != 1) return usage();
    ListRolloutsResponse resp;
    grpc::Status s = stub->ListRollouts(Context(settings.timeout).get(), ListRolloutsRequest(), &resp);
    if (!s.ok()) return Report(s);
    for (const Rollout& r : resp.rollouts()) Print(FormatRolloutRow(r));
    return 0;
  }
  if (o.size() != 2) return usage();
  Rollout rollout;
  grpc::Status s;
  if (action == "start") {
    StartRolloutRequest req;
    req.set_target_version(o[1]);
    req.set_purpose(settings.purpose == "production" ? PURPOSE_PRODUCTION
                    : settings.purpose == "check"    ? PURPOSE_CHECK
                    : settings.purpose == "test"     ? PURPOSE_TEST
                                                     : PURPOSE_UNSPECIFIED);
    AddEach(settings.from_versions, req.mutable_selector()->mutable_from_versions());
    AddEach(settings.tenant, req.mutable_selector()->mutable_tenants());
    AddEach(settings.server, req.mutable_selector()->mutable_servers());
    if (!ParseWaves(settings.waves, &req)) {
      std::cerr << "upgradectl rollout start: --waves is sizes or shares, e.g. 10,25%,100%\n";
      return kUsage;
    }
    ToProto(settings.bake, req.mutable_bake());
    req.set_max_failed_percent(settings.max_failed_percent);
    req.set_notify_email(settings.email);
    req.set_request_id(settings.request_id);
    s = stub->StartRollout(Context(settings.timeout * 6).get(), req, &rollout);
  } else if (action == "show") {
    GetRolloutRequest req;
    req.set_rollout_id(o[1]);
    s = stub->GetRollout(Context(settings.timeout).get(), req, &rollout);
  } else if (action == "pause" || action == "resume" || action == "cancel") {
    RolloutActionRequest req;
    req.set_rollout_id(o[1]);
    auto ctx = Context(settings.timeout);
    s = action == "pause"    ? stub->PauseRollout(ctx.get(), req, &rollout)
        : action == "resume" ? stub->ResumeRollout(ctx.get(), req, &rollout)
                             : stub->CancelRollout(ctx.get(), req, &rollout);
  } else {
    return usage();
  }
  if (!s.ok()) return Report(s);
  Print(FormatRollout(rollout));
  return 0;
}

int HealthCommand(const Operands&, const Settings& settings, const Clients& clients) {
  int result = 0;
  for (const std::string& addr : {settings.request_addr, settings.status_addr}) {
    if (CheckHealth(clients, addr, "", settings.timeout) != 0) result = kUnreachable;
  }
  return result;
}

int ProbeCommand(const Operands& o, const Settings& settings, const Clients& clients) {
  return CheckHealth(clients, o[0], o.size() == 2 ? o[1] : "", settings.timeout);
}

}  // namespace

std::shared_ptr<grpc::Channel> Clients::Dial(const std::string& address) const {
  grpc::ChannelArguments args;
  if (!settings_.tls_server_name.empty()) args.SetSslTargetNameOverride(settings_.tls_server_name);
  return grpc::CreateCustomChannel(address, credentials_, args);
}

const std::vector<Command>& Commands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      {"request", "DATABASE TARGET_VERSION --email=ADDRESS [--purpose=test|production [--max_offline=DURATION]] [--not_before=TIME] [--request_id=KEY]",
       "order a Test (or Production) upgrade", 2, 2, RequestCommand},
      {"check", "DATABASE TARGET_VERSION",
       "dry run on a throwaway copy; prints every check (exit 4: findings)", 2, 2, CheckCommand},
      {"options", "DATABASE", "what the database can be upgraded to now", 1, 1, OptionsCommand},
      {"servers", "", "the hosting servers: answering, copies and plans running against their limits (operators)", 0, 0,
       ServersCommand},
      {"list", "", "databases with their hosting server, test copies nested under their main database (--server: one server's)", 0, 0, ListCommand},
      {"show", "UPGRADE_ID", "one upgrade", 1, 1, ShowCommand},
      {"watch", "UPGRADE_ID", "follow an upgrade until it ends (exit 0: succeeded, 4: failed)", 1, 1, WatchCommand},
      {"cancel", "UPGRADE_ID", "stop an upgrade (Production: until its in-place migration starts)", 1, 1,
       CancelCommand},
      {"extend", "TEST_COPY", "keep a test copy longer", 1, 1, ExtendCommand},
      {"revert", "UPGRADE_ID [--yes]",
       "take a database back to the restore point of its latest Production upgrade; says what is lost and asks first",
       1, 1, RevertCommand},
      {"upgrades", "DATABASE", "a database's upgrades, newest first", 1, 1, UpgradesCommand},
      {"audit", "[DATABASE] [--tenant=T]", "the audit trail of mutating calls, newest first (operators)", 0, 1,
       AuditCommand},
      {"backlog", "", "upgrades waiting for and in flight at each worker group (operators)", 0, 0, BacklogCommand},
      {"failures", "[TARGET_VERSION] [--rollout=ID]",
       "failed and rolled-back upgrades of the last 7 days, grouped by where and why they failed (operators)", 0, 1,
       FailuresCommand},
      {"rollout", "start TARGET_VERSION [--purpose=P --from=V,.. --tenant=T,.. --server=S,.. --waves=10,25%,.. --bake=D --max_failed_percent=N] | list | show|pause|resume|cancel ID",
       "upgrade a fleet in waves that pause themselves when a wave's failures pass the threshold (operators)", 1, 2,
       RolloutCommand},
      {"window", "[DATABASE|-] [--tenant=T]",
       "the maintenance window a database's Production upgrades go to (-: the tenant's own)", 0, 1, WindowCommand},
      {"set-window", "DATABASE|- [WEEKDAYS START LENGTH TIME_ZONE] [--tenant=T]",
       "set a maintenance window, e.g. 6,7 02:00 4h Europe/Brussels (1 Monday to 7 Sunday); without one: remove it",
       1, 5, SetWindowCommand},
      {"health", "", "health of the request and status services (exit 0: both serving)", 0, 0, HealthCommand},
      {"probe", "ADDRESS [SERVICE]", "health of one server, or of one of its services (exit 0: serving)", 1, 2,
       ProbeCommand},
  };
  return *commands;
}

namespace {

std::string Synopsis(const Command& c) { return c.operands.empty() ? c.name : absl::StrCat(c.name, " ", c.operands); }

}  // namespace

std::string UsageText() {
  std::string out = "upgradectl COMMAND [ARGS] [--request_addr=H:P] [--status_addr=H:P]\n";
  for (const Command& c : Commands()) absl::StrAppend(&out, "  ", Synopsis(c), "\n      ", c.summary, "\n");
  absl::StrAppend(&out,
                  "Exit codes: 0 done, 1 the server refused the call, 2 usage, 3 the server could not be reached "
                  "or did not answer in time, 4 the upgrade (or the check) failed.");
  return out;
}

int Run(const std::vector<std::string>& args, const Settings& settings,
        std::shared_ptr<grpc::ChannelCredentials> credentials, const std::string& credentials_error) {
  if (args.size() < 2) {
    std::cerr << UsageText() << "\n";
    return kUsage;
  }
  const Command* command = nullptr;
  for (const Command& c : Commands()) {
    if (c.name == args[1]) command = &c;
  }
  if (command == nullptr) {
    std::cerr << "upgradectl: unknown command \"" << args[1] << "\"\n" << UsageText() << "\n";
    return kUsage;
  }
  const Operands operands(args.begin() + 2, args.end());
  if (operands.size() < command->min_operands || operands.size() > command->max_operands) {
    std::cerr << "usage: upgradectl " << Synopsis(*command) << "\n";
    return kUsage;
  }
  if (credentials == nullptr) {
    std::cerr << "upgradectl: " << credentials_error << "\n";
    return kUsage;
  }
  return command->run(operands, settings, Clients(settings, std::move(credentials)));
}

}  // namespace upshift::ctl
