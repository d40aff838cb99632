#include "libs/runtime/service.h"

#include <cstdio>
#include <cstdlib>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "libs/common/env_flags.h"
#include "libs/common/grpc_util.h"
#include "libs/common/logging.h"
#include "libs/common/retry.h"
#include "libs/common/signals.h"
#include "libs/common/tls_flags.h"
#include "libs/metrics/metrics.h"
#include "libs/metrics/metrics_server.h"

ABSL_FLAG(std::string, log_format, "text", "Log lines as text, or json: one object per line");
ABSL_FLAG(std::string, metrics_listen, "",
          "Address of the /metrics endpoint, HTTPS with --tls_cert (default 0.0.0.0:<the service's metrics port>; "
          "off: none)");
ABSL_FLAG(bool, grpc_reflection, false,
          "Serve gRPC server reflection on every gRPC port (it answers without a token: for debugging only)");
ABSL_FLAG(absl::Duration, health_interval, absl::Seconds(2), "How often health probes the service's dependencies");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(20),
          "After a stop signal, how long the shutdown may take before a watchdog ends the process (keep below "
          "Kubernetes' terminationGracePeriodSeconds)");

#ifndef UPSHIFT_VERSION
#define UPSHIFT_VERSION "dev"
#endif

namespace upshift::runtime {

struct Service::Server {
  std::unique_ptr<grpc::Server> server;
  std::thread health;
};

struct Service::BackgroundTask {
  std::string name;
  std::function<void(const StopToken&)> run;
  std::function<void()> wake;
  StopToken stop;
  std::thread thread;
};

Service::Service(int argc, char** argv, const ServiceSpec& spec) : name_(spec.name) {
  // A crash (SIGSEGV, SIGABRT, ...) writes the faulting thread's stack to the log before the
  // process dies of it, as it would have: the exit status still names the signal.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
  PromptReconnects();
  ParseFlagsWithEnv(argc, argv);
  SetLogName(name_);
  const std::string format = absl::GetFlag(FLAGS_log_format);
  if (format == "json") {
    SetLogFormat(LogFormat::kJson);
  } else if (format != "text") {
    Check(absl::InvalidArgumentError(absl::StrCat("--log_format must be text or json, not \"", format, "\"")),
          "read the flags");
  }
  Check(CheckRequiredFlags(), "read the flags");
  InstallStopSignals(absl::GetFlag(FLAGS_shutdown_grace));
  metrics::Registry& registry = metrics::Default();
  metrics::AddProcessMetrics(registry);
  registry.Gauge("upshift_build_info", "Always 1: the binary and the version it was built from", {"binary", "version"})
      .Set({name_, UPSHIFT_VERSION}, 1);
  std::string listen = absl::GetFlag(FLAGS_metrics_listen);
  if (listen.empty()) listen = absl::StrCat("0.0.0.0:", spec.metrics_port);
  if (listen != "off") {
    absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> server =
        metrics::MetricsServer::Start(listen, TlsOptionsFromFlags(), registry);
    Check(server.status(), "serve /metrics");
    metrics_ = *std::move(server);
    LogInfo(absl::StrCat(name_, " ", UPSHIFT_VERSION, ": metrics on port ", metrics_->port()));
  } else {
    LogWarning("--metrics_listen=off: no /metrics endpoint");
  }
}

Service::~Service() {
  if (!ran_) return;
  // main declares the Service first, so this runs once main's own objects are stopped and gone. The
  // process ends here, with Run()'s code and without static destructors, which could race the
  // threads libraries leave behind (gRPC's, librdkafka's) and turn a clean stop into a crash.
  std::fflush(nullptr);
  std::_Exit(exit_code_);
}

const StopToken& Service::stopping() const { return StopRequested(); }

void Service::Exit(int code) {
  std::fflush(stderr);
  // Nothing started needs stopping yet; the objects of main are not unwound (their threads may run).
  std::_Exit(code);
}

void Service::Check(const absl::Status& status, absl::string_view what) {
  if (status.ok()) return;
  LogError(absl::StrCat("cannot start: ", what, ": ", status.ToString()));
  Exit(kExitCannotStart);
}

void Service::AwaitReady(const std::function<absl::Status()>& attempt, absl::string_view what) {
  absl::Status permanent;
  bool ready = RetryUntilReady(
      [&] {
        absl::Status status = attempt();
        if (status.code() == absl::StatusCode::kInvalidArgument ||
            status.code() == absl::StatusCode::kFailedPrecondition) {
          permanent = status;
          return absl::OkStatus();
        }
        return status;
      },
      stopping(), what);
  Check(permanent, absl::StrCat("open the ", what));
  if (ready) return;
  LogInfo(absl::StrCat("stopped while waiting for the ", what));
  Exit(kExitOk);
}

int Service::Serve(absl::string_view what, const std::string& listen, const std::vector<grpc::Service*>& services,
                   const std::shared_ptr<grpc::ServerCredentials>& credentials, std::vector<HealthProbe> probes,
                   std::vector<std::string> service_names) {
  int port = 0;
  if (absl::GetFlag(FLAGS_grpc_reflection)) {
    static const bool warned = [] {
      LogWarning("--grpc_reflection: every gRPC port describes its services to anyone, without a token");
      EnableServerReflection();
      return true;
    }();
    (void)warned;
  }
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartGrpcServer(listen, services, credentials, &port);
  Check(server.status(), absl::StrCat("serve ", what, " on ", listen));
  auto entry = std::make_unique<Server>();
  entry->server = *std::move(server);
  grpc::Server* raw = entry->server.get();
  entry->health = std::thread([this, raw, probes = std::move(probes), names = std::move(service_names)] {
    MonitorHealth(*raw, probes, names, absl::GetFlag(FLAGS_health_interval), stopping());
  });
  LogInfo(absl::StrCat("serving ", what, " on port ", port));
  servers_.push_back(std::move(entry));
  return port;
}

void Service::Task(std::string name, std::function<void(const StopToken&)> run, std::function<void()> wake) {
  auto task = std::make_unique<BackgroundTask>();
  task->name = std::move(name);
  task->run = std::move(run);
  task->wake = std::move(wake);
  tasks_.push_back(std::move(task));
}

void Service::Every(std::string name, absl::Duration every, std::function<absl::Status()> tick) {
  static metrics::Family& failures = metrics::Default().Counter(
      "upshift_periodic_task_failures_total", "Runs of a periodic task (retention, sweeps) that failed", {"task"});
  Task(name, [name, every, tick = std::move(tick)](const StopToken& stop) {
    do {
      if (absl::Status s = tick(); !s.ok()) {
        LogWarning(absl::StrCat(name, ": ", s.ToString()));
        failures.Increment({name});
      }
    } while (!stop.WaitFor(every));
  });
}

void Service::OnScrape(std::function<void()> collect) {
  scrape_hooks_.push_back(metrics::Default().OnScrape(std::move(collect)));
}

void Service::OnDrain(std::function<void()> hook) { on_drain_.push_back(std::move(hook)); }
void Service::OnStopped(std::function<void()> hook) { on_stopped_.push_back(std::move(hook)); }

int Service::Run() {
  if (ran_) return kExitFailed;
  ran_ = true;
  for (const std::unique_ptr<BackgroundTask>& task : tasks_) {
    BackgroundTask* raw = task.get();
    raw->thread = std::thread([this, raw] {
      raw->run(raw->stop);
      if (!raw->stop.stopped()) {
        LogError(absl::StrCat("the ", raw->name, " ended by itself; stopping"));
        failed_ = true;
        RequestStop();
      }
    });
  }
  StopRequested().WaitFor(absl::InfiniteDuration());
  LogInfo("stopping");
  // Out of rotation first: every health service reports NOT_SERVING once its monitor ends.
  for (const std::unique_ptr<Server>& s : servers_) s->health.join();
  for (const std::function<void()>& hook : on_drain_) hook();
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
  for (const std::unique_ptr<Server>& s : servers_) s->server->Shutdown(deadline);
  servers_.clear();  // before the services they call, which main declared after this
  for (auto it = tasks_.rbegin(); it != tasks_.rend(); ++it) {
    BackgroundTask& task = **it;
    task.stop.Stop();
    if (task.wake) task.wake();
    task.thread.join();
  }
  for (const std::function<void()>& hook : on_stopped_) hook();
  metrics_.reset();
  for (int id : scrape_hooks_) metrics::Default().RemoveOnScrape(id);
  LogInfo("stopped");
  exit_code_ = failed_ ? kExitFailed : kExitOk;
  return exit_code_;
}

}  // namespace upshift::runtime
