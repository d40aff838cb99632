#ifndef UPSHIFT_LIBS_COMMON_GRPC_UTIL_H_
#define UPSHIFT_LIBS_COMMON_GRPC_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace upshift {

// The one place where an absl::Status becomes a grpc::Status (same code, same message).
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// A started gRPC server with the health service on, listening on `address` (port 0 picks a free
// port) with `credentials` (see libs/common/tls.h). The bound port is in *bound_port. Services must
// outlive the server.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& address, const std::vector<grpc::Service*>& services,
    const std::shared_ptr<grpc::ServerCredentials>& credentials, int* bound_port);

// Turns server reflection (grpc.reflection.v1alpha) on for every server this process starts from
// now on. It answers without a token (gRPC's plugin knows no authentication), so it is off unless
// an operator turns it on.
void EnableServerReflection();

// Makes this process's client channels move their reconnections on every 250 ms, so that a server
// back after a restart is reached about a second later. Call before the first gRPC object is made.
// A channel whose server went away fails its calls at once, so while it reconnects no call waits on
// it, and only gRPC's backup poller drives the new connection and its TLS handshake: one step per
// poll, by default every 5 s. A service restarted
// after a second was reached only 15 s later (measured in the fault suite's kill_request and
// kill_status). Sets GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS to 250 unless the environment
// already sets it.
void PromptReconnects();

// The deadline the caller set on `context` (InfiniteFuture when none), for a DeadlineScope.
absl::Time DeadlineOf(const grpc::ServerContext& context);

// Sets the overall and every named service's health (grpc.health.v1) to SERVING or NOT_SERVING.
void SetServing(grpc::Server& server, bool serving);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_GRPC_UTIL_H_
