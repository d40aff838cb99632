#include "libs/common/grpc_util.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/health_check_service_interface.h>

#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/metrics/metrics.h"

namespace upshift {
namespace {

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// Counts every call a server ends, by service, method and code, with its latency (a stream's: its
// whole life). grpc.health.v1 and reflection are counted too: probes are calls.
class CallMetrics : public grpc::experimental::Interceptor {
 public:
  explicit CallMetrics(grpc::experimental::ServerRpcInfo* info) : started_(absl::Now()) {
    absl::string_view full = info->method();  // "/package.Service/Method"
    absl::ConsumePrefix(&full, "/");
    size_t slash = full.find('/');
    service_ = std::string(full.substr(0, slash));
    method_ = slash == absl::string_view::npos ? "" : std::string(full.substr(slash + 1));
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      static metrics::Family& handled = metrics::Default().Counter(
          "upshift_grpc_server_handled_total", "gRPC calls ended by the server, by service, method and code",
          // grpc_*, not service: prometheus-operator gives every target a `service` label of its own.
          {"grpc_service", "grpc_method", "grpc_code"});
      static metrics::Family& latency = metrics::Default().Histogram(
          "upshift_grpc_server_handling_seconds", "Time from a call's start to its status, by service and method",
          {"grpc_service", "grpc_method"}, metrics::RequestBuckets());
      handled.Increment({service_, method_, CodeName(methods->GetSendStatus().error_code())});
      latency.ObserveDuration({service_, method_}, absl::Now() - started_);
    }
    methods->Proceed();
  }

 private:
  absl::Time started_;
  std::string service_, method_;
};

class CallMetricsFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new CallMetrics(info);
  }
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

namespace {

std::atomic<bool> reflection_enabled{false};

// gRPC's reflection plugin registers itself for every server once it is linked in: this option
// takes it out again while reflection is not enabled.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                                    return p->name() == "proto_server_reflection";
                                  }),
                   plugins->end());
  }
};

// A server whose only service is gRPC's default health service (added when the server starts) needs
// a service of its own for the builder to accept it: one that knows no method (every call to an
// unknown method answers UNIMPLEMENTED, as without it). One per such server, kept for the process.
grpc::CallbackGenericService* KnowsNoMethod() {
  static absl::Mutex mu(absl::kConstInit);
  static auto* kept = new std::vector<std::unique_ptr<grpc::CallbackGenericService>>();
  absl::MutexLock lock(&mu);
  return kept->emplace_back(std::make_unique<grpc::CallbackGenericService>()).get();
}

}  // namespace

absl::Time DeadlineOf(const grpc::ServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

void EnableServerReflection() {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  reflection_enabled = true;
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& address, const std::vector<grpc::Service*>& services,
    const std::shared_ptr<grpc::ServerCredentials>& credentials, int* bound_port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  if (!reflection_enabled) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(address, credentials, bound_port);
  // No request of Upshift's comes near 4 MiB: a larger one is refused before it is read.
  builder.SetMaxReceiveMessageSize(4 << 20);
  // Pings every idle connection (a WatchUpgrade stream may be silent for minutes) and drops it when
  // the peer does not answer: a vanished client does not hold a stream forever.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A connection is asked to move on (GOAWAY) after 10 minutes, its calls given 5 more to finish:
  // clients reconnect through the Service, so replicas added by the autoscaler take a share of the
  // existing clients' load instead of only new ones'. A WatchUpgrade stream older than that ends
  // UNAVAILABLE; watching again sends the current state first.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, 10 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 5 * 60 * 1000);
  for (grpc::Service* service : services) builder.RegisterService(service);
  if (services.empty()) builder.RegisterCallbackGenericService(KnowsNoMethod());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<CallMetricsFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *bound_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  return server;
}

void SetServing(grpc::Server& server, bool serving) {
  if (auto* health = server.GetHealthCheckService()) health->SetServingStatus(serving);
}

void PromptReconnects() { setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "250", /*overwrite=*/0); }

}  // namespace upshift
