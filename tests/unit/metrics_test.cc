#include "libs/metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace upshift::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(Metrics, CounterWithLabelsIsWrittenInTheTextFormat) {
  Registry registry;
  Family& calls = registry.Counter("upshift_calls_total", "Calls, by method", {"method", "code"});
  calls.Increment({"Get", "OK"});
  calls.Increment({"Get", "OK"}, 2);
  calls.Increment({"Put", "NOT_FOUND"});
  const std::string text = registry.Expose();
  EXPECT_THAT(text, StartsWith("# HELP upshift_calls_total Calls, by method\n"
                               "# TYPE upshift_calls_total counter\n"));
  // Labels are written in name order (prometheus-cpp's), samples in any order.
  EXPECT_THAT(text, HasSubstr("\nupshift_calls_total{code=\"OK\",method=\"Get\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("\nupshift_calls_total{code=\"NOT_FOUND\",method=\"Put\"} 1\n"));
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(text, '\n')).size(), 5u) << text;
}

TEST(Metrics, CounterNeverGoesDown) {
  Registry registry;
  Family& c = registry.Counter("upshift_things_total", "Things");
  c.Increment({}, 5);
  c.Increment({}, -3);
  EXPECT_THAT(registry.Expose(), HasSubstr("\nupshift_things_total 5\n"));
}

TEST(Metrics, FamilyWithoutLabelsStartsAtZero) {
  Registry registry;
  registry.Counter("upshift_started_total", "Started");
  registry.Histogram("upshift_wait_seconds", "Wait", {}, {1, 2});
  const std::string text = registry.Expose();
  EXPECT_THAT(text, StartsWith("# HELP upshift_started_total Started\n# TYPE upshift_started_total counter\n"
                               "upshift_started_total 0\n"
                               "# HELP upshift_wait_seconds Wait\n# TYPE upshift_wait_seconds histogram\n"));
  for (const char* line : {"upshift_wait_seconds_bucket{le=\"1\"} 0\n", "upshift_wait_seconds_bucket{le=\"2\"} 0\n",
                           "upshift_wait_seconds_bucket{le=\"+Inf\"} 0\n", "upshift_wait_seconds_sum 0\n",
                           "upshift_wait_seconds_count 0\n"}) {
    EXPECT_THAT(text, HasSubstr(line));
  }
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry registry;
  Family& h = registry.Histogram("upshift_copy_duration_seconds", "Copies", {"purpose"}, {1, 10, 100});
  h.Observe({"test"}, 0.5);
  h.Observe({"test"}, 1);  // on a bound: counted in it
  h.Observe({"test"}, 50);
  h.Observe({"test"}, 1000);
  const std::string text = registry.Expose();
  EXPECT_THAT(text, HasSubstr("upshift_copy_duration_seconds_bucket{purpose=\"test\",le=\"1\"} 2\n"
                              "upshift_copy_duration_seconds_bucket{purpose=\"test\",le=\"10\"} 2\n"
                              "upshift_copy_duration_seconds_bucket{purpose=\"test\",le=\"100\"} 3\n"
                              "upshift_copy_duration_seconds_bucket{purpose=\"test\",le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("upshift_copy_duration_seconds_sum{purpose=\"test\"} 1051.5\n"));
  EXPECT_THAT(text, HasSubstr("upshift_copy_duration_seconds_count{purpose=\"test\"} 4\n"));
}

TEST(Metrics, GaugesGoBothWaysAndACounterIsNeverSetBack) {
  Registry registry;
  Family& g = registry.Gauge("upshift_level", "Level");
  g.Increment({}, 5);
  g.Increment({}, -2);
  EXPECT_THAT(registry.Expose(), HasSubstr("\nupshift_level 3\n"));
  Family& c = registry.Counter("upshift_cpu_total", "CPU");
  c.Set({}, 7.5);
  c.Set({}, 2);
  EXPECT_THAT(registry.Expose(), HasSubstr("\nupshift_cpu_total 7.5\n"));
}

TEST(Metrics, ClearForgetsEverySample) {
  Registry registry;
  Family& g = registry.Gauge("upshift_per_server", "Per server", {"server"});
  g.Set({"pg-1"}, 1);
  g.Set({"pg-2"}, 2);
  g.Clear();
  g.Set({"pg-2"}, 4);
  const std::string text = registry.Expose();
  EXPECT_THAT(text, Not(HasSubstr("pg-1"))) << text;
  EXPECT_THAT(text, HasSubstr("upshift_per_server{server=\"pg-2\"} 4\n"));
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  Family& g = registry.Gauge("upshift_odd", "Help with \\ and\nnewline", {"value"});
  g.Set({"a\"b\\c\nd"}, 1.25);
  EXPECT_EQ(registry.Expose(),
            "# HELP upshift_odd Help with \\\\ and\\nnewline\n# TYPE upshift_odd gauge\n"
            "upshift_odd{value=\"a\\\"b\\\\c\\nd\"} 1.25\n");
}

TEST(Metrics, WrongLabelCountIsDroppedAndCounted) {
  Registry registry;
  Family& c = registry.Counter("upshift_x_total", "X", {"a"});
  c.Increment({"1", "2"});
  c.Increment({});
  EXPECT_THAT(registry.Expose(), Not(HasSubstr("upshift_x_total{")));
  // The count of dropped samples is in the process's registry.
  EXPECT_THAT(Default().Expose(), HasSubstr("upshift_metrics_label_errors_total"));
}

TEST(Metrics, CollectorsRunAtEachScrapeAndCanBeRemoved) {
  Registry registry;
  Family& depth = registry.Gauge("upshift_outbox_rows", "Rows");
  int scrapes = 0;
  int id = registry.OnScrape([&] { depth.Set({}, ++scrapes * 10); });
  EXPECT_THAT(registry.Expose(), HasSubstr("upshift_outbox_rows 10\n"));
  EXPECT_THAT(registry.Expose(), HasSubstr("upshift_outbox_rows 20\n"));
  registry.RemoveOnScrape(id);
  EXPECT_THAT(registry.Expose(), HasSubstr("upshift_outbox_rows 20\n"));
  EXPECT_EQ(scrapes, 2);
}

TEST(Metrics, ProcessMetricsAreRead) {
  Registry registry;
  AddProcessMetrics(registry);
  std::string text = registry.Expose();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ",
                           "process_max_fds ", "process_start_time_seconds ", "process_threads ",
                           "process_virtual_memory_bytes "}) {
    EXPECT_THAT(text, HasSubstr(std::string("\n") + name)) << text;
  }
  // Resident memory of a running test binary is some megabytes, not zero.
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, "process_resident_memory_bytes ")) {
      double bytes = 0;
      ASSERT_TRUE(absl::SimpleAtod(line, &bytes));
      EXPECT_GT(bytes, 1 << 20);
    }
  }
}

}  // namespace
}  // namespace upshift::metrics
