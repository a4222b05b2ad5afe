#include "dataplane/server/listen.h"

namespace fwd::dataplane::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

absl::StatusOr<std::unique_ptr<tcp::acceptor>> openAcceptor(asio::io_context& ioc,
                                                            const common::net::HostPort& address) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (ec) {
    return absl::InvalidArgumentError("listen address must be an IP address, got \"" +
                                      address.host + "\"");
  }
  tcp::endpoint endpoint(ip, address.port);
  auto acceptor = std::make_unique<tcp::acceptor>(ioc);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor->bind(endpoint, ec);
  }
  if (!ec) {
    acceptor->listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return absl::UnavailableError("cannot listen on " + address.toString() + ": " + ec.message());
  }
  return acceptor;
}

}  // namespace fwd::dataplane::server
