// The data plane's admin listener (default 127.0.0.1:9090): GET /metrics (Prometheus text
// format), /healthz (process alive) and /readyz (a config snapshot is loaded). It runs on its
// own thread so a slow scrape never delays traffic.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "common/net/host_port.h"
#include "dataplane/metrics/metrics.h"
#include "dataplane/server/listen.h"

namespace fwd::dataplane::server {

class AdminServer {
 public:
  /// `ready` is called on the admin thread for /readyz.
  AdminServer(metrics::Metrics& metrics, std::function<bool()> ready);
  ~AdminServer();

  absl::StatusOr<common::net::HostPort> listen(const common::net::HostPort& address);
  void start();
  void stop();

 private:
  void acceptLoop();

  metrics::Metrics& metrics_;
  std::function<bool()> ready_;
  boost::asio::io_context ioc_{1};
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  AcceptBackoff accept_backoff_;
  boost::asio::steady_timer accept_pause_{ioc_};
  std::thread thread_;
};

}  // namespace fwd::dataplane::server
