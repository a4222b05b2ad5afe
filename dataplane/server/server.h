// The data plane's traffic side: N worker threads with one io_context each, one acceptor that
// deals connections out round-robin, config publication to every worker, and graceful drain.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/host_port.h"
#include "dataplane/config/compiled_config.h"
#include "dataplane/metrics/metrics.h"
#include "dataplane/models/catalog.h"
#include "dataplane/probe/http_get.h"
#include "dataplane/proxy/worker_context.h"
#include "dataplane/server/listen.h"
#include "fwd/v1/watch.pb.h"

namespace fwd::dataplane::server {

class Server {
 public:
  /// `tls` (shared with the other upstream clients of the process) must outlive the server.
  /// `server_tls`, when not null, makes the listener speak TLS with its certificate; it must
  /// outlive the server too.
  Server(size_t workers, proxy::ProxyOptions options, metrics::Metrics& metrics,
         probe::TlsClientContexts& tls, boost::asio::ssl::context* server_tls = nullptr);
  ~Server();

  /// Binds the listening socket (main thread, before start()). Returns the bound address.
  absl::StatusOr<common::net::HostPort> listen(const common::net::HostPort& address);
  void start();

  /// Any thread: every worker serves `config` for requests that start after it is applied;
  /// requests in flight keep the snapshot they pinned. `models`, when given, is the model
  /// catalog built for `config`, applied in the same handler (so no request sees one without
  /// the other).
  void publish(config::CompiledConfigConstSharedPtr config,
               models::CatalogConstSharedPtr models = nullptr);
  /// Any thread: every worker answers GET /v1/models from `models`, unless it already has a
  /// newer catalog (publishers on two threads may arrive out of order).
  void publishModels(models::CatalogConstSharedPtr models);

  /// Any thread: the first phase of a drain. Connections are still accepted and requests
  /// served, but every response says `Connection: close`, so clients and load balancers move
  /// their connections elsewhere while they notice /readyz failing.
  void closeConnectionsAfterResponses();
  /// Stops accepting, closes idle connections, lets requests in flight finish (up to
  /// `timeout`), then stops the workers. Returns the number of requests cut off.
  std::int64_t drain(std::chrono::milliseconds timeout);

  std::int64_t inFlight() const;

  /// Any thread: the limits of key `key_id` as counted now (fwdctl key get): read on worker 0,
  /// from the config it serves and, when the key is counted in Redis, from Redis (one script,
  /// never waited on by a request). `done` is called once, on that worker; it must not block.
  void readKeyLimits(std::uint64_t key_id, std::function<void(fwd::v1::LimitsAnswer)> done);

 private:
  void acceptLoop();

  proxy::ProxyOptions options_;
  metrics::Metrics& metrics_;
  std::vector<std::unique_ptr<proxy::WorkerContext>> workers_;
  std::vector<std::thread> threads_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  // Worker 0's thread only (the accept loop runs there).
  size_t next_worker_ = 0;
  AcceptBackoff accept_backoff_;
  std::unique_ptr<boost::asio::steady_timer> accept_pause_;
  bool stopped_ = false;
};

}  // namespace fwd::dataplane::server
