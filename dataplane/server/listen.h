// Opening a listening socket from a --listen style address, shared by the traffic and admin
// listeners. Blocking (bind/listen): call at start-up, before the IO threads run.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "absl/status/statusor.h"
#include "common/net/host_port.h"

namespace fwd::dataplane::server {

/// An acceptor bound to `address` (an IP literal; port 0 picks a free port) with
/// SO_REUSEADDR, listening, on `ioc`.
absl::StatusOr<std::unique_ptr<boost::asio::ip::tcp::acceptor>> openAcceptor(
    boost::asio::io_context& ioc, const common::net::HostPort& address);

}  // namespace fwd::dataplane::server
