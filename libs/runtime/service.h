#ifndef UPSHIFT_LIBS_RUNTIME_SERVICE_H_
#define UPSHIFT_LIBS_RUNTIME_SERVICE_H_

// The one runtime of every Upshift service: flags, logs, start-up checks and retries, gRPC servers
// with their health, the metrics endpoint, signals, background tasks with one stop, and an ordered
// shutdown under a watchdog. A main declares its parts and calls Run():
//
//   runtime::Service service(argc, argv, {"migrator", 9464});
//   Catalog catalog = service.Need(Catalog::Load(absl::GetFlag(FLAGS_catalog)), "load the catalog");
//   ...
//   service.Serve("health", absl::GetFlag(FLAGS_health_listen), {}, credentials, probes);
//   service.Task("consumer", [&](const StopToken& stop) { consumer->Run(stop); });
//   service.OnStopped([&] { producer->Flush(absl::Seconds(5)); });
//   return service.Run();
//
// Any failure before Run() ends the process at once with "cannot start: <what>: <why>" and a
// non-zero exit code; nothing has been started that would have to be stopped.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/common/health.h"
#include "libs/common/stop_token.h"

namespace upshift::metrics {
class MetricsServer;
}

namespace upshift::runtime {

// Exit codes of a service.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // a task ended by itself, or the watchdog ended the shutdown
inline constexpr int kExitCannotStart = 2;  // a bad flag, file or address; a dependency refused the service

struct ServiceSpec {
  std::string name;      // names the logs, the metrics' `service` label and the Kafka client
  int metrics_port = 0;  // --metrics_listen's default port
};

class Service {
 public:
  // Parses the flags (and their UPSHIFT_* variables), sets up the logs (--log_format), installs the
  // stop signals (SIGTERM, SIGINT; --shutdown_grace) and serves /metrics (--metrics_listen).
  Service(int argc, char** argv, const ServiceSpec& spec);
  // After Run(), ends the process with Run()'s code, skipping static destructors: declare the
  // Service first in main, so that everything else is destroyed before.
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const std::string& name() const { return name_; }
  // Set at the first stop signal: long work checks it to hand over (see WorkClaim).
  const StopToken& stopping() const;

  // Ends the process with kExitCannotStart and "cannot start: <what>: <status>" unless `status` is OK.
  void Check(const absl::Status& status, absl::string_view what);
  template <typename T>
  T Need(absl::StatusOr<T> value, absl::string_view what) {
    Check(value.status(), what);
    return *std::move(value);
  }
  // Calls `attempt` until it succeeds, backing off and logging why `what` is not ready (a dependency
  // that comes later, as in a fresh cluster). INVALID_ARGUMENT or FAILED_PRECONDITION (a bad
  // connection string, a schema newer than this binary) cannot get better: the start fails. A stop
  // signal meanwhile ends the process with kExitOk.
  void AwaitReady(const std::function<absl::Status()>& attempt, absl::string_view what);
  // The same for `open`, which returns absl::StatusOr<T>: the value it returned once it succeeded.
  template <typename Open>
  auto AwaitOpen(Open open, absl::string_view what) {
    std::optional<typename decltype(open())::value_type> value;
    AwaitReady(
        [&] {
          auto opened = open();
          if (opened.ok()) value = *std::move(opened);
          return opened.status();
        },
        what);
    return *std::move(value);
  }

  // Starts a gRPC server on `listen` (port 0: any free one) with `services`, the health service and
  // reflection; its health follows `probes` (MonitorHealth) until the shutdown. `service_names`:
  // the names whose health survives the probes marked rpcs_survive. Ends the process when the port
  // cannot be bound. Returns the bound port.
  int Serve(absl::string_view what, const std::string& listen, const std::vector<grpc::Service*>& services,
            const std::shared_ptr<grpc::ServerCredentials>& credentials, std::vector<HealthProbe> probes,
            std::vector<std::string> service_names = {});

  // A background task: `run(stop)` on a thread of its own from Run() on, until its `stop` is set
  // at the shutdown (then `wake`, if given, is called, for a task that waits on something else). A
  // task that returns by itself before that is a failure: the process stops with kExitFailed.
  void Task(std::string name, std::function<void(const StopToken& stop)> run, std::function<void()> wake = {});

  // A background task that calls `tick` once now and then once per `every`, until the shutdown. A
  // failed tick is logged (with the task's name) and counted in
  // upshift_periodic_task_failures_total{task}; the next one runs as planned.
  void Every(std::string name, absl::Duration every, std::function<absl::Status()> tick);

  // Called at each scrape of /metrics, before the metrics are written: for values read then (a
  // queue's depth). No scrape comes after Run() returned.
  void OnScrape(std::function<void()> collect);

  // Shutdown hooks: `OnDrain` runs once every server reports NOT_SERVING, before the servers stop
  // (end long streams there); `OnStopped` once every task ended (flush producers there).
  void OnDrain(std::function<void()> hook);
  void OnStopped(std::function<void()> hook);

  // Starts the tasks and waits for a stop signal (or a failed task), then shuts down in order:
  // health NOT_SERVING everywhere, drain hooks, servers (5 s for calls at work), tasks in the
  // reverse order of their declaration, stopped hooks, the metrics server. The watchdog ends the
  // process if that takes longer than --shutdown_grace. Returns the exit code for main.
  int Run();

 private:
  struct Server;
  struct BackgroundTask;
  [[noreturn]] void Exit(int code);

  std::string name_;
  std::unique_ptr<metrics::MetricsServer> metrics_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<std::unique_ptr<BackgroundTask>> tasks_;
  std::vector<std::function<void()>> on_drain_, on_stopped_;
  std::vector<int> scrape_hooks_;
  std::atomic<bool> failed_{false};
  bool ran_ = false;
  int exit_code_ = 0;
};

}  // namespace upshift::runtime

#endif  // UPSHIFT_LIBS_RUNTIME_SERVICE_H_
