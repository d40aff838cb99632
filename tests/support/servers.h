#ifndef UPSHIFT_TESTS_SUPPORT_SERVERS_H_
#define UPSHIFT_TESTS_SUPPORT_SERVERS_H_

// The real servers tests run against: a throwaway PostgreSQL cluster, the devbroker (librdkafka's
// mock cluster behind a Kafka-protocol port), and an SMTP server (aiosmtpd). Each listens on a
// free loopback port and is stopped, its files removed, when the object goes away.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/kafka/consumer.h"
#include "tests/support/process.h"

namespace upshift::testing {

// librdkafka properties for clients of the devbroker: the mock coordinator holds every rebalance
// that a member's joining or leaving starts for session.timeout.ms less 1 s, even once all members
// rejoined (3 s keeps that at 2 s; at 6 s a test joining and leaving members spent most of its time
// waiting), and a member that dies is noticed after session.timeout.ms; the mock broker
// answers a fetch that found nothing only after fetch.wait.max.ms, records produced meanwhile
// included (librdkafka's default of 500 ms made every hop between services take up to 500 ms).
std::map<std::string, std::string> LocalKafkaProperties();
// The same, as the services' --kafka_properties value (key=value,...).
std::string LocalKafkaPropertiesFlag();

// Makes a new Ed25519 key pair per service in `dir`: `dir/<service>.key` (private) and
// `dir/trusted/<service>.pem` (public), as an operator provisions them. The services' flags for
// them: RecordKeyFlags.
absl::Status WriteRecordKeys(const std::string& dir, const std::vector<std::string>& services);
std::vector<std::string> RecordKeyFlags(const std::string& dir, const std::string& service);

// Makes a CA and a certificate per name in `dir` with deploy/local/make-certs (again: new
// certificates of the same CA, a rotation). The services' flags for them: TlsFlags.
absl::Status MakeCertificates(const std::string& dir, const std::vector<std::string>& names);
std::vector<std::string> TlsFlags(const std::string& dir, const std::string& service);

std::string BuildDir();
std::string SourceDir();
std::string PgBinDir();

class PostgresServer {
 public:
  // `durable`: fsync and full-page writes on, as in production (benchmarks); tests run without them.
  // `tls`: the server also serves TLS, with a certificate of a CA made for it (tls_ca()).
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(bool durable = false, bool tls = false);
  ~PostgresServer();

  int port() const { return port_; }
  // libpq connection string of the server, without dbname.
  std::string conninfo() const;
  // ... with dbname.
  std::string conninfo(const std::string& dbname) const;
  // The server's own log.
  std::string log_path() const { return dir_ + "/postgres.log"; }
  // With tls: the CA that signed the server's certificate (for sslrootcert).
  std::string tls_ca() const { return dir_ + "/tls/ca.pem"; }

  // Runs `sql` in `dbname` and returns the rows, every value as text ("" for NULL).
  absl::StatusOr<std::vector<std::vector<std::string>>> Query(const std::string& dbname, const std::string& sql);
  // The single value of a one-row, one-column query.
  absl::StatusOr<std::string> QueryValue(const std::string& dbname, const std::string& sql);
  absl::Status Exec(const std::string& dbname, const std::string& sql);

  // Creates a sample ERP database at 16.0 with deploy/catalogs/sample_erp/generate; with `owner`,
  // the database and its tables belong to that role (the tenant), made if missing.
  absl::Status GenerateSampleDatabase(const std::string& name, int partners, const std::string& owner = "");
  // Adds `partners` more partners, with their orders and invoices, to a sample ERP database.
  absl::Status AppendSampleData(const std::string& name, int partners);

  // Stops the server (fast shutdown) and removes its files.
  void Stop();

  // Crashes the server as `pg_ctl stop -m immediate` does, keeping its files; StartAgain brings it
  // back on the same port (after crash recovery).
  void StopImmediately();
  absl::Status StartAgain();

 private:
  PostgresServer() = default;
  absl::Status Launch();
  std::string dir_;
  bool durable_ = false;
  bool tls_ = false;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

class DevBroker {
 public:
  static absl::StatusOr<std::unique_ptr<DevBroker>> Start(const std::string& log_dir);
  const std::string& bootstrap() const { return bootstrap_; }
  ChildProcess& process() { return *process_; }
  // Sends a fault command (tools/devbroker/main.cc lists them), e.g. "down 1".
  absl::Status Control(const std::string& command);

 private:
  std::string bootstrap_;
  int control_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

class SmtpServer {
 public:
  static absl::StatusOr<std::unique_ptr<SmtpServer>> Start(const std::string& log_dir);
  ~SmtpServer();
  std::string url() const;
  // The raw messages received so far.
  std::vector<std::string> Messages() const;
  // From now on, each message is stored at once but the reply to it waits until ReplyAgain: its
  // sender does not learn that it was received.
  void HoldReplies();
  void ReplyAgain();

 private:
  int port_ = 0;
  std::string maildir_;
  std::unique_ptr<ChildProcess> process_;
};

// Records every record of some topics, from their start, in a consumer group of its own.
class TopicTap {
 public:
  // `properties`: librdkafka properties besides LocalKafkaProperties().
  static absl::StatusOr<std::unique_ptr<TopicTap>> Start(const std::string& brokers,
                                                         const std::vector<std::string>& topics,
                                                         const std::map<std::string, std::string>& properties = {});
  ~TopicTap();
  std::vector<ConsumedRecord> Records();

 private:
  std::mutex mu_;
  std::vector<ConsumedRecord> records_;
  StopToken stop_;
  std::unique_ptr<KafkaConsumer> consumer_;
  std::thread thread_;
};

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_SUPPORT_SERVERS_H_
