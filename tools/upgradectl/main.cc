// upgradectl: the command-line client of Upshift's gRPC API.
//
//   upgradectl request DATABASE TARGET_VERSION --email=ADDRESS [--purpose=test|production] [--request_id=KEY]
//   upgradectl check DATABASE TARGET_VERSION
//   upgradectl options DATABASE
//   upgradectl list
//   upgradectl show UPGRADE_ID
//   upgradectl watch UPGRADE_ID
//   upgradectl cancel UPGRADE_ID
//   upgradectl extend TEST_COPY
//   upgradectl upgrades DATABASE
//   upgradectl audit [DATABASE] [--tenant=TENANT]   (operators)
//   upgradectl backlog                              (operators)
//   upgradectl health
//   upgradectl probe ADDRESS [SERVICE]                (Kubernetes readiness)
//
// Exit codes: 0 done (watch: the upgrade succeeded), 1 the server refused the call, 2 usage,
// 3 the server could not be reached or did not answer in time, 4 (watch) the upgrade failed
// (check: the check found problems).

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "libs/common/env_flags.h"
#include "libs/common/grpc_util.h"
#include "libs/common/time.h"
#include "libs/common/tls_flags.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "upgrade/v1/audit.grpc.pb.h"
#include "upgrade/v1/upgrade.grpc.pb.h"

ABSL_FLAG(std::string, request_addr, "127.0.0.1:50051", "Address of the request service (UpgradeService)");
ABSL_FLAG(std::string, status_addr, "127.0.0.1:50052", "Address of the status service (StatusService)");
ABSL_FLAG(std::string, token, "", "Bearer token of every call (better: the UPSHIFT_TOKEN environment variable)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each call (watch: of the whole watch x 100)");
ABSL_FLAG(std::string, email, "", "request: where to send notifications");
ABSL_FLAG(std::string, purpose, "test", "request: test or production");
ABSL_FLAG(std::string, tenant, "", "audit: only the records of this tenant");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the servers' certificates must carry (default: the address's host); for a probe dialing 127.0.0.1");
ABSL_FLAG(std::string, request_id, "", "request, check: idempotency key (a repeated key returns the first order)");

namespace upshift::ctl {
namespace {

using namespace upgrade::v1;

constexpr int kRefused = 1, kUsage = 2, kUnreachable = 3, kUpgradeFailed = 4;

// A channel to `address`, its server's certificate checked for --tls_server_name when set.
std::shared_ptr<grpc::Channel> Dial(const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  grpc::ChannelArguments args;
  if (!absl::GetFlag(FLAGS_tls_server_name).empty()) args.SetSslTargetNameOverride(absl::GetFlag(FLAGS_tls_server_name));
  return grpc::CreateCustomChannel(address, creds, args);
}

// grpc.health.v1 Check of `service` ("": the whole server) at `address`: prints the answer and
// returns 0 when SERVING, kUnreachable otherwise.
int CheckHealth(const std::string& address, const std::string& service,
                const std::shared_ptr<grpc::ChannelCredentials>& creds, absl::Duration timeout);

int Report(const grpc::Status& status) {
  std::cerr << "upgradectl: " << FromGrpcStatus(status).ToString() << "\n";
  bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  return unreachable ? kUnreachable : kRefused;
}

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
}

std::string TagName(int tag) {
  switch (tag) {
    case TAG_UPGRADE_IN_PROGRESS:
      return "Upgrade in progress";
    case TAG_UPGRADE_FAILED:
      return "Upgrade failed";
    case TAG_TEST_COPY:
      return "Test copy";
    case TAG_OFFLINE:
      return "Offline";
    case TAG_RESTORE_POINT:
      return "Restore point";
    case TAG_CHECK_COPY:
      return "Check copy";
    default:
      return Tag_Name(static_cast<Tag>(tag));
  }
}

std::string When(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", FromProto(ts), absl::UTCTimeZone());
}

void PrintUpgrade(const Upgrade& u) {
  std::printf("upgrade   %s\n", u.upgrade_id().c_str());
  std::printf("database  %s\n", u.database().c_str());
  if (!u.tenant().empty()) std::printf("tenant    %s\n", u.tenant().c_str());
  std::printf("purpose   %s\n", Purpose_Name(u.purpose()).c_str());
  std::printf("versions  %s -> %s\n", u.from_version().c_str(), u.target_version().c_str());
  std::printf("state     %s\n", State_Name(u.state()).c_str());
  if (!u.test_database().empty()) std::printf("copy      %s\n", u.test_database().c_str());
  if (!u.restore_point().empty()) std::printf("restore   %s\n", u.restore_point().c_str());
  std::printf("created   %s\n", When(u.created_at()).c_str());
  std::printf("finished  %s\n", When(u.finished_at()).c_str());
  if (!u.current_step().empty()) std::printf("progress  %d%% (%s)\n", u.progress_percent(), u.current_step().c_str());
  if (u.stalled()) std::printf("STALLED   no worker reported since %s\n", When(u.last_activity_at()).c_str());
  if (u.cancellable()) std::printf("cancel    possible (upgradectl cancel %s)\n", u.upgrade_id().c_str());
  if (u.has_estimated_downtime()) {
    std::printf("downtime  estimated %s", absl::FormatDuration(absl::Trunc(FromProto(u.estimated_downtime()), absl::Milliseconds(100))).c_str());
    if (u.has_offline_at() && u.has_online_at()) {
      std::printf(", offline %s", absl::FormatDuration(absl::Trunc(FromProto(u.online_at()) - FromProto(u.offline_at()), absl::Milliseconds(100))).c_str());
    } else if (u.has_estimated_remaining()) {
      std::printf(", about %s left", absl::FormatDuration(absl::Trunc(FromProto(u.estimated_remaining()), absl::Seconds(1))).c_str());
    }
    std::printf("\n");
  }
  if (!u.error().empty()) std::printf("error     %s\n", u.error().c_str());
  if (u.report().ByteSizeLong() > 0) {
    const IntegrityReport& r = u.report();
    std::printf("report    %s\n", r.tables_size() > 0 ? "table: rows before -> after" : "what ran and was checked");
    for (const TableReport& t : r.tables()) {
      std::printf("          %s: %lld -> %lld%s\n", t.table().c_str(), static_cast<long long>(t.rows_before()),
                  static_cast<long long>(t.rows_after()),
                  t.declared_unchanged() ? (t.content_unchanged() ? "  (declared unchanged: identical)" : "  (CHANGED)")
                                         : "");
    }
    for (const std::string& c : r.constraints_validated()) std::printf("          constraint %s validated\n", c.c_str());
    for (const CheckReport& c : r.checks()) {
      std::printf("          %s %s: %s%s\n", c.kind().c_str(), c.name().c_str(), c.passed() ? "passed" : "FAILED, ",
                  c.detail().c_str());
    }
    for (const StepReport& s : r.steps()) {
      std::printf("          step %s/%s: %lld ms, %lld rows\n", s.hop().c_str(), s.step().c_str(),
                  static_cast<long long>(s.duration_ms()), static_cast<long long>(s.rows_affected()));
    }
  }
  if (u.source_rows_size() > 0) {
    std::printf("rows      table: source / copy\n");
    for (int i = 0; i < u.source_rows_size(); ++i) {
      long long copy = i < u.copy_rows_size() ? u.copy_rows(i).rows() : -1;
      std::printf("          %s: %lld / %lld\n", u.source_rows(i).table().c_str(),
                  static_cast<long long>(u.source_rows(i).rows()), copy);
    }
  }
}

// `nested` rows are indented under their main database.
void PrintDatabaseRow(const Database& db, bool nested) {
  std::vector<std::string> tags;
  for (int t : db.tags()) tags.push_back(TagName(t));
  if (db.has_expires_at()) tags.push_back(absl::StrCat("expires ", When(db.expires_at()).substr(0, 10)));
  std::printf("%s%-*s %-8s %-7s %s\n", nested ? "  └─ " : "", nested ? 39 : 44, db.name().c_str(), db.version().empty() ? "-" : db.version().c_str(),
              db.online() ? "yes" : "no", tags.empty() ? "" : absl::StrCat("[", absl::StrJoin(tags, "] ["), "]").c_str());
}

const char* PurposeWord(int purpose) {
  return purpose == PURPOSE_TEST ? "test" : purpose == PURPOSE_PRODUCTION ? "production" : "check";
}

// One watch of an upgrade: prints each change until the stream ends (see Watch).
grpc::Status WatchOnce(StatusService::Stub& stub, const std::string& upgrade_id, absl::Duration timeout, Upgrade* last,
                       std::string& last_line) {
  WatchUpgradeRequest req;
  req.set_upgrade_id(upgrade_id);
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  std::unique_ptr<grpc::ClientReader<Upgrade>> reader = stub.WatchUpgrade(&ctx, req);
  Upgrade u;
  while (reader->Read(&u)) {
    std::string detail = u.state() == STATE_MIGRATING && !u.current_step().empty()
                             ? absl::StrCat(u.progress_percent(), "% ", u.current_step(), " ")
                             : "";
    if (u.has_estimated_remaining() && u.estimated_remaining().seconds() > 0 && u.state() != STATE_SUCCEEDED) {
      absl::StrAppend(&detail, "about ", u.estimated_remaining().seconds(), " s left ");
    }
    if (u.stalled()) {
      absl::StrAppend(&detail, "STALLED: no worker reported since ", When(u.last_activity_at()), " ");
    }
    std::string line = absl::StrCat(When(u.updated_at()), "  ", absl::StrFormat("%-16s", State_Name(u.state())), " ",
                                    detail, u.test_database().empty() ? "" : absl::StrCat("copy ", u.test_database(), " "),
                                    u.error());
    if (line == last_line) continue;  // a heartbeat: nothing to show
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
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
    const bool final = state == STATE_SUCCEEDED || state == STATE_FAILED || state == STATE_ROLLED_BACK ||
                       state == STATE_CANCELLED;
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE || final || absl::Now() >= until) return s;
    absl::SleepFor(absl::Seconds(1));
  }
}

int CheckHealth(const std::string& address, const std::string& service,
                const std::shared_ptr<grpc::ChannelCredentials>& creds, absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(Dial(address, creds));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  grpc::Status s = stub->Check(&ctx, req, &resp);
  const std::string what = service.empty() ? address : absl::StrCat(address, " ", service);
  if (!s.ok()) {
    std::printf("%-24s %s\n", what.c_str(), FromGrpcStatus(s).ToString().c_str());
    return kUnreachable;
  }
  std::printf("%-24s %s\n", what.c_str(), grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : kUnreachable;
}

int Main(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    std::cerr << absl::ProgramUsageMessage() << "\n";
    return kUsage;
  }
  const std::string& command = args[1];
  absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  auto need = [&](size_t n) { return args.size() == n + 2; };
  auto usage = [&](const char* text) {
    std::cerr << "usage: upgradectl " << text << "\n";
    return kUsage;
  };
  // The servers' certificates are checked against --tls_ca (--insecure_plaintext: no TLS).
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = ChannelCredentialsFromFlags();
  if (!credentials.ok()) {
    std::cerr << "upgradectl: " << credentials.status().message() << "\n";
    return kUsage;
  }
  // Every call carries --token (UPSHIFT_TOKEN) as its bearer token.
  if (!absl::GetFlag(FLAGS_token).empty()) {
    *credentials = grpc::CompositeChannelCredentials(*credentials, grpc::AccessTokenCredentials(absl::GetFlag(FLAGS_token)));
  }
  auto request_stub = [&] {
    return UpgradeService::NewStub(Dial(absl::GetFlag(FLAGS_request_addr), *credentials));
  };
  auto status_stub = [&] {
    return StatusService::NewStub(Dial(absl::GetFlag(FLAGS_status_addr), *credentials));
  };

  if (command == "request") {
    if (!need(2)) return usage("request DATABASE TARGET_VERSION --email=ADDRESS [--purpose=test|production]");
    RequestUpgradeRequest req;
    req.set_database(args[2]);
    req.set_target_version(args[3]);
    req.set_notify_email(absl::GetFlag(FLAGS_email));
    req.set_request_id(absl::GetFlag(FLAGS_request_id));
    std::string purpose = absl::GetFlag(FLAGS_purpose);
    if (purpose == "test") {
      req.set_purpose(PURPOSE_TEST);
    } else if (purpose == "production") {
      req.set_purpose(PURPOSE_PRODUCTION);
    } else {
      return usage("request ... --purpose=test|production");
    }
    RequestUpgradeResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    grpc::Status s = request_stub()->RequestUpgrade(&ctx, req, &resp);
    if (!s.ok()) return Report(s);
    PrintUpgrade(resp.upgrade());
    return 0;
  }
  if (command == "options") {
    if (!need(1)) return usage("options DATABASE");
    GetUpgradeOptionsRequest req;
    req.set_database(args[2]);
    GetUpgradeOptionsResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    grpc::Status s = request_stub()->GetUpgradeOptions(&ctx, req, &resp);
    if (!s.ok()) return Report(s);
    std::printf("database %s at version %s\n", resp.database().c_str(), resp.version().c_str());
    if (!resp.active_upgrade_id().empty()) std::printf("upgrade %s is in progress\n", resp.active_upgrade_id().c_str());
    for (const TargetOption& o : resp.options()) {
      std::vector<std::string> purposes;
      for (int p : o.purposes()) purposes.push_back(PurposeWord(p));
      std::printf("  -> %-8s %s\n", o.version().c_str(),
                  purposes.empty() ? "(nothing can be ordered now)" : absl::StrJoin(purposes, ", ").c_str());
    }
    return 0;
  }
  if (command == "list") {
    if (!need(0)) return usage("list");
    std::printf("%-44s %-8s %-7s %s\n", "DATABASE", "VERSION", "ONLINE", "TAGS");
    ListDatabasesRequest req;
    req.set_page_size(1000);
    do {  // every page
      ListDatabasesResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(ctx, timeout);
      grpc::Status s = status_stub()->ListDatabases(&ctx, req, &resp);
      if (!s.ok()) return Report(s);
      for (const Database& db : resp.databases()) {
        PrintDatabaseRow(db, false);
        for (const Database& copy : db.test_copies()) PrintDatabaseRow(copy, true);
        for (const Database& rp : db.restore_points()) PrintDatabaseRow(rp, true);
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return 0;
  }
  if (command == "show") {
    if (!need(1)) return usage("show UPGRADE_ID");
    GetUpgradeRequest req;
    req.set_upgrade_id(args[2]);
    Upgrade resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    grpc::Status s = status_stub()->GetUpgrade(&ctx, req, &resp);
    if (!s.ok()) return Report(s);
    PrintUpgrade(resp);
    return 0;
  }
  if (command == "watch") {
    if (!need(1)) return usage("watch UPGRADE_ID");
    Upgrade last;
    grpc::Status s = Watch(*status_stub(), args[2], timeout * 100, &last);
    if (!s.ok()) return Report(s);
    return last.state() == STATE_SUCCEEDED ? 0 : kUpgradeFailed;
  }
  if (command == "check") {
    if (!need(2)) return usage("check DATABASE TARGET_VERSION");
    CheckUpgradeRequest req;
    req.set_database(args[2]);
    req.set_target_version(args[3]);
    req.set_request_id(absl::GetFlag(FLAGS_request_id));
    CheckUpgradeResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    grpc::Status s = request_stub()->CheckUpgrade(&ctx, req, &resp);
    if (!s.ok()) return Report(s);
    std::printf("checking %s -> %s on a throwaway copy (check %s)\n", resp.upgrade().database().c_str(),
                resp.upgrade().target_version().c_str(), resp.upgrade().upgrade_id().c_str());
    Upgrade last;
    s = Watch(*status_stub(), resp.upgrade().upgrade_id(), timeout * 100, &last);
    if (!s.ok()) return Report(s);
    std::printf("\n");
    PrintUpgrade(last);
    return last.state() == STATE_SUCCEEDED ? 0 : kUpgradeFailed;
  }
  if (command == "upgrades") {
    if (!need(1)) return usage("upgrades DATABASE");
    ListUpgradesRequest req;
    req.set_database(args[2]);
    req.set_page_size(1000);
    do {  // every page
      ListUpgradesResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(ctx, timeout);
      grpc::Status s = status_stub()->ListUpgrades(&ctx, req, &resp);
      if (!s.ok()) return Report(s);
      for (const Upgrade& u : resp.upgrades()) {
        std::printf("%s  %-10s %s -> %-6s %-16s %s\n", u.upgrade_id().c_str(), Purpose_Name(u.purpose()).c_str() + 8,
                    u.from_version().c_str(), u.target_version().c_str(), State_Name(u.state()).c_str(),
                    When(u.created_at()).c_str());
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return 0;
  }
  if (command == "cancel") {
    if (!need(1)) return usage("cancel UPGRADE_ID");
    CancelUpgradeRequest req;
    req.set_upgrade_id(args[2]);
    CancelUpgradeResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    grpc::Status s = request_stub()->CancelUpgrade(&ctx, req, &resp);
    if (!s.ok()) return Report(s);
    std::printf("cancelling upgrade %s of %s (follow it with: upgradectl watch %s)\n", resp.upgrade().upgrade_id().c_str(),
                resp.upgrade().database().c_str(), resp.upgrade().upgrade_id().c_str());
    return 0;
  }
  if (command == "extend") {
    if (!need(1)) return usage("extend TEST_COPY");
    ExtendTestCopyRequest req;
    req.set_database(args[2]);
    ExtendTestCopyResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    grpc::Status s = request_stub()->ExtendTestCopy(&ctx, req, &resp);
    if (!s.ok()) return Report(s);
    std::printf("test copy %s now expires %s\n", resp.database().c_str(), When(resp.expires_at()).c_str());
    return 0;
  }
  if (command == "audit") {
    if (!need(0) && !need(1)) return usage("audit [DATABASE] [--tenant=TENANT]");
    auto stub = AuditService::NewStub(Dial(absl::GetFlag(FLAGS_request_addr), *credentials));
    ListAuditRecordsRequest req;
    if (need(1)) req.set_database(args[2]);
    req.set_tenant(absl::GetFlag(FLAGS_tenant));
    req.set_page_size(1000);
    std::printf("%-23s %-24s %-18s %-15s %-24s %-36s %s\n", "TIME", "WHO", "TENANT", "CALL", "DATABASE", "UPGRADE",
                "ANSWER");
    do {  // every page, newest first
      ListAuditRecordsResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(ctx, timeout);
      grpc::Status s = stub->ListAuditRecords(&ctx, req, &resp);
      if (!s.ok()) return Report(s);
      for (const AuditRecord& r : resp.records()) {
        std::string call = r.method().substr(r.method().rfind('/') + 1);
        std::string answer = absl::StatusCodeToString(static_cast<absl::StatusCode>(r.code()));
        if (r.code() != 0) absl::StrAppend(&answer, ": ", r.message());
        std::printf("%-23s %-24s %-18s %-15s %-24s %-36s %s  (from %s)\n", When(r.at()).c_str(),
                    absl::StrCat(r.subject(), r.by_operator() ? " (operator)" : "").c_str(), r.tenant().c_str(),
                    call.c_str(), r.database().c_str(), r.upgrade_id().c_str(), answer.c_str(), r.peer().c_str());
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return 0;
  }
  if (command == "backlog") {
    if (!need(0)) return usage("backlog");
    GetBacklogResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    grpc::Status s = status_stub()->GetBacklog(&ctx, GetBacklogRequest(), &resp);
    if (!s.ok()) return Report(s);
    std::printf("%-20s %8s %10s %8s\n", "GROUP", "WAITING", "IN FLIGHT", "STALLED");
    for (const WorkerBacklog& g : resp.groups()) {
      std::printf("%-20s %8d %10d %8d\n", g.group().c_str(), g.waiting(), g.in_flight(), g.stalled());
    }
    return 0;
  }
  if (command == "health") {
    if (!need(0)) return usage("health");
    int result = 0;
    for (const std::string& addr : {absl::GetFlag(FLAGS_request_addr), absl::GetFlag(FLAGS_status_addr)}) {
      if (CheckHealth(addr, "", *credentials, timeout) != 0) result = kUnreachable;
    }
    return result;
  }
  if (command == "probe") {
    if (args.size() != 3 && args.size() != 4) return usage("probe ADDRESS [SERVICE]");
    return CheckHealth(args[2], args.size() == 4 ? args[3] : "", *credentials, timeout);
  }
  std::cerr << "upgradectl: unknown command \"" << command << "\"\n" << absl::ProgramUsageMessage() << "\n";
  return kUsage;
}

}  // namespace
}  // namespace upshift::ctl

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "upgradectl COMMAND [ARGS] [--request_addr=H:P] [--status_addr=H:P]\n"
      "  request DATABASE TARGET_VERSION --email=ADDRESS [--purpose=test|production] [--request_id=KEY]\n"
      "  check DATABASE TARGET_VERSION  dry run on a throwaway copy; prints every check (exit 4: findings)\n"
      "  options DATABASE      what the database can be upgraded to now\n"
      "  list                  databases, with test copies nested under their main database\n"
      "  show UPGRADE_ID       one upgrade\n"
      "  watch UPGRADE_ID      follow an upgrade until it ends (exit 0: succeeded, 4: failed)\n"
      "  cancel UPGRADE_ID     stop an upgrade (Production: until its in-place migration starts)\n"
      "  extend TEST_COPY      keep a test copy longer\n"
      "  upgrades DATABASE     a database's upgrades, newest first\n"
      "  audit [DATABASE] [--tenant=T]  the audit trail of mutating calls, newest first (operators)\n"
      "  backlog                      upgrades waiting for and in flight at each worker group (operators)\n"
      "  health                health of the request and status services (exit 0: both serving)\n"
      "  probe ADDRESS [SERVICE]  health of one server, or of one of its services (exit 0: serving)");
  return upshift::ctl::Main(upshift::ParseFlagsWithEnv(argc, argv));
}
