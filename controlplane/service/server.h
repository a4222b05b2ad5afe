// The control plane's gRPC server: AdminService and WatchService on one listening address,
// with keepalive settings that notice a dead data plane within seconds.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/service/admin_service.h"
#include "controlplane/service/limits_queries.h"
#include "controlplane/service/records_service.h"
#include "controlplane/service/watch_service.h"

namespace fwd::controlplane::service {

class ControlPlaneServer {
 public:
  /// Everything the services use; each must outlive the server.
  struct Deps {
    store::Store& store;
    snapshot::SnapshotHub& hub;
    snapshot::Publisher& publisher;
    NodeRegistry& registry;
    const TokenAuthenticator& auth;
    // Where RecordsService stores what data planes push; null: the service is not offered.
    records::RecordsDb* records = nullptr;
    // Null: no notifications.
    notify::Notifications* notifications = nullptr;
  };

  /// Starts serving on `address` ("host:port"; port 0 picks a free port), with `credentials`
  /// (TLS or mTLS; plaintext when null).
  static absl::StatusOr<std::unique_ptr<ControlPlaneServer>> start(
      const std::string& address, const Deps& deps,
      std::chrono::milliseconds watch_poll = WatchServiceImpl::kDefaultPollInterval,
      std::shared_ptr<grpc::ServerCredentials> credentials = nullptr);

  ~ControlPlaneServer();
  ControlPlaneServer(const ControlPlaneServer&) = delete;
  ControlPlaneServer& operator=(const ControlPlaneServer&) = delete;

  /// The bound port (the actual one when started with port 0).
  int port() const { return port_; }

  /// Ends every Watch stream, stops accepting calls, lets in-flight calls finish for up to
  /// `grace`, then cancels the rest. Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(1500));

 private:
  ControlPlaneServer(const Deps& deps, std::chrono::milliseconds watch_poll);

  snapshot::SnapshotHub& hub_;
  LimitsQueries limits_queries_;  // before the services, which use it
  AdminServiceImpl admin_;
  WatchServiceImpl watch_;
  std::unique_ptr<RecordsServiceImpl> records_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool stopped_ = false;
};

}  // namespace fwd::controlplane::service
