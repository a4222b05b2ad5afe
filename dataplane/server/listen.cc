#include "dataplane/server/listen.h"

#include <algorithm>

#include "common/log/log.h"

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

absl::StatusOr<std::unique_ptr<asio::ssl::context>> serverTlsContext(const std::string& cert_file,
                                                                     const std::string& key_file) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use |
                   SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError("cannot use the certificate " + cert_file + ": " +
                                      ec.message());
  }
  ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError("cannot use the private key " + key_file + ": " +
                                      ec.message());
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return absl::InvalidArgumentError("the private key " + key_file +
                                      " does not match the certificate " + cert_file);
  }
  return ctx;
}

std::chrono::milliseconds AcceptBackoff::failed(const boost::system::error_code& ec) {
  failures_.Increment();
  if (burst_++ == 0) {
    FWD_LOG(kWarn, "dataplane") << listener_ << " listener: accept failed: " << ec.message()
                                << "; pausing accepts (from " << kFirstPause.count() << "ms up to "
                                << kMaxPause.count()
                                << "ms) until it works again; see fwd_accept_errors_total";
  }
  if (ec == boost::asio::error::connection_aborted) {
    return std::chrono::milliseconds(0);  // that connection is gone; the next may be fine
  }
  pause_ = pause_.count() == 0 ? kFirstPause : std::min(pause_ * 2, kMaxPause);
  return pause_;
}

void AcceptBackoff::succeeded() {
  if (burst_ > 0) {
    FWD_LOG(kInfo, "dataplane") << listener_ << " listener: accepting again after " << burst_
                                << " failed accepts";
  }
  burst_ = 0;
  pause_ = std::chrono::milliseconds(0);
}

}  // namespace fwd::dataplane::server
