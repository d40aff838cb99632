// devbroker: one process hosting librdkafka's mock cluster, a Kafka-protocol broker for local runs
// and tests. It creates Upshift's topics, writes its bootstrap address to a file, and serves until
// SIGTERM or SIGINT. Holds no data across restarts; not for production.
//
// With --control_port, it also takes fault commands on that loopback port, one per line, each
// answered by "ok" or "error: ...": the fault suite's way to break the broker on purpose.
//   down BROKER_ID            close the broker's connections and refuse new ones
//   up BROKER_ID              serve again
//   rtt BROKER_ID MS          add MS milliseconds to every response of the broker (0: none)
//   error API_KEY CODE COUNT  fail the next COUNT requests of that Kafka API (e.g. 0 = Produce,
//                             8 = OffsetCommit) with that Kafka error code (e.g. 7 = REQUEST_TIMED_OUT)
//   clear                     forget injected request errors

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/kafka/topics.h"

ABSL_FLAG(int, partitions, 4, "Partitions of each topic");
ABSL_FLAG(int, brokers, 1, "Number of mock brokers");
ABSL_FLAG(std::string, bootstrap_file, "", "Where to write the bootstrap address (host:port,...)");
ABSL_FLAG(int, control_port, 0, "Loopback port for fault commands (0: none); see the top of main.cc");

namespace {
std::atomic<bool> stop{false};
void OnSignal(int) { stop = true; }

// Applies one control command to the cluster; returns the reply line.
std::string Apply(rd_kafka_mock_cluster_t* cluster, const std::string& line) {
  std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
  std::vector<int> n;
  for (size_t i = 1; i < words.size(); ++i) {
    int value = 0;
    if (!absl::SimpleAtoi(words[i], &value)) return absl::StrCat("error: not a number: ", words[i]);
    n.push_back(value);
  }
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  const std::string verb = words.empty() ? "" : words[0];
  if (verb == "down" && n.size() == 1) {
    code = rd_kafka_mock_broker_set_down(cluster, n[0]);
  } else if (verb == "up" && n.size() == 1) {
    code = rd_kafka_mock_broker_set_up(cluster, n[0]);
  } else if (verb == "rtt" && n.size() == 2) {
    code = rd_kafka_mock_broker_set_rtt(cluster, n[0], n[1]);
  } else if (verb == "error" && n.size() == 3 && n[2] > 0) {
    std::vector<rd_kafka_resp_err_t> errors(n[2], static_cast<rd_kafka_resp_err_t>(n[1]));
    rd_kafka_mock_push_request_errors_array(cluster, n[0], errors.size(), errors.data());
  } else if (verb == "clear" && n.empty()) {
    for (int16_t api = 0; api < 70; ++api) rd_kafka_mock_clear_request_errors(cluster, api);
  } else {
    return absl::StrCat("error: unknown command: ", line);
  }
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) return absl::StrCat("error: ", rd_kafka_err2str(code));
  upshift::LogInfo(absl::StrCat("fault command: ", line));
  return "ok";
}

// Serves control commands on 127.0.0.1:`port`, one connection at a time, until `stop`.
void ServeControl(rd_kafka_mock_cluster_t* cluster, int port) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 4) != 0) {
    upshift::LogError(absl::StrCat("cannot listen for control commands on port ", port));
    stop = true;
    return;
  }
  while (!stop) {
    pollfd p = {listener, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int conn = accept(listener, nullptr, nullptr);
    if (conn < 0) continue;
    std::string buffer;
    char chunk[256];
    while (!stop) {
      pollfd c = {conn, POLLIN, 0};
      if (poll(&c, 1, 100) <= 0) continue;
      ssize_t got = read(conn, chunk, sizeof chunk);
      if (got <= 0) break;
      buffer.append(chunk, static_cast<size_t>(got));
      for (size_t end; (end = buffer.find('\n')) != std::string::npos;) {
        std::string reply = Apply(cluster, std::string(absl::StripAsciiWhitespace(buffer.substr(0, end)))) + "\n";
        buffer.erase(0, end + 1);
        (void)!write(conn, reply.data(), reply.size());
      }
    }
    close(conn);
  }
  close(listener);
}

}  // namespace

int main(int argc, char** argv) {
  upshift::ParseFlagsWithEnv(argc, argv);
  upshift::SetLogName("devbroker");
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    upshift::LogError(absl::StrCat("cannot create the host handle: ", err));
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, absl::GetFlag(FLAGS_brokers));
  if (cluster == nullptr) {
    upshift::LogError("cannot create the mock cluster");
    return 1;
  }
  for (const char* topic : {upshift::topics::kOrders, upshift::topics::kEvents, upshift::topics::kStatus,
                            upshift::topics::kAudit, upshift::topics::kDeadLetters}) {
    rd_kafka_resp_err_t code =
        rd_kafka_mock_topic_create(cluster, topic, absl::GetFlag(FLAGS_partitions), absl::GetFlag(FLAGS_brokers));
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      upshift::LogError(absl::StrCat("cannot create topic ", topic, ": ", rd_kafka_err2str(code)));
      return 1;
    }
  }
  std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  std::string file = absl::GetFlag(FLAGS_bootstrap_file);
  if (!file.empty()) {
    std::string tmp = file + ".tmp";
    std::ofstream(tmp) << bootstrap << "\n";
    std::filesystem::rename(tmp, file);
  }
  std::printf("%s\n", bootstrap.c_str());
  std::fflush(stdout);
  upshift::LogInfo(absl::StrCat("serving on ", bootstrap, " with ", absl::GetFlag(FLAGS_partitions),
                                " partitions per topic"));
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::thread control;
  if (int port = absl::GetFlag(FLAGS_control_port); port > 0) control = std::thread(ServeControl, cluster, port);
  while (!stop) absl::SleepFor(absl::Milliseconds(100));
  if (control.joinable()) control.join();
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  if (!file.empty()) std::filesystem::remove(file);
  upshift::LogInfo("stopped");
  return 0;
}
