// Opening a listening socket from a --listen style address, and what to do when an accept
// fails; shared by the traffic and admin listeners.
#pragma once

#include <prometheus/counter.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/net/host_port.h"

namespace fwd::dataplane::server {

/// Blocking (bind/listen): call at start-up, before the IO threads run. An acceptor bound to
/// `address` (an IP literal; port 0 picks a free port) with SO_REUSEADDR, listening, on `ioc`.
absl::StatusOr<std::unique_ptr<boost::asio::ip::tcp::acceptor>> openAcceptor(
    boost::asio::io_context& ioc, const common::net::HostPort& address);

/// The client listener's TLS context (--tls-cert, --tls-key: PEM, the chain after the leaf):
/// TLS 1.2 and 1.3 only, the server's cipher preference. Errors name the file and the reason.
absl::StatusOr<std::unique_ptr<boost::asio::ssl::context>> serverTlsContext(
    const std::string& cert_file, const std::string& key_file);

/// How long an acceptor waits after a failed accept. Out of file descriptors (EMFILE, ENFILE)
/// or kernel memory, accepting again at once fails again at once: the loop would burn a core
/// and flood the log while serving nobody. So accepting pauses, from 10 ms doubling to 500 ms
/// while failures go on (nginx pauses 500 ms, Envoy and HAProxy pause too); connections already
/// accepted are served meanwhile and new ones wait in the kernel's backlog. A connection the
/// client reset before it was accepted is no reason to pause. Each failure is counted; the log
/// gets one line when a burst of failures starts and one when accepting works again.
///
/// Owned by one acceptor, used on its thread only.
class AcceptBackoff {
 public:
  static constexpr std::chrono::milliseconds kFirstPause{10};
  static constexpr std::chrono::milliseconds kMaxPause{500};

  /// `listener` names it in log lines ("http", "admin"); `failures` counts every failed accept.
  AcceptBackoff(std::string listener, prometheus::Counter& failures)
      : listener_(std::move(listener)), failures_(failures) {}

  /// After a failed accept: how long to pause before the next one (zero: at once).
  std::chrono::milliseconds failed(const boost::system::error_code& ec);
  /// After an accept that worked: ends a burst of failures.
  void succeeded();

 private:
  std::string listener_;
  prometheus::Counter& failures_;
  std::chrono::milliseconds pause_{0};
  std::uint64_t burst_ = 0;  // failures since the last accept that worked
};

}  // namespace fwd::dataplane::server
