#include "dataplane/proxy/proxy_session.h"

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/ssl.hpp>
#include <string>

#include "dataplane/pipeline/client_conn.h"
#include "dataplane/pipeline/pipeline.h"
#include "dataplane/proxy/errors.h"

namespace fwd::dataplane::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using pipeline::ClientConn;

// Read buffer capacity: a request head (plus a small body) arrives in one recv.
constexpr size_t kClientReadBufferBytes = 4 * 1024;

// Answers a request whose head could not be read; the connection closes after it.
Task<void> refuseHead(WorkerContext& w, ClientConn& client, const ApiError& e) {
  const std::string body = errorBody(e);
  co_await pipeline::writeJson(w, client, e.status, body, false);
}

}  // namespace

Task<void> serveConnection(WorkerContext& w, Socket socket) {
  socket.set_option(tcp::no_delay(true));
  boost::system::error_code nb_ec;
  socket.non_blocking(true, nb_ec);  // writeToClient's direct writes must never block
  if (nb_ec) {
    co_return;
  }
  ClientConn client(std::move(socket));
  if (auto peer = client.socket.remote_endpoint(nb_ec); !nb_ec) {
    asio::ip::address address = peer.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    client.address = address.to_string();
    auto v6 = address.is_v4() ? asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4())
                              : address.to_v6();
    client.ip.bytes = v6.to_bytes();
  }
  client.deadline.bind(w.watchdog, client.socket);
  ClientSession session{&client.socket, true};
  w.sessions.insert(&session);
  struct Unregister {
    WorkerContext& w;
    ClientSession* s;
    ~Unregister() { w.sessions.erase(s); }
  } unregister{w, &session};

  if (w.tls_server != nullptr) {
    // The handshake shares the first request head's time limit: a client that stalls in it is
    // a slow-header client.
    client.tls = std::make_unique<ClientTlsStream>(client.socket, *w.tls_server);
    client.deadline.after(w.options.header_timeout);
    auto [hec] = co_await client.tls->async_handshake(asio::ssl::stream_base::server, kUseTuple);
    if (hec) {
      w.metrics.tls_handshake_failures.Increment();
      boost::system::error_code ignored;
      client.socket.close(ignored);
      co_return;
    }
  }

  beast::flat_buffer buffer;
  buffer.reserve(kClientReadBufferBytes);
  ClientRequestParser::Storage request_storage;
  bool first = true;
  // A drain does not end this loop by itself: a connection accepted while the listener still
  // accepts gets its request served, with `Connection: close` (serveRequest then says not to
  // keep the connection); idle connections are cancelled once the listener closes.
  for (;;) {
    ClientRequestParser parser(request_storage, simdjson::SIMDJSON_PADDING);
    parser.header_limit(static_cast<std::uint32_t>(w.options.max_header_bytes));
    parser.body_limit(w.options.max_body_bytes);
    parser.headLimits(w.options.head_limits);
    client.deadline.after(first ? w.options.header_timeout : w.options.idle_timeout);
    first = false;
    session.idle = buffer.size() == 0;
    auto [ec, n] = co_await pipeline::readRequestHead(client, buffer, parser);
    session.idle = false;
    if (ec) {
      if (const auto& refusal = parser.refusal()) {
        ApiError api_error =
            invalidRequest(refusal->status, refusal->message, std::string(refusal->code));
        co_await refuseHead(w, client, api_error);
      } else if (ec == http::error::header_limit && !parser.gotRequestLine()) {
        ApiError api_error =
            invalidRequest(414,
                           "Request line too long: the limit is " +
                               std::to_string(w.options.head_limits.max_request_line) + " bytes.",
                           "uri_too_long");
        co_await refuseHead(w, client, api_error);
      } else if (ec == http::error::header_limit) {
        ApiError api_error =
            invalidRequest(431,
                           "Request header fields too large: the limit is " +
                               std::to_string(w.options.max_header_bytes) + " bytes.",
                           "request_header_too_large");
        co_await refuseHead(w, client, api_error);
      } else if (ec == http::error::body_limit) {
        ApiError api_error =
            invalidRequest(413,
                           "Request body too large: the limit is " +
                               std::to_string(w.options.max_body_bytes) + " bytes.",
                           "request_too_large");
        co_await refuseHead(w, client, api_error);
      } else if (pipeline::timedOut(ec, client.deadline) && parser.got_some()) {
        ApiError api_error =
            invalidRequest(408, "Timed out reading the request head.", "request_timeout");
        co_await refuseHead(w, client, api_error);
      } else if (ec != http::error::end_of_stream && ec != asio::error::eof &&
                 ec != asio::error::operation_aborted && ec != asio::error::connection_reset &&
                 ec != asio::error::bad_descriptor) {
        ApiError api_error =
            invalidRequest(400, "Malformed HTTP request: " + ec.message(), "bad_request");
        co_await refuseHead(w, client, api_error);
      }
      break;
    }
    bool keep = co_await pipeline::serveRequest(w, client, buffer, parser);
    if (!keep) {
      break;
    }
  }
  beast::error_code ignored;
  if (client.tls) {
    // close_notify, so the client can tell the end from a cut; bounded by the write timeout.
    client.deadline.after(std::chrono::seconds(1));
    co_await client.tls->async_shutdown(kUseTuple);
  }
  client.socket.shutdown(Socket::shutdown_send, ignored);
  // Lingering close (as nginx does): drain what the client still sends — e.g. the body of a
  // request refused before it was read — so the kernel does not answer it with a RST that can
  // destroy the response still in flight. Bounded in time and bytes.
  client.deadline.after(std::chrono::seconds(2));
  std::array<char, 4096> sink;
  for (size_t drained = 0; drained < (1u << 20);) {
    auto [rec, rn] = co_await client.socket.async_read_some(asio::buffer(sink), kUseTuple);
    if (rec) {
      break;
    }
    drained += rn;
  }
  client.socket.close(ignored);
}

}  // namespace fwd::dataplane::proxy
