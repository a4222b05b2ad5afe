#include "dataplane/pipeline/upstream_io.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <type_traits>

#include "common/config/duration.h"
#include "dataplane/pipeline/client_conn.h"

namespace fwd::dataplane::pipeline {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using proxy::kUseTuple;
using proxy::UpstreamConn;
using proxy::UpstreamHeadParser;

}  // namespace

Task<void> sleepUntil(Clock::time_point at) {
  proxy::Timer timer(co_await asio::this_coro::executor);
  timer.expires_at(at);
  co_await timer.async_wait(kUseTuple);
}

Task<std::unique_ptr<UpstreamConn>> connectUpstream(WorkerContext& w, const Destination& t,
                                                    std::chrono::milliseconds connect_timeout,
                                                    Clock::time_point deadline, Attempt& out) {
  auto executor = co_await asio::this_coro::executor;
  proxy::Resolver resolver(executor);
  // Asio resolves on its own background thread: getaddrinfo never blocks this worker.
  auto [rec, endpoints] = co_await resolver.async_resolve(t.host, t.port, kUseTuple);
  if (rec) {
    out.outcome = "dns";
    out.failure = Failure::kConnect;
    out.detail = "upstream " + std::string(t.name) + ": cannot resolve " + std::string(t.host) +
                 ": " + rec.message();
    co_return nullptr;
  }
  auto conn = std::make_unique<UpstreamConn>();
  conn->tcp.emplace(executor);
  conn->deadline.bind(w.watchdog, *conn->tcp);
  auto connect_deadline = std::min(deadline, Clock::now() + connect_timeout);
  conn->deadline.at(connect_deadline);
  auto [cec, ep] = co_await asio::async_connect(*conn->tcp, endpoints, kUseTuple);
  if (cec) {
    if (timedOut(cec, conn->deadline)) {
      out.outcome = "connect_timeout";
      out.failure = Failure::kTimeout;
      out.detail = "upstream " + std::string(t.name) + ": cannot connect to " +
                   std::string(t.host_header) + " within " +
                   common::config::formatDuration(connect_timeout) + " (its connect timeout)";
    } else {
      out.outcome = "connect";
      out.failure = Failure::kConnect;
      out.detail = "upstream " + std::string(t.name) + ": cannot connect to " +
                   std::string(t.host_header) + ": " + cec.message();
    }
    co_return nullptr;
  }
  conn->tcp->set_option(tcp::no_delay(true));
  if (!t.tls) {
    // sendRequest hands requests straight to the kernel; should this fail, it writes them
    // asynchronously instead, never blocking.
    boost::system::error_code nb_ec;
    conn->tcp->non_blocking(true, nb_ec);
    co_return conn;
  }
  auto& tls_ctx = t.insecure_skip_verify ? w.tls_insecure : w.tls_verify;
  conn->tls.emplace(std::move(*conn->tcp), tls_ctx);
  conn->tcp.reset();
  conn->deadline.bind(w.watchdog, conn->tls->next_layer());
  const std::string host(t.host);
  SSL_set_tlsext_host_name(conn->tls->native_handle(), host.c_str());
  if (!t.insecure_skip_verify) {
    conn->tls->set_verify_callback(asio::ssl::host_name_verification(host));
  }
  conn->deadline.at(connect_deadline);
  auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kUseTuple);
  if (hec) {
    bool timed_out = timedOut(hec, conn->deadline);
    out.outcome = timed_out ? "connect_timeout" : "tls";
    out.failure = timed_out ? Failure::kTimeout : Failure::kConnect;
    out.detail = "upstream " + std::string(t.name) + ": TLS handshake with " +
                 std::string(t.host_header) + " failed: " + hec.message();
    co_return nullptr;
  }
  co_return conn;
}

template <typename Stream>
Task<HeadRead> readHead(Stream& upstream, UpstreamHeadParser& parser, RelayBuffer& buf,
                        size_t header_limit) {
  HeadRead out;
  // The parser takes the status line as soon as it is whole and the fields once the blank line
  // is there; what it took is not presented again.
  size_t parsed = 0;
  for (;;) {
    if (out.read == buf.size()) {
      if (out.read - parsed > header_limit) {
        out.ec = http::error::header_limit;
        co_return out;
      }
      // Room for one byte over the limit: the parser itself reports header_limit there.
      buf.grow(out.read, parsed + header_limit + 1);
    }
    auto [ec, n] = co_await upstream.async_read_some(
        asio::buffer(buf.data() + out.read, buf.size() - out.read), kUseTuple);
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      out.ec = out.read == 0 ? http::error::end_of_stream : http::error::partial_message;
      co_return out;
    }
    if (ec) {
      out.ec = ec;
      co_return out;
    }
    out.read += n;
    if (parsed == 0) {
      // Before the final status line: drop interim (1xx) responses as they complete.
      proxy::InterimHeads interim = proxy::interimHeads({buf.data(), out.read}, header_limit);
      if (interim.bytes > 0) {
        std::memmove(buf.data(), buf.data() + interim.bytes, out.read - interim.bytes);
        out.read -= interim.bytes;
      }
      if (interim.need_more) {
        continue;
      }
    }
    boost::beast::error_code pec;
    parsed += parser.put(asio::buffer(buf.data() + parsed, out.read - parsed), pec);
    if (pec == http::error::need_more) {
      continue;
    }
    out.ec = pec;
    out.head_bytes = parsed;
    co_return out;
  }
}

template <typename Stream>
Task<boost::system::error_code> sendRequest(Stream& upstream,
                                            const std::array<asio::const_buffer, 2>& bufs) {
  size_t sent = 0;
  if constexpr (std::is_same_v<Stream, Socket>) {
    if (upstream.non_blocking()) {
      boost::system::error_code ec;
      sent = sendNow(upstream, bufs, ec);
      if (ec || sent == asio::buffer_size(bufs)) {
        co_return ec;
      }
    }
  }
  co_return co_await sendRest(upstream, bufs, sent);
}

using TlsStream = boost::beast::ssl_stream<proxy::Socket>;
template Task<HeadRead> readHead<proxy::Socket>(proxy::Socket&, UpstreamHeadParser&, RelayBuffer&,
                                                size_t);
template Task<HeadRead> readHead<TlsStream>(TlsStream&, UpstreamHeadParser&, RelayBuffer&, size_t);
template Task<boost::system::error_code> sendRequest<proxy::Socket>(
    proxy::Socket&, const std::array<asio::const_buffer, 2>&);
template Task<boost::system::error_code> sendRequest<TlsStream>(
    TlsStream&, const std::array<asio::const_buffer, 2>&);

}  // namespace fwd::dataplane::pipeline
