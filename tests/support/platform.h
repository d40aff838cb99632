#ifndef UPSHIFT_TESTS_SUPPORT_PLATFORM_H_
#define UPSHIFT_TESTS_SUPPORT_PLATFORM_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "libs/auth/token_minter.h"
#include "tests/support/servers.h"
#include "upgrade/v1/upgrade.grpc.pb.h"

namespace upshift::testing {

// The whole platform as processes: PostgreSQL, the broker, an SMTP server and the five services,
// each service started from its built binary with flags, exactly as an operator would.
class Platform {
 public:
  struct Options {
    std::string catalog;  // default: the sample ERP catalog
    std::map<std::string, std::vector<std::string>> extra_flags;  // by service name
    bool durable_postgres = false;  // see PostgresServer::Start
    // librdkafka properties every service gets besides LocalKafkaProperties().
    std::map<std::string, std::string> kafka_properties;
    // Hosting servers. One: postgres(), named by --hosting_db (its name is "default"). More: an
    // inventory (--hosting_inventory) of "pg-1" (postgres(), which also holds the platform
    // database) and "pg-2" ... (hosting(1) ...), each connection string in a file of its own;
    // pg-2 may run 2 copies at once, the others 4; each 4 plans.
    int hosting_servers = 1;
    // With more than one hosting server and this above 0: every server's max_copies and max_plans.
    int hosting_limit = 0;
  };

  static absl::StatusOr<std::unique_ptr<Platform>> Start(Options options);
  ~Platform();

  PostgresServer& postgres() { return *postgres_; }
  // Hosting server `i` (0: postgres()) and its name in the inventory.
  PostgresServer& hosting(int i) { return i == 0 ? *postgres_ : *more_hosting_.at(i - 1); }
  std::string hosting_name(int i) const { return options_.hosting_servers == 1 ? "default" : absl::StrCat("pg-", i + 1); }
  // The inventory file the services read (with more than one hosting server).
  std::string inventory_path() const { return log_dir_ + "/inventory.textproto"; }
  DevBroker& broker() { return *broker_; }
  SmtpServer& smtp() { return *smtp_; }
  upgrade::v1::UpgradeService::Stub& requests() { return *request_stub_; }
  upgrade::v1::StatusService::Stub& status() { return *status_stub_; }
  std::string request_address() const;
  std::string status_address() const;
  // Where a service's grpc.health.v1 answers (request and status: their API port).
  std::string health_address(const std::string& name) const;
  // Where a service (or replica) serves /metrics, HTTPS with the platform's CA: "127.0.0.1:port".
  std::string metrics_address(const std::string& name) const;
  ChildProcess& service(const std::string& name) { return *services_.at(name); }
  // Starts a service again with the flags it had (after it was killed or stopped).
  absl::Status RestartService(const std::string& name);
  // Starts one more replica of a worker (cloner, migrator, notifier) with the same flags and a health
  // port of its own, or of status or request with an API port of its own (request: and a gate port);
  // returns its name ("migrator#2"), usable with service() and health_address(). `extra_flags` come
  // last (a later flag wins).
  absl::StatusOr<std::string> AddReplica(const std::string& worker, const std::vector<std::string>& extra_flags = {});
  // Makes status() call replica `name` of status ("status" for the first).
  void UseStatusReplica(const std::string& name);
  const std::string& log_dir() const { return log_dir_; }
  // The services' record keys (see WriteRecordKeys): `<service>.key`, `trusted/<service>.pem`.
  std::string record_keys_dir() const { return log_dir_ + "/keys"; }

  // Logs of every service (for failure messages).
  std::string Logs();
  // The whole log of one service.
  std::string Log(const std::string& service);

  // SERVING / NOT_SERVING of a gRPC server's health service, or the call's error.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(const std::string& address);

  // Every service's TLS certificate and key (`<service>.pem`, `<service>.key`) and the CA that
  // signed them (`ca.pem`), made by deploy/local/make-certs at start.
  std::string tls_dir() const { return log_dir_ + "/tls"; }
  // A client's credentials: TLS, the servers checked against the platform's CA, and an operator's
  // token (every scope) on every call.
  std::shared_ptr<grpc::ChannelCredentials> client_credentials() const { return client_credentials_; }
  // A channel to `address` with client_credentials(), as a frontend that retries should make it:
  // its reconnections back off from 100 ms to at most 1 s, not gRPC's default 1 s to 2 min. (What
  // moves a reconnection on while no call waits is PromptReconnects(), which Start calls.)
  std::shared_ptr<grpc::Channel> ClientChannel(const std::string& address) const;
  // The same TLS with `token` on every call instead (empty: no token).
  std::shared_ptr<grpc::ChannelCredentials> CredentialsWithToken(const std::string& token) const;
  // A token of the platform's identity provider (see tools/devtoken), valid for an hour unless
  // `claims` says otherwise; `claims.issuer`/`audience` default to the platform's.
  std::string Token(TokenClaims claims) const;
  // The identity provider's signing key and its JWKS (`jwks.json`), as the services read it.
  std::string auth_dir() const { return log_dir_ + "/auth"; }
  // Where request's UpgradeGate listens (mTLS).
  std::string gate_address() const;

 private:
  absl::Status StartService(const std::string& name, std::vector<std::string> flags, const std::string& binary = "");

  Options options_;
  std::string log_dir_;
  int request_port_ = 0, status_port_ = 0, gate_port_ = 0;
  std::shared_ptr<grpc::ChannelCredentials> client_credentials_;
  std::shared_ptr<grpc::ChannelCredentials> tls_credentials_;
  std::string token_key_;  // the identity provider's private key (PEM)
  std::map<std::string, int> health_ports_;  // the workers' health servers
  std::map<std::string, int> metrics_ports_;
  std::unique_ptr<PostgresServer> postgres_;
  std::vector<std::unique_ptr<PostgresServer>> more_hosting_;
  std::unique_ptr<DevBroker> broker_;
  std::unique_ptr<SmtpServer> smtp_;
  std::map<std::string, std::unique_ptr<ChildProcess>> services_;
  std::map<std::string, std::vector<std::string>> commands_;
  std::vector<std::string> start_order_;
  std::unique_ptr<upgrade::v1::UpgradeService::Stub> request_stub_;
  std::unique_ptr<upgrade::v1::StatusService::Stub> status_stub_;
};

// Copies the sample catalog into `dir` (which must not exist) with two test-only steps in the
// 17.0 -> 18.0 hop, between its second and third step: 02a_test_slow sleeps as many seconds as the
// value of the key 'upshift.test.slow_upgrade' in the database's ir_config_parameter (none without
// it), 02b_test_fail raises in one holding 'upshift.test.fail_upgrade'. Returns `dir`.
std::string MakeTestCatalog(const std::string& dir);

// The identity provider the platform's request and status trust.
inline constexpr char kTestIssuer[] = "https://idp.upshift.test";
inline constexpr char kTestAudience[] = "upshift";
inline constexpr char kTestKeyId[] = "test-key-1";

// A producer on the platform's broker that signs as `service` does, with its key.
absl::StatusOr<std::unique_ptr<KafkaProducer>> SignedProducer(Platform& platform, const std::string& service);

// A client context with a deadline, as every call should have.
std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(20));

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_SUPPORT_PLATFORM_H_
