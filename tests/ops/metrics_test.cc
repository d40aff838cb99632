// What the services tell Prometheus, read by a real Prometheus (Debian's `prometheus`) scraping the
// five binaries over HTTPS after a Test upgrade, and linted by `promtool check metrics`.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/support/http.h"
#include "tests/support/platform.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace upshift::testing {
namespace {

using namespace upgrade::v1;

const std::vector<std::string> kServices = {"request", "status", "cloner", "migrator", "notifier"};

Platform* platform = nullptr;
std::string* test_upgrade_id = nullptr;

// One platform, on which one Test upgrade ran to its end before any test.
class MetricsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Platform>> p = Platform::Start({});
    ASSERT_TRUE(p.ok()) << p.status();
    owned_ = *std::move(p);
    platform = owned_.get();
    ASSERT_TRUE(platform->postgres().GenerateSampleDatabase("metered", 50).ok());
    RequestUpgradeRequest req;
    req.set_database("metered");
    req.set_target_version("18.0");
    req.set_notify_email("owner@metered.example");
    req.set_purpose(PURPOSE_TEST);
    RequestUpgradeResponse resp;
    grpc::Status s = platform->requests().RequestUpgrade(Context().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    test_upgrade_id = new std::string(resp.upgrade().upgrade_id());
    bool ended = WaitFor(
        [&] {
          GetUpgradeRequest get;
          get.set_upgrade_id(*test_upgrade_id);
          Upgrade u;
          return platform->status().GetUpgrade(Context().get(), get, &u).ok() && u.state() == STATE_SUCCEEDED;
        },
        absl::Minutes(3));
    ASSERT_TRUE(ended) << platform->Logs();
  }
  void TearDown() override {
    platform = nullptr;
    owned_.reset();
  }

 private:
  std::unique_ptr<Platform> owned_;
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new MetricsEnvironment());

std::string Scrape(const std::string& service) {
  absl::StatusOr<std::string> body =
      HttpGet(platform->metrics_address(service), "/metrics", platform->tls_dir() + "/ca.pem");
  EXPECT_TRUE(body.ok()) << service << ": " << body.status();
  return body.ok() ? *body : "";
}

// The value of the sample written exactly as `series` (name and labels), or -1.
double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return -1;
}

TEST(Metrics, EveryServiceServesMetricsThatPromtoolAccepts) {
  for (const std::string& service : kServices) {
    std::string text = Scrape(service);
    const std::string file = absl::StrCat(platform->log_dir(), "/", service, ".metrics");
    std::ofstream(file) << text;
    absl::Status linted = RunCommand({{"/bin/sh", "-c", absl::StrCat("promtool check metrics < ", file)}, {}, "", ""});
    EXPECT_TRUE(linted.ok()) << service << ": " << linted;
    EXPECT_EQ(Sample(text, absl::StrCat("upshift_build_info{binary=\"", service, "\",version=\"0.15.0\"}")), 1)
        << text;
    EXPECT_GT(Sample(text, "process_resident_memory_bytes"), 1 << 20) << service;
    EXPECT_GT(Sample(text, "process_open_fds"), 3) << service;
  }
}

TEST(Metrics, TheTestUpgradeIsCountedWhereItHappened) {
  std::string request = Scrape("request");
  EXPECT_GE(Sample(request, "upshift_grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"RequestUpgrade\","
                            "grpc_service=\"upgrade.v1.UpgradeService\"}"),
            1)
      << request;
  EXPECT_GE(Sample(request, "upshift_grpc_server_handling_seconds_count{grpc_method=\"RequestUpgrade\","
                            "grpc_service=\"upgrade.v1.UpgradeService\"}"),
            1);
  EXPECT_EQ(Sample(request, "upshift_outbox_rows{outbox=\"request\"}"), 0) << request;
  EXPECT_GE(Sample(request, "upshift_pg_pool_connections{pool=\"platform\",state=\"open\"}"), 1) << request;

  std::string cloner = Scrape("cloner");
  EXPECT_GE(Sample(cloner, "upshift_records_consumed_total{group=\"upshift-cloner\",outcome=\"done\","
                           "topic=\"upgrade.orders\"}"),
            1)
      << cloner;
  std::string migrator = Scrape("migrator");
  EXPECT_GE(Sample(migrator, "upshift_records_consumed_total{group=\"upshift-migrator\",outcome=\"done\","
                             "topic=\"upgrade.events\"}"),
            1)
      << migrator;

  std::string status = Scrape("status");
  EXPECT_EQ(Sample(status, "upshift_upgrades_finished_total{purpose=\"test\",state=\"succeeded\"}"), 1) << status;
  EXPECT_EQ(Sample(status, "upshift_upgrade_duration_seconds_count{purpose=\"test\",state=\"succeeded\"}"), 1);
  EXPECT_EQ(Sample(status, "upshift_stage_duration_seconds_count{purpose=\"test\",stage=\"copy\"}"), 1) << status;
  EXPECT_EQ(Sample(status, "upshift_stage_duration_seconds_count{purpose=\"test\",stage=\"plan\"}"), 1) << status;
  EXPECT_EQ(Sample(status, "upshift_backlog_upgrades{group=\"upshift-cloner\",kind=\"waiting\"}"), 0) << status;
  EXPECT_EQ(Sample(status, "upshift_databases_offline"), 0) << status;
  EXPECT_EQ(Sample(status, "upshift_outbox_rows{outbox=\"status\"}"), 0) << status;
}

// Prometheus' HTTP API: the samples of an instant query, as (labels, value).
std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

std::vector<std::pair<std::map<std::string, std::string>, double>> Query(const std::string& address,
                                                                          const std::string& promql) {
  std::vector<std::pair<std::map<std::string, std::string>, double>> samples;
  absl::StatusOr<std::string> body = HttpGet(address, "/api/v1/query?query=" + UrlEncode(promql), "");
  if (!body.ok()) return samples;
  google::protobuf::Struct answer;
  if (!google::protobuf::util::JsonStringToMessage(*body, &answer).ok()) return samples;
  const auto& data = answer.fields().at("data").struct_value();
  for (const auto& result : data.fields().at("result").list_value().values()) {
    std::map<std::string, std::string> labels;
    for (const auto& [k, v] : result.struct_value().fields().at("metric").struct_value().fields()) {
      labels[k] = v.string_value();
    }
    double value = 0;
    (void)absl::SimpleAtod(result.struct_value().fields().at("value").list_value().values(1).string_value(), &value);
    samples.push_back({labels, value});
  }
  return samples;
}

TEST(Metrics, ARealPrometheusScrapesEveryServiceOverHttps) {
  const std::string dir = platform->log_dir() + "/prometheus";
  std::filesystem::create_directories(dir + "/data");
  // The alert rules operators deploy, evaluated on what the services serve.
  std::string config = absl::StrCat("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n",
                                    "rule_files:\n  - ", SourceDir(), "/deploy/monitoring/rules.yaml\nscrape_configs:\n");
  for (const std::string& service : kServices) {
    // The target labels a prometheus-operator ServiceMonitor gives each target (its relabelling's
    // result), so that a metric label colliding with one shows here as exported_<name>.
    absl::StrAppend(&config, "  - job_name: upshift-", service, "\n    scheme: https\n    tls_config:\n      ca_file: ",
                    platform->tls_dir(), "/ca.pem\n    static_configs:\n      - targets: ['",
                    platform->metrics_address(service), "']\n        labels: {namespace: upshift, service: upshift-",
                    service, ", pod: upshift-", service, "-0, container: ", service, ", endpoint: metrics}\n");
  }
  std::ofstream(dir + "/prometheus.yml") << config;
  ASSERT_TRUE(RunCommand({{"promtool", "check", "config", dir + "/prometheus.yml"}, {}, "", ""}).ok());
  const std::string address = absl::StrCat("127.0.0.1:", FreePort());
  absl::StatusOr<std::unique_ptr<ChildProcess>> prometheus = ChildProcess::Start(
      {{"prometheus", "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
        "--web.listen-address=" + address},
       {},
       dir + "/prometheus.log",
       ""});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  bool all_up = WaitFor(
      [&] {
        auto up = Query(address, "up == 1");
        return up.size() == kServices.size();
      },
      absl::Seconds(60));
  ASSERT_TRUE(all_up) << Tail(dir + "/prometheus.log");
  std::set<std::string> jobs;
  for (const auto& [labels, value] : Query(address, "process_resident_memory_bytes")) {
    jobs.insert(labels.at("job"));
    EXPECT_GT(value, 1 << 20) << labels.at("job");
  }
  std::set<std::string> expected_jobs;
  for (const std::string& service : kServices) expected_jobs.insert("upshift-" + service);
  EXPECT_EQ(jobs, expected_jobs);
  // No metric label collides with a target label: Prometheus would rename it exported_<name>, and
  // every query by that label (the dashboard's filters) would find nothing.
  for (const auto& [labels, value] : Query(address, "{job=~\"upshift-.*\"}")) {
    for (const auto& [name, label_value] : labels) {
      EXPECT_FALSE(absl::StartsWith(name, "exported_")) << labels.at("__name__") << " has " << name;
    }
    EXPECT_EQ(labels.at("namespace"), "upshift");
  }
  // The figure the workers' autoscalers read (UpshiftBacklogUnknown fires without it).
  for (const char* group : {"upshift-cloner", "upshift-migrator"}) {
    EXPECT_FALSE(Query(address, absl::StrCat("upshift_backlog_upgrades{namespace=\"upshift\",group=\"", group, "\"}")).empty())
        << group;
  }
  auto finished = Query(address, "upshift_upgrades_finished_total{purpose=\"test\",state=\"succeeded\"}");
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].first.at("job"), "upshift-status");
  EXPECT_EQ(finished[0].second, 1);
  auto copies = Query(address, "sum by (stage) (upshift_stage_duration_seconds_count{purpose=\"test\"})");
  std::map<std::string, double> by_stage;
  for (const auto& [labels, value] : copies) by_stage[labels.at("stage")] = value;
  EXPECT_EQ(by_stage["copy"], 1);
  EXPECT_EQ(by_stage["plan"], 1);
  // A histogram's quantile works on what it scraped: the copy took more than nothing.
  auto p99 = Query(address, "histogram_quantile(0.99, sum by (le) (upshift_stage_duration_seconds_bucket{stage=\"copy\"}))");
  ASSERT_EQ(p99.size(), 1u);
  EXPECT_GT(p99[0].second, 0);
  auto consumed = Query(address, "sum by (group) (upshift_records_consumed_total{outcome=\"done\"})");
  std::set<std::string> groups;
  for (const auto& [labels, value] : consumed) {
    if (value > 0) groups.insert(labels.at("group"));
  }
  EXPECT_EQ(groups, (std::set<std::string>{"upshift-cloner", "upshift-migrator", "upshift-notifier", "upshift-request",
                                           "upshift-status"}));

  // Every panel of the dashboard asks Prometheus something it can answer.
  std::ifstream file(SourceDir() + "/deploy/monitoring/grafana-dashboard.json");
  std::string json((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  google::protobuf::Struct dashboard;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &dashboard).ok());
  int exprs = 0;
  for (const auto& panel : dashboard.fields().at("panels").list_value().values()) {
    for (const auto& target : panel.struct_value().fields().at("targets").list_value().values()) {
      const std::string expr = target.struct_value().fields().at("expr").string_value();
      absl::StatusOr<std::string> answer = HttpGet(address, "/api/v1/query?query=" + UrlEncode(expr), "");
      EXPECT_TRUE(answer.ok() && absl::StrContains(*answer, "\"status\":\"success\"")) << expr << ": " << answer.status();
      ++exprs;
    }
  }
  EXPECT_GT(exprs, 10);

  // The alert rules were loaded and evaluate without error; none fires on a healthy platform.
  bool evaluated = WaitFor(
      [&] {
        absl::StatusOr<std::string> rules = HttpGet(address, "/api/v1/rules", "");
        return rules.ok() && absl::StrContains(*rules, "UpshiftDatabaseOfflineTooLong") &&
               absl::StrContains(*rules, "\"lastEvaluation\"") && !absl::StrContains(*rules, "\"health\":\"unknown\"");
      },
      absl::Seconds(30));
  ASSERT_TRUE(evaluated);
  absl::StatusOr<std::string> rules = HttpGet(address, "/api/v1/rules", "");
  ASSERT_TRUE(rules.ok());
  EXPECT_FALSE(absl::StrContains(*rules, "\"health\":\"err\"")) << *rules;
  EXPECT_TRUE(Query(address, "ALERTS{alertstate=\"firing\"}").empty());
  (*prometheus)->Stop();
}

}  // namespace
}  // namespace upshift::testing
