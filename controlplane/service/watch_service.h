// fwd.v1.WatchService: each data plane holds one Watch stream. The handler thread writes
// snapshots (the current one at once, then each newer one, latest-only) while a reader thread
// per stream takes acks, nacks and upstream reports into the node registry. The writer also
// sends the admin API's limits queries (LimitsQueries), whose answers the reader hands back.
#pragma once

#include <chrono>

#include "controlplane/service/auth.h"
#include "controlplane/service/limits_queries.h"
#include "controlplane/service/node_registry.h"
#include "controlplane/snapshot/hub.h"
#include "fwd/v1/watch.grpc.pb.h"

namespace fwd::controlplane::service {

class WatchServiceImpl final : public fwd::v1::WatchService::Service {
 public:
  /// How often a waiting stream checks whether its client went away or its reader ended.
  static constexpr std::chrono::milliseconds kDefaultPollInterval{200};

  /// Every reference must outlive the service.
  WatchServiceImpl(snapshot::SnapshotHub& hub, NodeRegistry& registry, LimitsQueries& queries,
                   const TokenAuthenticator& auth,
                   std::chrono::milliseconds poll_interval = kDefaultPollInterval)
      : hub_(hub),
        registry_(registry),
        queries_(queries),
        auth_(auth),
        poll_interval_(poll_interval) {}

  // fwd::v1::WatchService::Service. Runs on a gRPC sync-server thread for the whole life of the
  // stream; returns promptly once the client goes away (or half-closes) or hub_ is shut down.
  grpc::Status Watch(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<fwd::v1::WatchResponse, fwd::v1::WatchRequest>* stream) override;

 private:
  snapshot::SnapshotHub& hub_;
  NodeRegistry& registry_;
  LimitsQueries& queries_;
  const TokenAuthenticator& auth_;
  const std::chrono::milliseconds poll_interval_;
};

}  // namespace fwd::controlplane::service
