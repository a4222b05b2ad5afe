#include "controlplane/service/server.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

namespace fwd::controlplane::service {

ControlPlaneServer::ControlPlaneServer(const Deps& deps, std::chrono::milliseconds watch_poll)
    : hub_(deps.hub),
      limits_queries_([&hub = deps.hub] { hub.wake(); }),
      admin_(deps.store, deps.publisher, deps.registry, limits_queries_, deps.auth, deps.records),
      watch_(deps.hub, deps.registry, limits_queries_, deps.auth, watch_poll) {
  if (deps.records != nullptr) {
    records_ = std::make_unique<RecordsServiceImpl>(*deps.records, deps.auth, deps.notifications);
  }
}

absl::StatusOr<std::unique_ptr<ControlPlaneServer>> ControlPlaneServer::start(
    const std::string& address, const Deps& deps, std::chrono::milliseconds watch_poll,
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  std::unique_ptr<ControlPlaneServer> server(new ControlPlaneServer(deps, watch_poll));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, credentials ? credentials : grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(&server->admin_);
  builder.RegisterService(&server->watch_);
  if (server->records_ != nullptr) {
    builder.RegisterService(server->records_.get());
  }
  // A data plane that vanished without closing its connection (host down, cable cut) is noticed
  // within ~15 s, so its status flips to disconnected.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // gRPC binds with SO_REUSEPORT by default: a second control plane on the same port would
  // start and silently take half of the first one's connections. Without it, the bind fails.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError("cannot listen on " + address +
                                  " (address in use or not local?)");
  }
  return server;
}

ControlPlaneServer::~ControlPlaneServer() { shutdown(); }

void ControlPlaneServer::shutdown(std::chrono::milliseconds grace) {
  if (stopped_ || server_ == nullptr) {
    return;
  }
  stopped_ = true;
  // Watch handlers never finish on their own: wake them first so Shutdown() has nothing long
  // to wait for.
  hub_.shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
}

}  // namespace fwd::controlplane::service
