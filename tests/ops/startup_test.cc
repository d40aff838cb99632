// Each service, started with something it cannot work with, ends at once with a clear message and
// a non-zero exit code (libs/runtime/service.h): a bad broker address, a taken port, a bad catalog,
// a bad flag value. A service that cannot start must never hang: Kubernetes restarts what exits,
// and leaves alone what hangs.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/auth/token_minter.h"
#include "tests/support/process.h"
#include "tests/support/servers.h"
#include "tests/support/wait.h"

namespace upshift::testing {
namespace {

const std::vector<std::string> kServices = {"request", "status", "cloner", "migrator", "notifier"};

// A port held by this test while it lives.
class TakenPort {
 public:
  TakenPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 1);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~TakenPort() { close(fd_); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class Startup : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("upshift-startup"));
    ASSERT_TRUE(MakeCertificates(*dir_ + "/tls", kServices).ok());
    ASSERT_TRUE(WriteRecordKeys(*dir_ + "/keys", kServices).ok());
    absl::StatusOr<TokenKey> key = GenerateTokenKey("startup");
    ASSERT_TRUE(key.ok()) << key.status();
    std::ofstream(*dir_ + "/jwks.json") << key->jwks_json;
    absl::StatusOr<std::unique_ptr<PostgresServer>> pg = PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    postgres_ = pg->release();
    ASSERT_TRUE(postgres_->Exec("postgres", "CREATE DATABASE upshift").ok());
  }
  static void TearDownTestSuite() {
    delete postgres_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  // Flags with which `service` would start (given a broker), each on a port of its own.
  static std::vector<std::string> GoodFlags(const std::string& service) {
    std::vector<std::string> flags = {
        "--kafka_brokers=127.0.0.1:1",
        absl::StrCat("--tls_cert=", *dir_, "/tls/", service, ".pem"),
        absl::StrCat("--tls_key=", *dir_, "/tls/", service, ".key"),
        absl::StrCat("--tls_ca=", *dir_, "/tls/ca.pem"),
        absl::StrCat("--metrics_listen=127.0.0.1:", FreePort()),
    };
    for (std::string& f : RecordKeyFlags(*dir_ + "/keys", service)) flags.push_back(std::move(f));
    if (service == "request" || service == "status") {
      flags.push_back("--jwks_file=" + *dir_ + "/jwks.json");
      flags.push_back("--jwt_issuer=https://idp.test");
      flags.push_back("--jwt_audience=upshift");
      flags.push_back(absl::StrCat("--listen=127.0.0.1:", FreePort()));
    } else {
      flags.push_back(absl::StrCat("--health_listen=127.0.0.1:", FreePort()));
    }
    if (service == "request") flags.push_back(absl::StrCat("--gate_listen=127.0.0.1:", FreePort()));
    if (service == "notifier") flags.push_back("--outbox_dir=" + *dir_ + "/outbox");
    return flags;
  }

  struct Exit {
    int code = -1;       // -1: still running after the wait (then it was killed)
    std::string output;  // what it wrote
  };

  // Starts `service` with its good flags followed by `extra` (the later flag wins), and waits for it
  // to end by itself.
  static Exit Run(const std::string& service, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {absl::StrCat(BuildDir(), "/services/", service, "/", service)};
    for (const std::string& f : GoodFlags(service)) argv.push_back(f);
    argv.insert(argv.end(), extra.begin(), extra.end());
    const std::string log = absl::StrCat(*dir_, "/", service, "-", ++runs_, ".log");
    // As UPSHIFT_* variables: a service reads those of its own flags and leaves the others.
    std::map<std::string, std::string> env = {{"UPSHIFT_PLATFORM_DB", postgres_->conninfo("upshift")},
                                              {"UPSHIFT_HOSTING_DB", postgres_->conninfo()},
                                              {"UPSHIFT_CATALOG", SourceDir() + "/deploy/catalogs/sample_erp"}};
    absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Start({argv, env, log, ""});
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return {};
    int status = (*child)->Wait(absl::Seconds(30));
    Exit exit;
    if (status != -1 && WIFEXITED(status)) exit.code = WEXITSTATUS(status);
    exit.output = Tail(log);
    return exit;
  }

  static std::string* dir_;
  static PostgresServer* postgres_;
  static int runs_;
};

std::string* Startup::dir_ = nullptr;
PostgresServer* Startup::postgres_ = nullptr;
int Startup::runs_ = 0;

TEST_F(Startup, ABadBrokerAddressEndsEveryService) {
  for (const std::string& service : kServices) {
    Exit exit = Run(service, {"--kafka_brokers=kafka-without-a-port"});
    EXPECT_EQ(exit.code, 2) << service << ":\n" << exit.output;
    EXPECT_TRUE(absl::StrContains(exit.output, "cannot start: read the ") &&
                absl::StrContains(exit.output, "INVALID_ARGUMENT: --kafka_brokers must be host:port"))
        << service << ":\n" << exit.output;
  }
}

TEST_F(Startup, ATakenMetricsPortEndsEveryService) {
  TakenPort taken;
  for (const std::string& service : kServices) {
    Exit exit = Run(service, {"--metrics_listen=" + taken.address()});
    EXPECT_EQ(exit.code, 2) << service << ":\n" << exit.output;
    EXPECT_TRUE(absl::StrContains(exit.output, absl::StrCat("cannot start: serve /metrics: UNAVAILABLE: metrics server "
                                                            "cannot listen on ", taken.address())))
        << service << ":\n" << exit.output;
  }
}

// The cloner once started its sweeper before its consumer and health server; when those could not
// start, it waited for a stop signal forever.
TEST_F(Startup, ATakenHealthOrApiPortEndsEveryServiceOnceItsDatabaseIsThere) {
  TakenPort taken;
  for (const std::string& service : kServices) {
    const bool api = service == "request" || service == "status";
    Exit exit = Run(service, {(api ? "--listen=" : "--health_listen=") + taken.address()});
    EXPECT_EQ(exit.code, 2) << service << ":\n" << exit.output;
    EXPECT_TRUE(absl::StrContains(exit.output, "cannot start: serve ") &&
                absl::StrContains(exit.output, absl::StrCat(" on ", taken.address(), ": UNAVAILABLE")))
        << service << ":\n" << exit.output;
  }
}

TEST_F(Startup, ABadCatalogEndsTheServicesThatReadIt) {
  const std::string catalog = *dir_ + "/bad_catalog";
  std::filesystem::create_directories(catalog);
  std::ofstream(catalog + "/catalog.textproto") << "application: \"erp\"\nthis is not a catalog\n";
  for (const std::string service : {"request", "status", "migrator"}) {
    Exit exit = Run(service, {"--catalog=" + catalog});
    EXPECT_EQ(exit.code, 2) << service << ":\n" << exit.output;
    EXPECT_TRUE(absl::StrContains(exit.output, "cannot start: load the catalog: INVALID_ARGUMENT"))
        << service << ":\n" << exit.output;
  }
}

TEST_F(Startup, ABadConnectionStringIsNotRetried) {
  for (const std::string service : {"request", "status", "cloner", "notifier"}) {
    Exit exit = Run(service, {"--platform_db=host=127.0.0.1 port=not-a-port"});
    EXPECT_EQ(exit.code, 2) << service << ":\n" << exit.output;
    EXPECT_TRUE(absl::StrContains(exit.output, "cannot start: open the platform database: INVALID_ARGUMENT"))
        << service << ":\n" << exit.output;
  }
}

// What a deployment must set is said in the flag's help ("Required: ..."), which the manifests'
// consistency test reads too; a secure default's files are required unless it is turned off.
TEST_F(Startup, AMissingRequiredFlagIsNamed) {
  for (const std::string service : {"request", "status", "cloner", "notifier"}) {
    Exit exit = Run(service, {"--platform_db="});
    EXPECT_EQ(exit.code, 2) << service << ":\n" << exit.output;
    EXPECT_TRUE(absl::StrContains(exit.output, "cannot start: read the flags: INVALID_ARGUMENT: --platform_db is required"))
        << service << ":\n" << exit.output;
  }
  Exit exit = Run("migrator", {"--tls_key="});
  EXPECT_EQ(exit.code, 2) << exit.output;
  EXPECT_TRUE(absl::StrContains(exit.output, "--tls_key is required (Required unless --insecure_plaintext: "))
      << exit.output;
  // Turned off explicitly, the files are not needed: the migrator gets past its flags and then
  // fails on its catalog, as told.
  exit = Run("migrator", {"--tls_key=", "--tls_cert=", "--tls_ca=", "--insecure_plaintext", "--catalog=/nonexistent"});
  EXPECT_EQ(exit.code, 2) << exit.output;
  EXPECT_TRUE(absl::StrContains(exit.output, "cannot start: load the catalog")) << exit.output;
}

TEST_F(Startup, AReplicaOlderThanThePlatformDatabaseRefusesToStart) {
  ASSERT_TRUE(postgres_->Exec("postgres", "CREATE DATABASE upshift_future").ok());
  ASSERT_TRUE(postgres_
                  ->Exec("upshift_future",
                         "CREATE SCHEMA request; CREATE TABLE request.schema_versions (version integer PRIMARY KEY, "
                         "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); "
                         "INSERT INTO request.schema_versions VALUES (1, 'baseline'), (2, 'outbox'), (99, 'future')")
                  .ok());
  Exit exit = Run("request", {"--platform_db=" + postgres_->conninfo("upshift_future")});
  EXPECT_EQ(exit.code, 2) << exit.output;
  EXPECT_TRUE(absl::StrContains(exit.output, "cannot start: open the platform database: FAILED_PRECONDITION: the "
                                             "platform database's request schema is at version 99, newer than this "
                                             "binary knows ("))  // its own latest version, whatever it is now
      << exit.output;
}

TEST_F(Startup, JsonLogsSayWhyInOneObjectPerLine) {
  Exit exit = Run("migrator", {"--log_format=json", "--catalog=/nonexistent"});
  EXPECT_EQ(exit.code, 2) << exit.output;
  std::vector<std::string> lines = absl::StrSplit(exit.output, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) {
    google::protobuf::Struct parsed;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << line;
    EXPECT_EQ(parsed.fields().at("service").string_value(), "migrator") << line;
    EXPECT_FALSE(parsed.fields().at("time").string_value().empty()) << line;
  }
  google::protobuf::Struct last;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines.back(), &last).ok());
  EXPECT_EQ(last.fields().at("level").string_value(), "error");
  EXPECT_TRUE(absl::StartsWith(last.fields().at("message").string_value(), "cannot start: load the catalog: "))
      << lines.back();
}

TEST_F(Startup, ABadLogFormatIsRefused) {
  Exit exit = Run("notifier", {"--log_format=xml"});
  EXPECT_EQ(exit.code, 2) << exit.output;
  EXPECT_TRUE(absl::StrContains(exit.output, "--log_format must be text or json")) << exit.output;
}

}  // namespace
}  // namespace upshift::testing
