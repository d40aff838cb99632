#include "tests/support/servers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "libs/common/ids.h"
#include "libs/security/record_signature.h"
#include "libs/pg/connections.h"
#include "libs/pg/pool.h"
#include "tests/support/wait.h"

namespace upshift::testing {
namespace {

// A socket connected to 127.0.0.1:`port`, or -1.
int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  close(fd);
  return -1;
}

bool CanConnect(int port) {
  int fd = ConnectLoopback(port);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

void ChownToPostgres(const std::string& path) {
  if (geteuid() != 0) return;
  if (passwd* pw = getpwnam("postgres")) {
    chown(path.c_str(), pw->pw_uid, pw->pw_gid);
  }
}

}  // namespace

std::map<std::string, std::string> LocalKafkaProperties() {
  return {{"session.timeout.ms", "3000"}, {"heartbeat.interval.ms", "500"}, {"fetch.wait.max.ms", "10"}};
}

std::string LocalKafkaPropertiesFlag() { return absl::StrJoin(LocalKafkaProperties(), ",", absl::PairFormatter("=")); }

absl::Status WriteRecordKeys(const std::string& dir, const std::vector<std::string>& services) {
  std::filesystem::create_directories(dir + "/trusted");
  for (const std::string& service : services) {
    absl::StatusOr<std::pair<std::string, std::string>> pair = GenerateSigningKey();
    if (!pair.ok()) return pair.status();
    const std::string key = absl::StrCat(dir, "/", service, ".key");
    std::ofstream(key) << pair->first;
    std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::ofstream(absl::StrCat(dir, "/trusted/", service, ".pem")) << pair->second;
  }
  return absl::OkStatus();
}

std::vector<std::string> RecordKeyFlags(const std::string& dir, const std::string& service) {
  return {absl::StrCat("--record_signing_key=", dir, "/", service, ".key"),
          absl::StrCat("--record_trusted_keys=", dir, "/trusted")};
}

absl::Status MakeCertificates(const std::string& dir, const std::vector<std::string>& names) {
  std::vector<std::string> argv = {SourceDir() + "/deploy/local/make-certs", dir};
  argv.insert(argv.end(), names.begin(), names.end());
  return RunCommand({argv, {}, "", ""});
}

std::vector<std::string> TlsFlags(const std::string& dir, const std::string& service) {
  // Read again every second, so that a test sees a rotation at once.
  return {absl::StrCat("--tls_cert=", dir, "/", service, ".pem"), absl::StrCat("--tls_key=", dir, "/", service, ".key"),
          absl::StrCat("--tls_ca=", dir, "/ca.pem"), "--tls_refresh_interval=1s"};
}

std::string BuildDir() { return UPSHIFT_BUILD_DIR; }
std::string SourceDir() { return UPSHIFT_SOURCE_DIR; }
std::string PgBinDir() { return UPSHIFT_PG_BIN_DIR; }

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(bool durable, bool tls) {
  std::unique_ptr<PostgresServer> pg(new PostgresServer());
  pg->durable_ = durable;
  pg->tls_ = tls;
  pg->dir_ = MakeTempDir("upshift-test-pg");
  std::string data = pg->dir_ + "/data";
  std::filesystem::create_directory(data);
  ChownToPostgres(pg->dir_);
  ChownToPostgres(data);
  absl::Status init = RunCommand({{PgBinDir() + "/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                   "--no-sync"},
                                  {},
                                  "",
                                  "postgres"});
  if (!init.ok()) return init;
  {
    // The platform's tenant logins (libs/hosting/tenant_logins.h) must prove their password, as a
    // hosting server's pg_hba.conf asks of them: the first matching line wins.
    std::ifstream in(data + "/pg_hba.conf");
    std::stringstream trusted;
    trusted << in.rdbuf();
    std::ofstream out(data + "/pg_hba.conf", std::ios::trunc);
    out << "host all +upshift_tenant_logins 127.0.0.1/32 scram-sha-256\n"
        << "local all +upshift_tenant_logins scram-sha-256\n"
        << trusted.str();
  }
  if (tls) {
    if (absl::Status s = MakeCertificates(pg->dir_ + "/tls", {"postgres"}); !s.ok()) return s;
    ChownToPostgres(pg->dir_ + "/tls");
    ChownToPostgres(pg->dir_ + "/tls/postgres.key");  // the server reads its key only if it owns it
  }
  pg->port_ = FreePort();
  if (absl::Status s = pg->Launch(); !s.ok()) return s;
  return pg;
}

absl::Status PostgresServer::Launch() {
  const std::string data = dir_ + "/data";
  std::vector<std::string> argv = {
      PgBinDir() + "/postgres", "-D", data, "-p", std::to_string(port_), "-k", data, "-c",
      // fsync off is safe against the process crashes tests cause (the OS keeps what was written);
      // synchronous_commit stays on: a commit must be in the WAL before it is acknowledged, or a
      // crash (the fault suite's -m immediate) loses orders already acknowledged to clients.
      "listen_addresses=127.0.0.1", "-c", durable_ ? "fsync=on" : "fsync=off", "-c",
      durable_ ? "full_page_writes=on" : "full_page_writes=off", "-c", "max_connections=200",
      // Bounds the WAL a crash recovery replays: PostgreSQL 15 logs every block of a database
      // CREATE DATABASE copies, and the suites copy many.
      "-c", "checkpoint_timeout=30s"};
  if (tls_) {
    for (std::string setting : {std::string("ssl=on"), "ssl_cert_file=" + dir_ + "/tls/postgres.pem",
                                "ssl_key_file=" + dir_ + "/tls/postgres.key"}) {
      argv.push_back("-c");
      argv.push_back(std::move(setting));
    }
  }
  absl::StatusOr<std::unique_ptr<ChildProcess>> server = ChildProcess::Start(
      {argv,
       {},
       dir_ + "/postgres.log",
       "postgres"});
  if (!server.ok()) return server.status();
  process_ = *std::move(server);
  // A start after a crash replays the WAL first, which under load can take a while: the server
  // is given as long as it keeps running.
  bool up = WaitFor([&] { return Exec("postgres", "SELECT 1").ok() || !process_->Running(); }, absl::Minutes(3));
  if (!up || !process_->Running()) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL did not start: ", Tail(dir_ + "/postgres.log")));
  }
  return absl::OkStatus();
}

void PostgresServer::StopImmediately() {
  // SIGQUIT is `pg_ctl stop -m immediate`: no checkpoint, every session cut; crash recovery at the next start.
  if (process_) process_->Stop(absl::Seconds(20), SIGQUIT);
  process_.reset();
}

absl::Status PostgresServer::StartAgain() { return Launch(); }

PostgresServer::~PostgresServer() { Stop(); }

void PostgresServer::Stop() {
  if (process_) {
    process_->Stop(absl::Seconds(20), SIGINT);  // fast shutdown: ends client sessions
    process_.reset();
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

std::string PostgresServer::conninfo() const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres connect_timeout=5");
}

std::string PostgresServer::conninfo(const std::string& dbname) const { return pg::ConnInfoFor(conninfo(), dbname); }

absl::StatusOr<std::vector<std::vector<std::string>>> PostgresServer::Query(const std::string& dbname,
                                                                            const std::string& sql) {
  std::vector<std::vector<std::string>> rows;
  absl::Status status = pg::WithConnection(conninfo(), dbname, [&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    for (const auto& row : tx.exec(sql)) {
      std::vector<std::string> values;
      for (const auto& field : row) values.push_back(field.is_null() ? "" : field.as<std::string>());
      rows.push_back(std::move(values));
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return rows;
}

absl::StatusOr<std::string> PostgresServer::QueryValue(const std::string& dbname, const std::string& sql) {
  absl::StatusOr<std::vector<std::vector<std::string>>> rows = Query(dbname, sql);
  if (!rows.ok()) return rows.status();
  if (rows->size() != 1 || (*rows)[0].size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat("expected one value from: ", sql));
  }
  return (*rows)[0][0];
}

absl::Status PostgresServer::Exec(const std::string& dbname, const std::string& sql) { return Query(dbname, sql).status(); }

absl::Status PostgresServer::GenerateSampleDatabase(const std::string& name, int partners, const std::string& owner) {
  std::vector<std::string> argv = {SourceDir() + "/deploy/catalogs/sample_erp/generate", "--database", name,
                                   "--partners", std::to_string(partners), "--dsn", conninfo()};
  if (!owner.empty()) {
    argv.push_back("--owner");
    argv.push_back(owner);
  }
  return RunCommand({argv,
                     {{"PATH", PgBinDir() + ":" + std::string(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin")}},
                     "",
                     ""});
}

absl::Status PostgresServer::AppendSampleData(const std::string& name, int partners) {
  return RunCommand({{SourceDir() + "/deploy/catalogs/sample_erp/generate", "--database", name, "--partners",
                      std::to_string(partners), "--append", "--dsn", conninfo()},
                     {{"PATH", PgBinDir() + ":" + std::string(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin")}},
                     "",
                     ""});
}

absl::StatusOr<std::unique_ptr<DevBroker>> DevBroker::Start(const std::string& log_dir) {
  auto broker = std::make_unique<DevBroker>();
  std::string file = log_dir + "/bootstrap";
  broker->control_port_ = FreePort();
  absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(
      {{BuildDir() + "/tools/devbroker/devbroker", "--bootstrap_file=" + file,
        absl::StrCat("--control_port=", broker->control_port_)},
       {},
       log_dir + "/devbroker.log",
       ""});
  if (!p.ok()) return p.status();
  broker->process_ = *std::move(p);
  if (!WaitFor([&] { return std::filesystem::exists(file); }, absl::Seconds(20))) {
    return absl::UnavailableError("devbroker did not start");
  }
  std::ifstream in(file);
  std::getline(in, broker->bootstrap_);
  return broker;
}

absl::Status DevBroker::Control(const std::string& command) {
  int fd = ConnectLoopback(control_port_);
  if (fd < 0) return absl::UnavailableError("cannot reach the devbroker's control port");
  std::string line = command + "\n";
  std::string reply;
  char c;
  if (write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
    while (read(fd, &c, 1) == 1 && c != '\n') reply += c;
  }
  close(fd);
  if (reply == "ok") return absl::OkStatus();
  return absl::InternalError(absl::StrCat("devbroker refused \"", command, "\": ", reply));
}

absl::StatusOr<std::unique_ptr<SmtpServer>> SmtpServer::Start(const std::string& log_dir) {
  auto smtp = std::make_unique<SmtpServer>();
  smtp->port_ = FreePort();
  smtp->maildir_ = log_dir + "/maildir";
  // Debian's aiosmtpd loads only in Debian's own interpreter; the handler is tests/support/smtp_sink.py.
  absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(
      {{"/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", absl::StrCat("127.0.0.1:", smtp->port_), "-c",
        "smtp_sink.HoldingMailbox", smtp->maildir_},
       {{"PYTHONPATH", SourceDir() + "/tests/support"}},
       log_dir + "/smtp.log",
       ""});
  if (!p.ok()) return p.status();
  smtp->process_ = *std::move(p);
  if (!WaitFor([&] { return CanConnect(smtp->port_) || !smtp->process_->Running(); }, absl::Seconds(20)) ||
      !smtp->process_->Running()) {
    return absl::UnavailableError(absl::StrCat("SMTP server did not start: ", Tail(log_dir + "/smtp.log")));
  }
  return smtp;
}

SmtpServer::~SmtpServer() { ReplyAgain(); }

void SmtpServer::HoldReplies() { std::ofstream(maildir_ + ".hold") << "held\n"; }

void SmtpServer::ReplyAgain() {
  std::error_code ec;
  std::filesystem::remove(maildir_ + ".hold", ec);
}

std::string SmtpServer::url() const { return absl::StrCat("smtp://127.0.0.1:", port_); }

std::vector<std::string> SmtpServer::Messages() const {
  std::vector<std::string> out;
  for (const char* sub : {"/new", "/cur"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(maildir_ + sub, ec)) {
      std::ifstream in(entry.path());
      std::stringstream ss;
      ss << in.rdbuf();
      out.push_back(ss.str());
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<TopicTap>> TopicTap::Start(const std::string& brokers,
                                                          const std::vector<std::string>& topics,
                                                          const std::map<std::string, std::string>& properties) {
  auto tap = std::make_unique<TopicTap>();
  TopicTap* raw = tap.get();
  std::map<std::string, std::string> all = LocalKafkaProperties();
  for (const auto& [k, v] : properties) all[k] = v;
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer =
      KafkaConsumer::Create({brokers, "test-tap", all}, absl::StrCat("test-tap-", NewUpgradeId()), topics, nullptr,
                            [raw](const ConsumedRecord& r) {
                              std::lock_guard<std::mutex> lock(raw->mu_);
                              raw->records_.push_back(r);
                              return absl::OkStatus();
                            });
  if (!consumer.ok()) return consumer.status();
  tap->consumer_ = *std::move(consumer);
  tap->thread_ = std::thread([raw] { raw->consumer_->Run(raw->stop_); });
  return tap;
}

TopicTap::~TopicTap() {
  stop_.Stop();
  if (thread_.joinable()) thread_.join();
}

std::vector<ConsumedRecord> TopicTap::Records() {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

}  // namespace upshift::testing
