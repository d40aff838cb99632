#include "libs/metrics/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace upshift::metrics {
namespace {

// prometheus-cpp 1.0 writes HELP text as given: backslash and newline are escaped here, as the
// text format asks.
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Family& LabelErrors() {
  static Family& family = Default().Counter("upshift_metrics_label_errors_total",
                                            "Samples dropped because their label values did not match their family");
  return family;
}

}  // namespace

Family::Family(prometheus::Registry& registry, const std::string& name, const std::string& help, Type type,
               std::vector<std::string> label_names, std::vector<double> buckets)
    : name_(name), type_(type), label_names_(std::move(label_names)), bounds_(std::move(buckets)) {
  const std::string escaped = EscapeHelp(help);
  switch (type_) {
    case Type::kCounter:
      counters_ = &prometheus::BuildCounter().Name(name).Help(escaped).Register(registry);
      break;
    case Type::kGauge:
      gauges_ = &prometheus::BuildGauge().Name(name).Help(escaped).Register(registry);
      break;
    case Type::kHistogram:
      histograms_ = &prometheus::BuildHistogram().Name(name).Help(escaped).Register(registry);
      break;
  }
  // A family without labels is shown at zero before its first sample, so that rate() sees it start.
  if (label_names_.empty()) {
    absl::MutexLock lock(&mu_);
    Find({});
  }
}

Family::~Family() = default;

Family::Child* Family::Find(const Labels& labels) {
  if (labels.size() != label_names_.size()) return nullptr;
  auto [it, inserted] = children_.try_emplace(labels);
  if (inserted) {
    std::map<std::string, std::string> named;
    for (size_t i = 0; i < labels.size(); ++i) named.emplace(label_names_[i], labels[i]);
    if (counters_ != nullptr) it->second.counter = &counters_->Add(named);
    if (gauges_ != nullptr) it->second.gauge = &gauges_->Add(named);
    if (histograms_ != nullptr) it->second.histogram = &histograms_->Add(named, bounds_);
  }
  return &it->second;
}

void Family::Increment(const Labels& labels, double by) {
  bool counted = false;
  {
    absl::MutexLock lock(&mu_);
    Child* child = type_ == Type::kHistogram ? nullptr : Find(labels);
    if (child != nullptr) {
      counted = true;
      if (child->counter != nullptr) {
        child->counter->Increment(by);  // ignores a negative `by`
      } else if (by >= 0) {
        child->gauge->Increment(by);
      } else {
        child->gauge->Decrement(-by);
      }
    }
  }
  if (!counted && this != &LabelErrors()) LabelErrors().Increment();
}

void Family::Set(const Labels& labels, double value) {
  bool set = false;
  {
    absl::MutexLock lock(&mu_);
    Child* child = type_ == Type::kHistogram ? nullptr : Find(labels);
    if (child != nullptr) {
      set = true;
      if (child->gauge != nullptr) {
        child->gauge->Set(value);
      } else if (value > child->counter->Value()) {
        child->counter->Increment(value - child->counter->Value());  // a counter is never set back
      }
    }
  }
  if (!set) LabelErrors().Increment();
}

void Family::Observe(const Labels& labels, double value) {
  bool observed = false;
  {
    absl::MutexLock lock(&mu_);
    Child* child = type_ == Type::kHistogram ? Find(labels) : nullptr;
    if (child != nullptr) {
      observed = true;
      child->histogram->Observe(value);
    }
  }
  if (!observed) LabelErrors().Increment();
}

void Family::Remove(const Child& child) {
  if (child.counter != nullptr) counters_->Remove(child.counter);
  if (child.gauge != nullptr) gauges_->Remove(child.gauge);
  if (child.histogram != nullptr) histograms_->Remove(child.histogram);
}

void Family::Clear() {
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, child] : children_) Remove(child);
  children_.clear();
  if (label_names_.empty()) Find({});
}

Registry::Registry() : registry_(std::make_unique<prometheus::Registry>()) {}

Registry::~Registry() = default;

Family& Registry::Add(const std::string& name, const std::string& help, Type type,
                      std::vector<std::string> label_names, std::vector<double> buckets) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Family>& family = families_[name];
  if (family == nullptr) {
    family = std::make_unique<Family>(*registry_, name, help, type, std::move(label_names), std::move(buckets));
  }
  return *family;
}

Family& Registry::Counter(const std::string& name, const std::string& help, std::vector<std::string> label_names) {
  return Add(name, help, Type::kCounter, std::move(label_names), {});
}

Family& Registry::Gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names) {
  return Add(name, help, Type::kGauge, std::move(label_names), {});
}

Family& Registry::Histogram(const std::string& name, const std::string& help, std::vector<std::string> label_names,
                            std::vector<double> buckets) {
  return Add(name, help, Type::kHistogram, std::move(label_names), std::move(buckets));
}

int Registry::OnScrape(std::function<void()> collect) {
  absl::MutexLock lock(&scrape_mu_);
  collectors_[next_collector_] = std::move(collect);
  return next_collector_++;
}

void Registry::RemoveOnScrape(int id) {
  absl::MutexLock lock(&scrape_mu_);
  collectors_.erase(id);
}

std::string Registry::Expose() {
  {
    absl::MutexLock lock(&scrape_mu_);
    for (const auto& [id, collect] : collectors_) collect();
  }
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::sort(families.begin(), families.end(),
            [](const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) { return a.name < b.name; });
  return prometheus::TextSerializer().Serialize(families);
}

Registry& Default() {
  static Registry* registry = new Registry();  // never destroyed: threads may count until the very end
  return *registry;
}

std::vector<double> RequestBuckets() { return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}; }

std::vector<double> StageBuckets() { return {1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 21600}; }

void AddProcessMetrics(Registry& registry) {
  Family& cpu = registry.Counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds");
  Family& resident = registry.Gauge("process_resident_memory_bytes", "Resident memory size, in bytes");
  Family& virtual_memory = registry.Gauge("process_virtual_memory_bytes", "Virtual memory size, in bytes");
  Family& open_fds = registry.Gauge("process_open_fds", "Open file descriptors");
  Family& max_fds = registry.Gauge("process_max_fds", "Maximum number of open file descriptors");
  Family& start = registry.Gauge("process_start_time_seconds", "Start time of the process since the epoch, in seconds");
  Family& threads = registry.Gauge("process_threads", "Threads of the process");
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  double boot_time = 0;
  std::ifstream proc_stat("/proc/stat");
  for (std::string line; std::getline(proc_stat, line);) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "btime ")) (void)absl::SimpleAtod(rest, &boot_time);
  }
  registry.OnScrape([=, &cpu, &resident, &virtual_memory, &open_fds, &max_fds, &start, &threads] {
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // The command name, in parentheses, may hold spaces: fields are counted after its ')'.
    size_t end = stat.rfind(')');
    if (end != std::string::npos) {
      std::vector<std::string> f = absl::StrSplit(stat.substr(end + 2), ' ');
      // Fields from the state (field 3 of proc(5)): utime 14, stime 15, threads 20, starttime 22,
      // vsize 23, rss 24, each at index (n - 3).
      auto field = [&f](size_t n) {
        double v = 0;
        if (n - 3 < f.size()) (void)absl::SimpleAtod(f[n - 3], &v);
        return v;
      };
      cpu.Set({}, (field(14) + field(15)) / ticks);
      threads.Set({}, field(20));
      start.Set({}, boot_time + field(22) / ticks);
      virtual_memory.Set({}, field(23));
      resident.Set({}, field(24) * page);
    }
    int fds = 0;
    if (DIR* dir = opendir("/proc/self/fd"); dir != nullptr) {
      while (dirent* entry = readdir(dir)) fds += entry->d_name[0] != '.';
      closedir(dir);
      --fds;  // the directory's own descriptor
    }
    open_fds.Set({}, fds);
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) max_fds.Set({}, static_cast<double>(limit.rlim_cur));
  });
}

}  // namespace upshift::metrics
