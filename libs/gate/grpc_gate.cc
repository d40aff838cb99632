#include "libs/gate/grpc_gate.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_util.h"
#include "libs/common/time.h"
#include "upgrade/v1/gate.grpc.pb.h"

namespace upshift {

struct GrpcGate::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<upgrade::v1::UpgradeGate::Stub> stub;
  absl::Duration timeout;

  // What a failed call's status means to a worker.
  absl::Status Failed(const grpc::Status& status) {
    if (status.error_code() == grpc::StatusCode::CANCELLED) {
      // This side never cancels: request did, as a stopping gRPC server does with a call it received
      // but had not started to serve. The question was not answered; ask again once request is back.
      return absl::UnavailableError(absl::StrCat("request cancelled the call: ", status.error_message()));
    }
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      // The channel backs off its reconnections exponentially (1 s, 1.6 s, 2.6 s ... up to 2 min)
      // and fails every call at once meanwhile: a request replica back after a few seconds would be
      // reached only tens of seconds later. The worker's own retries are paced already: each one
      // tries a connection afresh.
      grpc::experimental::ChannelResetConnectionBackoff(channel.get());
    }
    return FromGrpcStatus(status);
  }
};

GrpcGate::GrpcGate(const std::string& address, absl::Duration timeout,
                   const std::shared_ptr<grpc::ChannelCredentials>& credentials)
    : impl_(std::make_unique<Impl>()) {
  impl_->channel = grpc::CreateChannel(address, credentials);
  impl_->stub = upgrade::v1::UpgradeGate::NewStub(impl_->channel);
  impl_->timeout = timeout;
}

GrpcGate::~GrpcGate() = default;

absl::StatusOr<Passage> GrpcGate::Pass(const std::string& upgrade_id, upgrade::v1::Checkpoint checkpoint) {
  upgrade::v1::PassCheckpointRequest request;
  request.set_upgrade_id(upgrade_id);
  request.set_checkpoint(checkpoint);
  upgrade::v1::PassCheckpointResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(impl_->timeout));
  grpc::Status status = impl_->stub->PassCheckpoint(&context, request, &response);
  if (!status.ok()) return impl_->Failed(status);
  if (response.proceed()) return Passage{};
  return Passage{response.ended() ? Passage::kEnded : Passage::kCancelled, response.reason()};
}

absl::StatusOr<upgrade::v1::GetOrderResponse> GrpcGate::Fetch(const std::string& upgrade_id) {
  upgrade::v1::GetOrderRequest request;
  request.set_upgrade_id(upgrade_id);
  upgrade::v1::GetOrderResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(impl_->timeout));
  grpc::Status status = impl_->stub->GetOrder(&context, request, &response);
  if (!status.ok()) return impl_->Failed(status);
  return response;
}

absl::StatusOr<upgrade::v1::Order> GrpcGate::GetOrder(const std::string& upgrade_id) {
  absl::StatusOr<upgrade::v1::GetOrderResponse> response = Fetch(upgrade_id);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_order());
}

absl::StatusOr<OrderState> GrpcGate::GetState(const std::string& upgrade_id) {
  absl::StatusOr<upgrade::v1::GetOrderResponse> response = Fetch(upgrade_id);
  if (!response.ok()) return response.status();
  return OrderState{response->cancel_requested(), response->past_point_of_no_return(), response->ended()};
}

absl::StatusOr<ClaimAnswer> GrpcGate::Claim(const std::string& upgrade_id, const std::string& work,
                                            const std::string& holder, absl::Duration ttl, bool resumes) {
  upgrade::v1::ClaimWorkRequest request;
  request.set_upgrade_id(upgrade_id);
  request.set_work(work);
  request.set_holder(holder);
  request.set_resumes(resumes);
  ToProto(ttl, request.mutable_ttl());
  upgrade::v1::ClaimWorkResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(impl_->timeout));
  grpc::Status status = impl_->stub->ClaimWork(&context, request, &response);
  if (!status.ok()) return impl_->Failed(status);
  return ClaimAnswer{response.granted(), response.holder(), FromProto(response.expires_at()), response.done(),
                     response.waiting_for()};
}

absl::Status GrpcGate::Release(const std::string& upgrade_id, const std::string& work, const std::string& holder,
                               bool done) {
  upgrade::v1::ReleaseWorkRequest request;
  request.set_upgrade_id(upgrade_id);
  request.set_work(work);
  request.set_holder(holder);
  request.set_done(done);
  upgrade::v1::ReleaseWorkResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(impl_->timeout));
  grpc::Status status = impl_->stub->ReleaseWork(&context, request, &response);
  return status.ok() ? absl::OkStatus() : impl_->Failed(status);
}

}  // namespace upshift
