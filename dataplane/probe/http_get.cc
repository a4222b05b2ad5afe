#include "dataplane/probe/http_get.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>

#include "common/config/duration.h"
#include "dataplane/provider/provider.h"

namespace fwd::dataplane::probe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kReadChunkBytes = 16 * 1024;

// Records a failed step. Beast's stream timer reports beast::error::timeout; an HTTP parse error
// means the peer does not speak HTTP (a closed connection before the head is an IO failure).
void fail(HttpGetResult& out, const beast::error_code& ec, HttpGetError kind,
          const HttpGetRequest& req, std::string_view step) {
  if (ec == beast::error::timeout) {
    out.error = HttpGetError::kTimeout;
    out.detail = std::string(step) + " " + req.host_header + " timed out (limit " +
                 common::config::formatDuration(req.timeout) + ")";
    return;
  }
  out.error = kind;
  const bool http_error = ec.category() == http::make_error_code(http::error::need_more).category();
  if (kind == HttpGetError::kIo && http_error && ec != http::error::end_of_stream &&
      ec != http::error::partial_message) {
    out.error = HttpGetError::kMalformed;
  }
  out.detail = std::string(step) + " " + req.host_header + " failed: " + ec.message();
}

asio::awaitable<bool> connect(beast::tcp_stream& stream, const tcp::resolver::results_type& eps,
                              Clock::time_point deadline, const HttpGetRequest& req,
                              HttpGetResult& out) {
  stream.expires_at(deadline);
  auto [ec, ep] = co_await stream.async_connect(eps, kUseTuple);
  if (ec) {
    fail(out, ec, HttpGetError::kConnect, req, "connecting to");
    co_return false;
  }
  stream.socket().set_option(tcp::no_delay(true), ec);
  co_return true;
}

// Sends the GET and reads the response: the head, then at most max_body_bytes of the body.
template <typename Stream>
asio::awaitable<void> exchange(Stream& stream, beast::tcp_stream& lowest,
                               Clock::time_point deadline, const HttpGetRequest& req,
                               HttpGetResult& out) {
  http::request<http::empty_body> get{http::verb::get, req.target, 11};
  get.set(http::field::host, req.host_header);
  if (!req.credential.empty()) {
    get.set(req.credential_field, req.credential);
  }
  get.set(http::field::accept, "application/json");
  get.set(http::field::user_agent, "fwd");
  get.keep_alive(false);
  lowest.expires_at(deadline);
  auto [wec, wn] = co_await http::async_write(stream, get, kUseTuple);
  if (wec) {
    fail(out, wec, HttpGetError::kIo, req, "sending to");
    co_return;
  }

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // capped below, not refused
  lowest.expires_at(deadline);
  auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
  if (hec) {
    fail(out, hec, HttpGetError::kIo, req, "reading the response of");
    co_return;
  }
  out.status = static_cast<int>(parser.get().result_int());

  std::array<char, kReadChunkBytes> chunk;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    lowest.expires_at(deadline);
    auto [rec, rn] = co_await http::async_read_some(stream, buffer, parser, kUseTuple);
    if (rec == http::error::need_buffer) {
      rec = {};
    }
    // A TLS peer that closes without close_notify ends a body delimited by the connection close.
    if (rec == asio::ssl::error::stream_truncated && !parser.chunked() &&
        !parser.content_length()) {
      beast::error_code eof;
      parser.put_eof(eof);
      rec = eof;
    }
    std::size_t got = chunk.size() - parser.get().body().size;
    std::size_t room = req.max_body_bytes - out.body.size();
    out.body.append(chunk.data(), std::min(got, room));
    if (got > room) {
      out.truncated = true;
      co_return;
    }
    if (rec) {
      fail(out, rec, HttpGetError::kIo, req, "reading the response body of");
      co_return;
    }
  }
}

}  // namespace

TlsClientContexts::TlsClientContexts()
    : verify_(asio::ssl::context::tls_client), insecure_(asio::ssl::context::tls_client) {
  verify_.set_default_verify_paths();
  verify_.set_verify_mode(asio::ssl::verify_peer);
  insecure_.set_verify_mode(asio::ssl::verify_none);
}

HttpGetRequest upstreamGet(const config::UpstreamTarget& upstream, std::string_view path,
                           std::chrono::milliseconds timeout) {
  HttpGetRequest r;
  r.tls = upstream.tls;
  r.insecure_skip_verify = upstream.insecure_skip_verify;
  r.host = upstream.host;
  r.port = upstream.port;
  r.host_header = upstream.host_header;
  r.target = upstream.provider ? upstream.provider->probeTarget(upstream, path)
                               : upstream.base_path + std::string(path);
  r.credential_field = upstream.credential_field;
  r.credential = upstream.credential;
  r.timeout = timeout;
  return r;
}

std::string_view toString(HttpGetError error) {
  switch (error) {
    case HttpGetError::kNone:
      return "none";
    case HttpGetError::kTimeout:
      return "timeout";
    case HttpGetError::kResolve:
      return "resolve";
    case HttpGetError::kConnect:
      return "connect";
    case HttpGetError::kTls:
      return "tls";
    case HttpGetError::kIo:
      return "io";
    case HttpGetError::kMalformed:
      return "malformed";
  }
  return "unknown";
}

asio::awaitable<HttpGetResult> httpGet(const HttpGetRequest& req, TlsClientContexts& tls) {
  HttpGetResult out;
  const auto start = Clock::now();
  const auto deadline = start + req.timeout;
  auto executor = co_await asio::this_coro::executor;

  tcp::resolver resolver(executor);
  auto [rec, endpoints] = co_await resolver.async_resolve(req.host, req.port, kUseTuple);
  if (Clock::now() >= deadline) {
    fail(out, beast::error::timeout, HttpGetError::kResolve, req, "resolving");
  } else if (rec) {
    fail(out, rec, HttpGetError::kResolve, req, "resolving");
  } else if (!req.tls) {
    beast::tcp_stream stream(executor);
    if (co_await connect(stream, endpoints, deadline, req, out)) {
      co_await exchange(stream, stream, deadline, req, out);
    }
  } else {
    beast::ssl_stream<beast::tcp_stream> stream(
        executor, req.insecure_skip_verify ? tls.insecure() : tls.verify());
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    if (co_await connect(lowest, endpoints, deadline, req, out)) {
      SSL_set_tlsext_host_name(stream.native_handle(), req.host.c_str());
      if (!req.insecure_skip_verify) {
        stream.set_verify_callback(asio::ssl::host_name_verification(req.host));
      }
      lowest.expires_at(deadline);
      auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kUseTuple);
      if (hec) {
        fail(out, hec, HttpGetError::kTls, req, "TLS handshake with");
      } else {
        co_await exchange(stream, lowest, deadline, req, out);
      }
    }
  }
  out.elapsed = Clock::now() - start;
  co_return out;
}

}  // namespace fwd::dataplane::probe
