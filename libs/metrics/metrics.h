#ifndef UPSHIFT_LIBS_METRICS_METRICS_H_
#define UPSHIFT_LIBS_METRICS_METRICS_H_

// Metrics in the Prometheus text exposition format (version 0.0.4), served by MetricsServer.
// Names follow Prometheus' conventions: an `upshift_` prefix (process_* aside), base units
// (seconds, bytes), `_total` on counters.
//
// The families, their samples and the text format are prometheus-cpp's (Debian's
// prometheus-cpp-dev, its core library). This file is our thin front to it: label values by
// position, a count of mismatched labels instead of an exception, and collectors run at each scrape.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace upshift::metrics {

// The values of a family's labels, in the order of its label names.
using Labels = std::vector<std::string>;

enum class Type { kCounter, kGauge, kHistogram };

// One metric family: its name, type and label names, and a value (or a histogram) per set of
// label values. Thread-safe. A wrong number of label values is a programming error: the sample is
// dropped (and counted in upshift_metrics_label_errors_total).
class Family {
 public:
  Family(prometheus::Registry& registry, const std::string& name, const std::string& help, Type type,
         std::vector<std::string> label_names, std::vector<double> buckets);
  ~Family();
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // Counters and gauges. A counter only grows: a negative `by` is ignored.
  void Increment(const Labels& labels = {}, double by = 1);
  // Gauges, and counters whose total is read from elsewhere at each scrape (process_cpu_seconds_total).
  void Set(const Labels& labels, double value);
  // Histograms.
  void Observe(const Labels& labels, double value);
  void ObserveDuration(const Labels& labels, absl::Duration d) { Observe(labels, absl::ToDoubleSeconds(d)); }
  // Forgets every sample: for a gauge a collector fills again at each scrape.
  void Clear();

  const std::string& name() const { return name_; }
  Type type() const { return type_; }

 private:
  // The library's metric for one set of label values, made at its first use.
  struct Child {
    prometheus::Counter* counter = nullptr;
    prometheus::Gauge* gauge = nullptr;
    prometheus::Histogram* histogram = nullptr;
  };
  Child* Find(const Labels& labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // nullptr on a label count mismatch
  void Remove(const Child& child) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const Type type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  prometheus::Family<prometheus::Counter>* counters_ = nullptr;
  prometheus::Family<prometheus::Gauge>* gauges_ = nullptr;
  prometheus::Family<prometheus::Histogram>* histograms_ = nullptr;
  // Held while a child is used, so that Clear never removes one mid-call.
  mutable absl::Mutex mu_;
  std::map<Labels, Child> children_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The family of that name, made at the first call. Later calls return the same family; their
  // help, label names and buckets must match (they are not checked again).
  Family& Counter(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family& Gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family& Histogram(const std::string& name, const std::string& help, std::vector<std::string> label_names,
                    std::vector<double> buckets);

  // Called at each scrape, before the families are written: for values read then (a queue's depth).
  // `collect` must outlive the registry's scrapes (remove it with the returned id).
  int OnScrape(std::function<void()> collect);
  void RemoveOnScrape(int id);

  // Every family, sorted by name, in the text format.
  std::string Expose();

 private:
  Family& Add(const std::string& name, const std::string& help, Type type, std::vector<std::string> label_names,
              std::vector<double> buckets);
  const std::unique_ptr<prometheus::Registry> registry_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
  absl::Mutex scrape_mu_;  // held while the collectors run, so that one is never removed mid-call
  std::map<int, std::function<void()>> collectors_ ABSL_GUARDED_BY(scrape_mu_);
  int next_collector_ ABSL_GUARDED_BY(scrape_mu_) = 0;
};

// The process's registry, which the libraries (consumers, gRPC servers, pools) and the services use.
Registry& Default();

// Histogram bounds in seconds: for requests (5 ms to 10 s), and for stages of an upgrade (1 s to 6 h).
std::vector<double> RequestBuckets();
std::vector<double> StageBuckets();

// The standard process_* metrics, read from /proc at each scrape: CPU seconds, resident and virtual
// memory, open and maximum file descriptors, start time, threads.
void AddProcessMetrics(Registry& registry);

// Calls `collect` at each of the default registry's scrapes while it lives.
class ScrapeHook {
 public:
  explicit ScrapeHook(std::function<void()> collect) : id_(Default().OnScrape(std::move(collect))) {}
  ~ScrapeHook() { Default().RemoveOnScrape(id_); }
  ScrapeHook(const ScrapeHook&) = delete;
  ScrapeHook& operator=(const ScrapeHook&) = delete;

 private:
  int id_;
};

}  // namespace upshift::metrics

#endif  // UPSHIFT_LIBS_METRICS_METRICS_H_
