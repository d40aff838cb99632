#include "tests/support/platform.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "libs/common/grpc_util.h"
#include "libs/common/tls.h"
#include "tests/support/wait.h"

namespace upshift::testing {

std::string MakeTestCatalog(const std::string& dir) {
  std::filesystem::copy(SourceDir() + "/deploy/catalogs/sample_erp", dir, std::filesystem::copy_options::recursive);
  std::ofstream(dir + "/hops/17.0-18.0/02a_test_slow.sql")
      << "SELECT pg_sleep(value::float) FROM ir_config_parameter WHERE key = 'upshift.test.slow_upgrade';\n";
  std::ofstream(dir + "/hops/17.0-18.0/02b_test_fail.sql")
      << "DO $$ BEGIN\n"
         "  IF EXISTS (SELECT 1 FROM ir_config_parameter WHERE key = 'upshift.test.fail_upgrade') THEN\n"
         "    RAISE EXCEPTION 'forced failure for the rollback test';\n"
         "  END IF;\n"
         "END $$;\n";
  std::ifstream in(dir + "/catalog.textproto");
  std::stringstream text;
  text << in.rdbuf();
  std::string manifest = absl::StrReplaceAll(
      text.str(), {{"  steps { name: \"03_order_line_constraints\"",
                    "  steps { name: \"02a_test_slow\" sql: \"hops/17.0-18.0/02a_test_slow.sql\" }\n"
                    "  steps { name: \"02b_test_fail\" sql: \"hops/17.0-18.0/02b_test_fail.sql\" }\n"
                    "  steps { name: \"03_order_line_constraints\""}});
  std::ofstream(dir + "/catalog.textproto") << manifest;
  return dir;
}

absl::StatusOr<std::unique_ptr<KafkaProducer>> SignedProducer(Platform& platform, const std::string& service) {
  absl::StatusOr<std::shared_ptr<const RecordSigner>> signer =
      RecordSigner::FromPemFile(service, absl::StrCat(platform.record_keys_dir(), "/", service, ".key"));
  if (!signer.ok()) return signer.status();
  KafkaOptions options{platform.broker().bootstrap(), absl::StrCat("test-as-", service), LocalKafkaProperties()};
  options.signer = *std::move(signer);
  return KafkaProducer::Create(options);
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return ctx;
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Platform::Health(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(address, client_credentials_));
  grpc::health::v1::HealthCheckResponse response;
  auto ctx = Context(absl::Seconds(2));
  grpc::Status s = stub->Check(ctx.get(), grpc::health::v1::HealthCheckRequest(), &response);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return response.status();
}

absl::StatusOr<std::unique_ptr<Platform>> Platform::Start(Options options) {
  PromptReconnects();  // the tests' clients, as a frontend should (see libs/common/grpc_util.h)
  std::unique_ptr<Platform> p(new Platform());
  if (options.catalog.empty()) options.catalog = SourceDir() + "/deploy/catalogs/sample_erp";
  p->options_ = options;
  p->log_dir_ = MakeTempDir("upshift-test-platform");
  absl::StatusOr<std::unique_ptr<PostgresServer>> pg = PostgresServer::Start(options.durable_postgres);
  if (!pg.ok()) return pg.status();
  p->postgres_ = *std::move(pg);
  if (absl::Status s = p->postgres_->Exec("postgres", "CREATE DATABASE upshift"); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<DevBroker>> broker = DevBroker::Start(p->log_dir_);
  if (!broker.ok()) return broker.status();
  p->broker_ = *std::move(broker);
  absl::StatusOr<std::unique_ptr<SmtpServer>> smtp = SmtpServer::Start(p->log_dir_);
  if (!smtp.ok()) return smtp.status();
  p->smtp_ = *std::move(smtp);

  p->request_port_ = FreePort();
  p->status_port_ = FreePort();
  p->gate_port_ = FreePort();
  const std::vector<std::string> names = {"request", "status", "cloner", "migrator", "notifier"};
  if (absl::Status s = MakeCertificates(p->tls_dir(), names); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> client =
      ChannelCredentials({"", "", p->tls_dir() + "/ca.pem"});
  if (!client.ok()) return client.status();
  p->tls_credentials_ = *std::move(client);
  absl::StatusOr<TokenKey> token_key = GenerateTokenKey(kTestKeyId);
  if (!token_key.ok()) return token_key.status();
  std::filesystem::create_directories(p->auth_dir());
  std::ofstream(p->auth_dir() + "/jwks.json") << token_key->jwks_json;
  p->token_key_ = token_key->private_pem;
  p->client_credentials_ = p->CredentialsWithToken(
      p->Token({"", "", "test-operator", "", {"upgrades.operator"}, absl::InfinitePast(), absl::Now() + absl::Hours(24)}));
  const std::vector<std::string> auth_flags = {"--jwks_file=" + p->auth_dir() + "/jwks.json",
                                               std::string("--jwt_issuer=") + kTestIssuer,
                                               std::string("--jwt_audience=") + kTestAudience};
  std::string hosting = "--hosting_db=" + p->postgres_->conninfo();
  if (options.hosting_servers > 1) {
    for (int i = 1; i < options.hosting_servers; ++i) {
      absl::StatusOr<std::unique_ptr<PostgresServer>> more = PostgresServer::Start(options.durable_postgres);
      if (!more.ok()) return more.status();
      p->more_hosting_.push_back(*std::move(more));
    }
    std::string inventory;
    for (int i = 0; i < options.hosting_servers; ++i) {
      const std::string secret = absl::StrCat(p->log_dir_, "/", p->hosting_name(i), ".conninfo");
      std::ofstream(secret) << p->hosting(i).conninfo() << "\n";
      absl::StrAppend(&inventory, "server {\n  name: \"", p->hosting_name(i), "\"\n  conninfo_file: \"", secret,
                      "\"\n  max_copies: ", options.hosting_limit > 0 ? options.hosting_limit : i == 1 ? 2 : 4,
                      "\n  max_plans: ", options.hosting_limit > 0 ? options.hosting_limit : 4, "\n  labels { key: \"region\" value: \"test-", i + 1,
                      "\" }\n}\n");
    }
    std::ofstream(p->inventory_path()) << inventory;
    hosting = "--hosting_inventory=" + p->inventory_path();
  }
  std::string platform = p->postgres_->conninfo("upshift");
  std::string kafka = "--kafka_brokers=" + p->broker_->bootstrap();
  // The mock coordinator waits session.timeout.ms for departed members before a rebalance completes.
  std::map<std::string, std::string> properties = LocalKafkaProperties();
  for (const auto& [k, v] : options.kafka_properties) properties[k] = v;
  std::string kafka_properties =
      "--kafka_properties=" + absl::StrJoin(properties, ",", absl::PairFormatter("="));
  std::vector<std::pair<std::string, std::vector<std::string>>> services = {
      {"status",
       {kafka, "--platform_db=" + platform, hosting, "--catalog=" + options.catalog,
        absl::StrCat("--listen=127.0.0.1:", p->status_port_), "--gate_addr=" + p->gate_address(), auth_flags[0],
        auth_flags[1], auth_flags[2]}},
      {"request",
       {kafka, "--platform_db=" + platform, hosting, "--catalog=" + options.catalog,
        absl::StrCat("--listen=127.0.0.1:", p->request_port_), "--gate_listen=" + p->gate_address(), auth_flags[0],
        auth_flags[1], auth_flags[2]}},
      {"cloner",
       {kafka, "--platform_db=" + platform, hosting, "--pg_bin_dir=" + PgBinDir(),
        "--gate_addr=" + p->gate_address()}},
      {"migrator",
       {kafka, hosting, "--catalog=" + options.catalog, "--gate_addr=" + p->gate_address()}},
      {"notifier",
       {kafka, "--platform_db=" + platform, "--smtp_url=" + p->smtp_->url(), "--mail_from=upgrades@upshift.test",
        absl::StrCat("--connect_hint=host=127.0.0.1 port=", p->postgres_->port()), "--gate_addr=" + p->gate_address()}},
  };
  if (absl::Status s = WriteRecordKeys(p->record_keys_dir(), names); !s.ok()) return s;
  for (auto& [name, flags] : services) {
    for (std::string& f : RecordKeyFlags(p->record_keys_dir(), name)) flags.push_back(std::move(f));
    for (std::string& f : TlsFlags(p->tls_dir(), name)) flags.push_back(std::move(f));
    flags.push_back(kafka_properties);
    flags.push_back("--health_interval=250ms");
    // A killed replica's work is taken over within seconds.
    if (name == "cloner" || name == "migrator") flags.push_back("--claim_ttl=3s");
    if (name != "request" && name != "status") {
      p->health_ports_[name] = FreePort();
      flags.push_back(absl::StrCat("--health_listen=127.0.0.1:", p->health_ports_[name]));
    }
    p->metrics_ports_[name] = FreePort();
    flags.push_back(absl::StrCat("--metrics_listen=127.0.0.1:", p->metrics_ports_[name]));
    for (const std::string& f : options.extra_flags[name]) flags.push_back(f);
    if (absl::Status s = p->StartService(name, flags); !s.ok()) return s;
  }
  p->request_stub_ = upgrade::v1::UpgradeService::NewStub(p->ClientChannel(p->request_address()));
  p->status_stub_ = upgrade::v1::StatusService::NewStub(p->ClientChannel(p->status_address()));
  bool serving = WaitFor([&] {
    for (const std::string& name : p->start_order_) {
      auto h = p->Health(p->health_address(name));
      if (!h.ok() || *h != grpc::health::v1::HealthCheckResponse::SERVING) return false;
    }
    return true;
  });
  if (!serving) return absl::UnavailableError(absl::StrCat("services did not become healthy:\n", p->Logs()));
  return p;
}

absl::Status Platform::StartService(const std::string& name, std::vector<std::string> flags,
                                    const std::string& binary) {
  const std::string& program = binary.empty() ? name : binary;
  std::vector<std::string> argv = {absl::StrCat(BuildDir(), "/services/", program, "/", program)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({argv, {}, absl::StrCat(log_dir_, "/", name, ".log"), ""});
  if (!child.ok()) return child.status();
  services_[name] = *std::move(child);
  commands_[name] = argv;
  start_order_.push_back(name);
  return absl::OkStatus();
}

absl::Status Platform::RestartService(const std::string& name) {
  services_.at(name)->Stop();
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start({commands_.at(name), {}, absl::StrCat(log_dir_, "/", name, ".log"), ""});
  if (!child.ok()) return child.status();
  services_[name] = *std::move(child);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Platform::AddReplica(const std::string& worker,
                                                const std::vector<std::string>& extra_flags) {
  const bool api = worker == "status" || worker == "request";
  if (!health_ports_.count(worker) && !api) {
    return absl::InvalidArgumentError(absl::StrCat(worker, " cannot have replicas here"));
  }
  int n = 2;
  while (services_.count(absl::StrCat(worker, "#", n))) ++n;
  const std::string name = absl::StrCat(worker, "#", n);
  health_ports_[name] = FreePort();
  std::vector<std::string> flags(commands_.at(worker).begin() + 1, commands_.at(worker).end());
  // The later flag wins: a worker's health port, or status's API port (where its health answers too).
  flags.push_back(absl::StrCat(api ? "--listen" : "--health_listen", "=127.0.0.1:", health_ports_[name]));
  if (worker == "request") flags.push_back(absl::StrCat("--gate_listen=127.0.0.1:", FreePort()));
  metrics_ports_[name] = FreePort();
  flags.push_back(absl::StrCat("--metrics_listen=127.0.0.1:", metrics_ports_[name]));
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  if (absl::Status s = StartService(name, flags, worker); !s.ok()) return s;
  return name;
}

void Platform::UseStatusReplica(const std::string& name) {
  status_stub_ = upgrade::v1::StatusService::NewStub(ClientChannel(health_address(name)));
}

std::shared_ptr<grpc::Channel> Platform::ClientChannel(const std::string& address) const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(address, client_credentials_, args);
}

Platform::~Platform() {
  for (auto it = start_order_.rbegin(); it != start_order_.rend(); ++it) services_[*it]->Stop();
  smtp_.reset();
  broker_.reset();
  more_hosting_.clear();
  postgres_.reset();
  // The logs stay when anything failed, in this test or in any before it (a platform shared by a
  // whole suite is torn down after its last test, which may have passed), or when asked to.
  bool keep = std::getenv("UPSHIFT_KEEP_TEST_LOGS") != nullptr;
  if (!keep && !::testing::Test::HasFailure() && ::testing::UnitTest::GetInstance()->Passed()) {
    std::error_code ec;
    std::filesystem::remove_all(log_dir_, ec);
  } else {
    std::cerr << "the platform's logs are kept in " << log_dir_ << "\n";
  }
}

std::string Platform::health_address(const std::string& name) const {
  if (name == "request") return request_address();
  if (name == "status") return status_address();
  return absl::StrCat("127.0.0.1:", health_ports_.at(name));
}

std::string Platform::metrics_address(const std::string& name) const {
  return absl::StrCat("127.0.0.1:", metrics_ports_.at(name));
}

std::shared_ptr<grpc::ChannelCredentials> Platform::CredentialsWithToken(const std::string& token) const {
  if (token.empty()) return tls_credentials_;
  return grpc::CompositeChannelCredentials(tls_credentials_, grpc::AccessTokenCredentials(token));
}

std::string Platform::Token(TokenClaims claims) const {
  if (claims.issuer.empty()) claims.issuer = kTestIssuer;
  if (claims.audience.empty()) claims.audience = kTestAudience;
  if (claims.expires_at == absl::Time()) claims.expires_at = absl::Now() + absl::Hours(1);
  absl::StatusOr<std::string> token = MintToken(token_key_, kTestKeyId, claims);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? *token : "";
}

std::string Platform::request_address() const { return absl::StrCat("127.0.0.1:", request_port_); }
std::string Platform::gate_address() const { return absl::StrCat("127.0.0.1:", gate_port_); }
std::string Platform::status_address() const { return absl::StrCat("127.0.0.1:", status_port_); }

std::string Platform::Log(const std::string& service) {
  std::ifstream in(absl::StrCat(log_dir_, "/", service, ".log"));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Platform::Logs() {
  std::string out;
  for (const std::string& name : start_order_) {
    absl::StrAppend(&out, "---- ", name, " (", log_dir_, ")\n", Tail(absl::StrCat(log_dir_, "/", name, ".log"), 3000));
  }
  return out;
}

}  // namespace upshift::testing
