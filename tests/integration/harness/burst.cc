#include "tests/integration/harness/burst.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <memory>

namespace fwd::harness {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

asio::awaitable<void> one(tcp::endpoint to, const BurstRequest& request, BurstAnswer& out) {
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  try {
    co_await socket.async_connect(to, asio::use_awaitable);
    http::request<http::string_body> req{http::string_to_verb(request.method), request.target, 11};
    req.set(http::field::host, to.address().to_string());
    for (const auto& [name, value] : request.headers) {
      req.insert(name, value);
    }
    req.set(http::field::connection, "close");
    req.body() = request.body;
    req.prepare_payload();
    co_await http::async_write(socket, req, asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    co_await http::async_read(socket, buffer, res, asio::use_awaitable);
    out.status = static_cast<int>(res.result_int());
    out.retry_after = std::string(res[http::field::retry_after]);
    out.body = std::move(res.body());
  } catch (const boost::system::system_error& e) {
    out.error = e.what();
  }
}

}  // namespace

std::vector<BurstAnswer> burst(const std::vector<Endpoint>& targets, const BurstRequest& request,
                               int count, std::chrono::milliseconds timeout) {
  std::vector<BurstAnswer> answers(static_cast<size_t>(count));
  if (targets.empty()) {
    return answers;
  }
  asio::io_context io;
  for (int i = 0; i < count; ++i) {
    const Endpoint& e = targets[static_cast<size_t>(i) % targets.size()];
    tcp::endpoint to(asio::ip::make_address(e.host), e.port);
    asio::co_spawn(io, one(to, request, answers[static_cast<size_t>(i)]), asio::detached);
  }
  io.run_for(timeout);
  for (BurstAnswer& a : answers) {
    if (a.status == 0 && a.error.empty()) {
      a.error = "no answer in time";
    }
  }
  return answers;
}

}  // namespace fwd::harness
