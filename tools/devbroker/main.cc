// devbroker: one process hosting librdkafka's mock cluster, a Kafka-protocol broker for local runs
// and tests. It creates Upshift's topics, writes its bootstrap address to a file, and serves until
// SIGTERM or SIGINT. Holds no data across restarts; not for production.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/env_flags.h"
#include "libs/common/logging.h"
#include "libs/kafka/topics.h"

ABSL_FLAG(int, partitions, 4, "Partitions of each topic");
ABSL_FLAG(int, brokers, 1, "Number of mock brokers");
ABSL_FLAG(std::string, bootstrap_file, "", "Where to write the bootstrap address (host:port,...)");

namespace {
std::atomic<bool> stop{false};
void OnSignal(int) { stop = true; }
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
                            upshift::topics::kDeadLetters}) {
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
  while (!stop) absl::SleepFor(absl::Milliseconds(100));
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  if (!file.empty()) std::filesystem::remove(file);
  upshift::LogInfo("stopped");
  return 0;
}
