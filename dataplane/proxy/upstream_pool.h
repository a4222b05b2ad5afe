// Per-worker keep-alive connections to upstreams, keyed by scheme://host:port (+TLS mode).
// Owned by one worker thread: no lock. Bounded in count per key and in idle time.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/proxy/watchdog.h"
#include "dataplane/proxy/worker_io.h"

namespace fwd::dataplane::proxy {

struct UpstreamConn {
  std::optional<Socket> tcp;                            // plain http
  std::optional<boost::beast::ssl_stream<Socket>> tls;  // https
  std::string request_head;  // reused for every request on this connection
  Deadline deadline;         // watches lowest() once connected
  bool reused = false;
  std::chrono::steady_clock::time_point idle_since;

  Socket& lowest() { return tls ? tls->next_layer() : *tcp; }
};

class UpstreamPool {
 public:
  UpstreamPool(size_t max_idle_per_key, std::chrono::milliseconds idle_timeout)
      : max_idle_per_key_(max_idle_per_key), idle_timeout_(idle_timeout) {}

  /// An idle connection for `key`, or nullptr. Connections idle too long are closed here.
  std::unique_ptr<UpstreamConn> acquire(const std::string& key);
  /// Returns a connection whose last response was read completely and allows keep-alive.
  void release(const std::string& key, std::unique_ptr<UpstreamConn> conn);
  size_t idleCount() const;

 private:
  size_t max_idle_per_key_;
  std::chrono::milliseconds idle_timeout_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConn>>> idle_;
};

}  // namespace fwd::dataplane::proxy
