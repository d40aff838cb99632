#include "libs/metrics/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace upshift::metrics {
namespace {

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrFormat("%.17g", v);
}

// A label value in the text format: backslash, double quote and newline escaped.
std::string EscapeLabel(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// HELP text: backslash and newline escaped.
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

// `{a="1",b="2"}` with `extra` (le="...") last; empty when there is no label at all.
std::string LabelSet(const std::vector<std::string>& names, const Labels& values, absl::string_view extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"", EscapeLabel(values[i]), "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, out.empty() ? "" : ",", extra);
  return out.empty() ? "" : absl::StrCat("{", out, "}");
}

Family& LabelErrors() {
  static Family& family = Default().Counter("upshift_metrics_label_errors_total",
                                            "Samples dropped because their label values did not match their family");
  return family;
}

}  // namespace

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(buckets)) {}

Family::Sample* Family::Find(const Labels& labels) {
  if (labels.size() != label_names_.size()) return nullptr;
  auto [it, inserted] = samples_.try_emplace(labels);
  if (inserted && type_ == Type::kHistogram) it->second.buckets.assign(bounds_.size(), 0);
  return &it->second;
}

void Family::Increment(const Labels& labels, double by) {
  if (type_ == Type::kCounter && by < 0) return;
  Sample* sample = nullptr;
  {
    absl::MutexLock lock(&mu_);
    sample = type_ == Type::kHistogram ? nullptr : Find(labels);
    if (sample != nullptr) sample->value += by;
  }
  if (sample == nullptr && this != &LabelErrors()) LabelErrors().Increment();
}

void Family::Set(const Labels& labels, double value) {
  Sample* sample = nullptr;
  {
    absl::MutexLock lock(&mu_);
    sample = type_ == Type::kHistogram ? nullptr : Find(labels);
    if (sample != nullptr) sample->value = value;
  }
  if (sample == nullptr) LabelErrors().Increment();
}

void Family::Observe(const Labels& labels, double value) {
  Sample* sample = nullptr;
  {
    absl::MutexLock lock(&mu_);
    sample = type_ == Type::kHistogram ? Find(labels) : nullptr;
    if (sample != nullptr) {
      for (size_t i = 0; i < bounds_.size(); ++i) {
        if (value <= bounds_[i]) {
          ++sample->buckets[i];
          break;
        }
      }
      sample->value += value;
      ++sample->count;
    }
  }
  if (sample == nullptr) LabelErrors().Increment();
}

void Family::Clear() {
  absl::MutexLock lock(&mu_);
  samples_.clear();
}

void Family::Write(std::string& out) const {
  absl::MutexLock lock(&mu_);
  absl::StrAppend(&out, "# HELP ", name_, " ", EscapeHelp(help_), "\n# TYPE ", name_, " ", TypeName(type_), "\n");
  // A family without labels is shown at zero before its first sample, so that rate() sees it start.
  if (samples_.empty() && label_names_.empty()) {
    if (type_ == Type::kHistogram) {
      for (double bound : bounds_) absl::StrAppend(&out, name_, "_bucket{le=\"", FormatValue(bound), "\"} 0\n");
      absl::StrAppend(&out, name_, "_bucket{le=\"+Inf\"} 0\n", name_, "_sum 0\n", name_, "_count 0\n");
    } else {
      absl::StrAppend(&out, name_, " 0\n");
    }
    return;
  }
  for (const auto& [labels, sample] : samples_) {
    if (type_ != Type::kHistogram) {
      absl::StrAppend(&out, name_, LabelSet(label_names_, labels), " ", FormatValue(sample.value), "\n");
      continue;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += sample.buckets[i];
      absl::StrAppend(&out, name_, "_bucket",
                      LabelSet(label_names_, labels, absl::StrCat("le=\"", FormatValue(bounds_[i]), "\"")), " ",
                      cumulative, "\n");
    }
    absl::StrAppend(&out, name_, "_bucket", LabelSet(label_names_, labels, "le=\"+Inf\""), " ", sample.count, "\n",
                    name_, "_sum", LabelSet(label_names_, labels), " ", FormatValue(sample.value), "\n", name_,
                    "_count", LabelSet(label_names_, labels), " ", sample.count, "\n");
  }
}

Family& Registry::Add(const std::string& name, const std::string& help, Type type,
                      std::vector<std::string> label_names, std::vector<double> buckets) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Family>& family = families_[name];
  if (family == nullptr) {
    family = std::make_unique<Family>(name, help, type, std::move(label_names), std::move(buckets));
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
  std::vector<const Family*> families;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  std::string out;
  for (const Family* family : families) family->Write(out);
  return out;
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
