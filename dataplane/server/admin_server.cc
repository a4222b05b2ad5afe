#include "dataplane/server/admin_server.h"

#include <prometheus/text_serializer.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "dataplane/server/listen.h"

namespace fwd::dataplane::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

asio::awaitable<void> serveAdmin(tcp::socket socket, metrics::Metrics& metrics,
                                 const std::function<bool()>& ready) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(0);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] =
        co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      break;
    }
    auto& req = parser.get();
    std::string_view target(req.target().data(), req.target().size());
    target = target.substr(0, target.find('?'));
    http::response<http::string_body> res{http::status::ok, 11};
    res.keep_alive(req.keep_alive());
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.body() = "method not allowed\n";
    } else if (target == "/metrics") {
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = prometheus::TextSerializer().Serialize(metrics.Collect());
    } else if (target == "/healthz") {
      res.body() = "ok\n";
    } else if (target == "/readyz") {
      if (ready()) {
        res.body() = "ready\n";
      } else {
        res.result(http::status::service_unavailable);
        res.body() = "not ready: no config snapshot loaded yet, or draining\n";
      }
    } else {
      res.result(http::status::not_found);
      res.body() = "not found: try /metrics, /healthz or /readyz\n";
    }
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !res.keep_alive()) {
      break;
    }
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace

AdminServer::AdminServer(metrics::Metrics& metrics, std::function<bool()> ready)
    : metrics_(metrics),
      ready_(std::move(ready)),
      accept_backoff_("admin", metrics.accept_errors.Add({{"listener", "admin"}})) {}

AdminServer::~AdminServer() { stop(); }

absl::StatusOr<common::net::HostPort> AdminServer::listen(const common::net::HostPort& address) {
  auto acceptor = openAcceptor(ioc_, address);
  if (!acceptor.ok()) {
    return acceptor.status();
  }
  acceptor_ = std::move(*acceptor);
  return common::net::HostPort{address.host, acceptor_->local_endpoint().port()};
}

void AdminServer::start() {
  acceptLoop();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(ioc_);
    ioc_.run();
  });
}

void AdminServer::acceptLoop() {
  acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (!ec) {
      accept_backoff_.succeeded();
      asio::co_spawn(ioc_, serveAdmin(std::move(socket), metrics_, ready_), asio::detached);
      acceptLoop();
      return;
    }
    accept_pause_.expires_after(accept_backoff_.failed(ec));
    accept_pause_.async_wait([this](boost::system::error_code wec) {
      if (!wec) {
        acceptLoop();
      }
    });
  });
}

void AdminServer::stop() {
  ioc_.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace fwd::dataplane::server
