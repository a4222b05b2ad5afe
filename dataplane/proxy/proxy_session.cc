#include "dataplane/proxy/proxy_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <type_traits>

#include "absl/container/inlined_vector.h"
#include "common/config/duration.h"
#include "common/log/log.h"
#include "common/sse/sse_parser.h"
#include "dataplane/models/models_endpoint.h"
#include "dataplane/proxy/body_inspect.h"
#include "dataplane/proxy/chunked_scanner.h"
#include "dataplane/proxy/client_request.h"
#include "dataplane/proxy/errors.h"
#include "dataplane/proxy/upstream_head.h"
#include "dataplane/proxy/watchdog.h"
#include "dataplane/proxy/worker_io.h"

namespace fwd::dataplane::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// An upstream response is read into one buffer per client connection, head and body: a
// response that arrives at once (a JSON answer, a burst of events) is read with one recv and
// relayed with one send.
constexpr size_t kRelayBufferBytes = 16 * 1024;
constexpr size_t kMaxUpstreamErrorBody = 8 * 1024;
// The requested model plus fallbacks: a bound on how far one request can wander.
constexpr size_t kMaxModelsPerRequest = 8;
// Read buffer capacity: a request head (plus a small body) arrives in one recv.
constexpr size_t kClientReadBufferBytes = 4 * 1024;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool iequals(std::string_view a, std::string_view b) { return beast::iequals(a, b); }

// Why an attempt failed, as retry_on conditions see it.
enum class Failure {
  kNone,
  kConnect,  // DNS, TCP connect or TLS handshake failed: nothing reached the upstream
  kTimeout,  // a connect, first-byte, idle or total deadline passed
  kReset,    // the connection broke before a response head (counts as 5xx, as in Envoy)
  k5xx,
  k429,        // only when the route retries on 429; otherwise a 429 is the answer
  kMidStream,  // the response broke after its head went to the client
};

// What one attempt at one upstream came to.
struct Attempt {
  double head_seconds = -1;  // time to the upstream's response head, when one arrived
  bool responded = false;    // a response head reached the client; the request is over
  bool client_alive = true;  // the client connection may serve another request
  bool stale = false;        // a reused pooled connection was dead before any response byte
  bool reached = false;      // the request was sent: a retry adds load to an upstream
  Failure failure = Failure::kNone;
  int status = 0;       // status relayed (or the upstream's 5xx)
  std::string outcome;  // metrics label: ok, connect, tls, dns, reset, *_timeout, http_5xx ...
  std::string detail;   // human-readable, for the 502/504 message
};

}  // namespace

// Watches the client socket while an upstream attempt is in progress, so a client that hangs up
// cancels the upstream request at once (a long completion stops being generated) instead of when
// the answer arrives. Armed only once an attempt has lasted a watchdog tick: arming costs an
// epoll_ctl, which fast requests should not pay, and asio's re-arm re-evaluates readiness, so a
// hang-up before the arming is still seen. Shared with the wait handler, which may run after the
// attempt ended.
struct ClientWatch {
  Socket* client = nullptr;
  Socket* upstream = nullptr;  // cancelled when the client is gone
  std::chrono::steady_clock::time_point since;
  size_t slot = 0;  // index in WorkerContext::unarmed_watches while not armed
  bool active = true;
  bool armed = false;
  bool gone = false;
};

namespace {

using ClientWatchPtr = std::shared_ptr<ClientWatch>;

void armClientWatch(const ClientWatchPtr& watch) {
  watch->armed = true;
  watch->client->async_wait(Socket::wait_read, [watch](boost::system::error_code ec) {
    if (ec || !watch->active) {
      return;  // cancelled, or the attempt is over: the sockets may be gone, touch nothing
    }
    char c;
    ssize_t n = ::recv(watch->client->native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      return;  // bytes of a pipelined next request: the client is there
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      armClientWatch(watch);
      return;
    }
    watch->gone = true;
    if (watch->upstream != nullptr) {
      boost::system::error_code ignored;
      watch->upstream->cancel(ignored);
    }
  });
}

// What an attempt may take and how it treats a 429, from the upstream and its route.
struct AttemptPlan {
  config::AttemptTimeouts timeouts;
  bool fail_on_429 = false;  // a 429 is a failure to retry elsewhere, not the answer
};

config::AttemptTimeouts effectiveTimeouts(const config::UpstreamTarget& t,
                                          const config::CompiledRoute* route) {
  config::AttemptTimeouts out = t.timeouts;
  if (route == nullptr) {
    return out;
  }
  const auto& o = route->timeouts;
  if (o.total) {
    out.total = *o.total;
    // Unset first-byte limits follow the total, as they do on the upstream.
    out.first_byte = std::min(out.first_byte, out.total);
    out.stream_first_byte = std::min(out.stream_first_byte, out.total);
  }
  if (o.connect) {
    out.connect = *o.connect;
  }
  if (o.first_byte) {
    out.first_byte = *o.first_byte;
    if (!o.stream_first_byte) {
      out.stream_first_byte = std::min(out.stream_first_byte, out.first_byte);
    }
  }
  if (o.stream_first_byte) {
    out.stream_first_byte = *o.stream_first_byte;
  }
  if (o.idle) {
    out.idle = *o.idle;
  }
  return out;
}

struct Request {
  ClientRequestParser* req = nullptr;
  std::string_view path;                  // without query
  std::string_view upstream_target_rest;  // after "/v1", query included (into the target)
  BodyInfo body;
  std::string model;  // the model, or the path for bodies without one
  const config::KeyEntry* key = nullptr;
  Clock::time_point start;
  bool keep_alive = true;
};

// What an upstream response is read into: its head, then its body piece by piece. Allocated on
// the first response and reused for every later one on the client connection: out of the
// coroutine frame, whose 16 KiB would otherwise be allocated and freed again for every attempt
// (asio recycles only frames below ~1 KiB). Not zeroed: pages are touched only as far as data is
// read into them. Only a response head longer than kRelayBufferBytes (heads may have up to
// 64 KiB) makes it grow, and it then stays that size for the connection.
class RelayBuffer {
 public:
  char* data() { return data_.get(); }
  size_t size() const { return size_; }

  /// Allocates kRelayBufferBytes on first use.
  void ensure() {
    if (!data_) {
      data_ = std::make_unique_for_overwrite<char[]>(kRelayBufferBytes);
      size_ = kRelayBufferBytes;
    }
  }
  /// Doubles the capacity, at most to `limit` (and never below the current size), keeping the
  /// first `keep` bytes.
  void grow(size_t keep, size_t limit) {
    size_t bigger = std::max(size_, std::min(size_ * 2, limit));
    auto next = std::make_unique_for_overwrite<char[]>(bigger);
    std::memcpy(next.get(), data_.get(), keep);
    data_ = std::move(next);
    size_ = bigger;
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

// The client side of a connection: its socket and the deadline of the operation in progress.
struct ClientConn {
  Socket socket;
  Deadline deadline;
  std::string response_head;  // reused for every response on this connection
  // The response relay buffer (see RelayBuffer), reused for every response on this connection.
  RelayBuffer relay;
  config::KeyMemo key;  // the key this connection authenticated with last
  std::string address;  // the peer's IP address, as upstreams see it in X-Forwarded-For
  // TLS over `socket` when the listener has a certificate; every read and write of the
  // connection then goes through it.
  std::unique_ptr<ClientTlsStream> tls;
};

// Operations on the client's byte stream, its TLS layer when it has one: plain functions that
// pick the stream and return the operation's awaitable (a co_await in each arm of a conditional
// is what GCC 12's coroutines get wrong).
template <typename Body>
auto writeMessage(ClientConn& client, http::response<Body>& message) {
  return client.tls ? http::async_write(*client.tls, message, kUseTuple)
                    : http::async_write(client.socket, message, kUseTuple);
}

auto readRequestHead(ClientConn& client, beast::flat_buffer& buffer, ClientRequestParser& parser) {
  return client.tls ? http::async_read_header(*client.tls, buffer, parser, kUseTuple)
                    : http::async_read_header(client.socket, buffer, parser, kUseTuple);
}

auto readRequestBody(ClientConn& client, beast::flat_buffer& buffer, ClientRequestParser& parser) {
  return client.tls ? http::async_read(*client.tls, buffer, parser, kUseTuple)
                    : http::async_read(client.socket, buffer, parser, kUseTuple);
}

// An operation ended because its deadline passed (the watchdog cancelled it).
bool timedOut(const boost::system::error_code& ec, const Deadline& d) {
  return ec == asio::error::operation_aborted && d.expired();
}

ApiError bodyTooLarge(const ProxyOptions& o) {
  return invalidRequest(
      413, "Request body too large: the limit is " + std::to_string(o.max_body_bytes) + " bytes.",
      "request_too_large");
}

ApiError upstreamFailure(int status, std::string code, std::string message) {
  return ApiError{status, "api_error", std::move(code), std::move(message), ""};
}

// Writes a complete JSON response fwd produced itself (an error, or the models list); returns
// false when the client is gone.
Task<bool> writeJson(WorkerContext& w, ClientConn& client, int status, const std::string& body,
                     bool keep_alive, int retry_after_seconds = 0) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  if (retry_after_seconds > 0) {
    res.set(http::field::retry_after, std::to_string(retry_after_seconds));
  }
  res.keep_alive(keep_alive);
  res.body() = body;
  res.prepare_payload();
  client.deadline.after(w.options.client_write_timeout);
  auto [ec, n] = co_await writeMessage(client, res);
  co_return !ec;
}

// Writes a complete OpenAI-shaped error response; returns false when the client is gone.
Task<bool> writeError(WorkerContext& w, ClientConn& client, const ApiError& e, bool keep_alive) {
  const std::string body = errorBody(e);  // named: see respondError on GCC 12 temporaries
  co_return co_await writeJson(w, client, e.status, body, keep_alive, e.retry_after_seconds);
}

std::string_view bearerToken(const ClientRequestParser& req) {
  std::string_view auth = req.field(http::field::authorization);
  if (!auth.empty()) {
    std::string_view v = auth;
    if (v.size() > 7 && iequals(v.substr(0, 7), "bearer ")) {
      v.remove_prefix(7);
      while (!v.empty() && v.front() == ' ') {
        v.remove_prefix(1);
      }
      return v;
    }
    return {};
  }
  return req.field("api-key");
}

// The metrics label for `model`: the model itself, until a worker has seen max_model_labels
// distinct ones, then "other" (bounded cardinality). The view points into the worker's set.
std::string_view modelLabel(WorkerContext& w, std::string_view model) {
  auto it = w.model_labels.find(model);
  if (it != w.model_labels.end()) {
    return *it;
  }
  if (w.model_labels.size() >= w.options.max_model_labels) {
    return "other";
  }
  return *w.model_labels.emplace(model).first;
}

std::string extractUpstreamMessage(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object() && parsed.contains("error")) {
    const auto& err = parsed["error"];
    if (err.is_object() && err.contains("message") && err["message"].is_string()) {
      return err["message"].get<std::string>();
    }
    if (err.is_string()) {
      return err.get<std::string>();
    }
  }
  return body.substr(0, 200);
}

// Opens a new connection to `t` (resolve, connect, TLS handshake) bounded by the connect
// timeout and the attempt deadline.
Task<std::unique_ptr<UpstreamConn>> connectUpstream(WorkerContext& w,
                                                    const config::UpstreamTarget& t,
                                                    std::chrono::milliseconds connect_timeout,
                                                    Clock::time_point deadline, Attempt& out) {
  auto executor = co_await asio::this_coro::executor;
  Resolver resolver(executor);
  // Asio resolves on its own background thread: getaddrinfo never blocks this worker.
  auto [rec, endpoints] = co_await resolver.async_resolve(t.host, t.port, kUseTuple);
  if (rec) {
    out.outcome = "dns";
    out.failure = Failure::kConnect;
    out.detail = "upstream " + t.name + ": cannot resolve " + t.host + ": " + rec.message();
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
      out.detail = "upstream " + t.name + ": cannot connect to " + t.host_header + " within " +
                   common::config::formatDuration(connect_timeout) + " (its connect timeout)";
    } else {
      out.outcome = "connect";
      out.failure = Failure::kConnect;
      out.detail =
          "upstream " + t.name + ": cannot connect to " + t.host_header + ": " + cec.message();
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
  auto& ctx = t.insecure_skip_verify ? w.tls_insecure : w.tls_verify;
  conn->tls.emplace(std::move(*conn->tcp), ctx);
  conn->tcp.reset();
  conn->deadline.bind(w.watchdog, conn->tls->next_layer());
  SSL_set_tlsext_host_name(conn->tls->native_handle(), t.host.c_str());
  if (!t.insecure_skip_verify) {
    conn->tls->set_verify_callback(asio::ssl::host_name_verification(t.host));
  }
  conn->deadline.at(connect_deadline);
  auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kUseTuple);
  if (hec) {
    bool timed_out = timedOut(hec, conn->deadline);
    out.outcome = timed_out ? "connect_timeout" : "tls";
    out.failure = timed_out ? Failure::kTimeout : Failure::kConnect;
    out.detail = "upstream " + t.name + ": TLS handshake with " + t.host_header +
                 " failed: " + hec.message();
    co_return nullptr;
  }
  co_return conn;
}

// The upstream request head, written by hand into a buffer the connection reuses: Beast's
// message + serializer would allocate one node per header and walk them through buffer views.
// The client's address goes upstream as X-Forwarded-For, in place of whatever the client sent
// there: without trusted proxies in front, any client could claim any address.
void buildRequestHead(std::string& out, const ClientRequestParser& req,
                      const config::UpstreamTarget& t, std::string_view target_rest,
                      std::string_view client_address) {
  out.clear();
  out.append(req.methodString()).append(" ").append(t.base_path).append(target_rest);
  out.append(" HTTP/1.1\r\n");
  const bool hop_by_hop_named = req.connectionNamesFields();
  for (const auto& field : req.fields()) {
    std::string_view name = req.nameOf(field);
    if (!isDroppedRequestField(field.name, name) &&
        !(hop_by_hop_named && req.namedInConnection(name))) {
      appendField(out, name, req.valueOf(field));
    }
  }
  if (!client_address.empty()) {
    appendField(out, "X-Forwarded-For", client_address);
  }
  appendField(out, "Host", t.host_header);
  if (!t.authorization.empty()) {
    appendField(out, "Authorization", t.authorization);
  }
  bool body_method = req.method() == http::verb::post || req.method() == http::verb::put ||
                     req.method() == http::verb::patch;
  if (!req.body().empty() || body_method) {
    char len[24];
    auto [end, ec] = std::to_chars(len, len + sizeof len, req.body().size());
    appendField(out, "Content-Length", std::string_view(len, static_cast<size_t>(end - len)));
  }
  out.append("\r\n");
}

enum class Framing { kNone, kLength, kChunked };

// Hands `bufs` to the kernel at once (the socket is non-blocking) and returns how many bytes it
// took. A full socket buffer is not an error: ec stays clear and sendRest writes the rest.
template <typename Buffers>
size_t sendNow(Socket& socket, const Buffers& bufs, boost::system::error_code& ec) {
  size_t n = socket.write_some(bufs, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
  }
  return n;
}

// Writes what sendNow did not send of `bufs` (its first `sent` bytes are gone), waiting for the
// socket to drain.
template <typename Stream, typename Buffers>
Task<boost::system::error_code> sendRest(Stream& stream, const Buffers& bufs, size_t sent) {
  beast::buffers_suffix<Buffers> rest(bufs);
  rest.consume(sent);
  auto [ec, n] = co_await asio::async_write(stream, rest, kUseTuple);
  co_return ec;
}

// One gathered write to the client: the head (if not sent yet), then `data` (as one chunk if
// `wrap_chunk`, else as it is), then the last chunk if `end_chunked`. The client socket is in
// non-blocking mode: startClientWrite hands the bytes straight to the kernel, and only what it
// does not take now waits for the socket to drain (finishClientWrite: an asynchronous write under
// the write timeout). A relayed event costs one sendmsg, not an operation queued, completed and
// resumed. Not movable once started: the buffers point into it.
struct ClientWrite {
  char size_line[24];
  std::array<asio::const_buffer, 5> bufs;
  size_t n = 0;
  size_t written = 0;
  boost::system::error_code ec;
};

// True when the write is over: all sent, or failed (cw.ec).
bool startClientWrite(ClientConn& client, ClientWrite& cw, std::string_view head,
                      std::string_view data, bool wrap_chunk, bool end_chunked) {
  cw.bufs[cw.n++] = asio::buffer(head.data(), head.size());
  if (wrap_chunk && !data.empty()) {
    char* line = cw.size_line;
    auto [end, ec] = std::to_chars(line, line + sizeof cw.size_line - 2, data.size(), 16);
    *end++ = '\r';
    *end++ = '\n';
    cw.bufs[cw.n++] = asio::buffer(line, static_cast<size_t>(end - line));
    cw.bufs[cw.n++] = asio::buffer(data.data(), data.size());
    cw.bufs[cw.n++] = asio::buffer("\r\n", 2);
  } else {
    cw.bufs[cw.n++] = asio::buffer(data.data(), data.size());
  }
  if (end_chunked) {
    cw.bufs[cw.n++] = asio::buffer("0\r\n\r\n", 5);
  }
  const std::span<const asio::const_buffer> all(cw.bufs.data(), cw.n);
  if (client.tls) {
    return false;  // TLS records are written by finishClientWrite
  }
  cw.written = sendNow(client.socket, all, cw.ec);
  return cw.ec || cw.written == asio::buffer_size(all);
}

Task<boost::system::error_code> finishClientWrite(WorkerContext& w, ClientConn& client,
                                                  ClientWrite& cw) {
  client.deadline.after(w.options.client_write_timeout);
  const std::span<const asio::const_buffer> all(cw.bufs.data(), cw.n);
  if (client.tls) {
    co_return co_await sendRest(*client.tls, all, cw.written);
  }
  co_return co_await sendRest(client.socket, all, cw.written);
}

Task<boost::system::error_code> writeToClient(WorkerContext& w, ClientConn& client,
                                              std::string_view head, std::string_view data,
                                              bool wrap_chunk, bool end_chunked) {
  ClientWrite cw;
  if (startClientWrite(client, cw, head, data, wrap_chunk, end_chunked)) {
    co_return cw.ec;
  }
  co_return co_await finishClientWrite(w, client, cw);
}

// A 429 with Retry-After (in seconds; an HTTP date is not honoured) takes the upstream out of
// every worker's candidates for that long, at most 10 minutes.
void coolOnRetryAfter(const config::UpstreamTarget& t, std::optional<std::uint64_t> retry_after) {
  if (!retry_after || *retry_after == 0 || t.health == nullptr) {
    return;
  }
  std::uint64_t seconds = std::min<std::uint64_t>(*retry_after, 600);
  t.health->coolUntil(Clock::now() + std::chrono::seconds(seconds));
}

// The attempt ended because the client hung up (ClientWatch cancelled the upstream socket).
Attempt clientGone(Attempt out) {
  out.client_alive = false;
  out.status = 499;
  out.outcome = "client_closed";
  out.failure = Failure::kNone;
  return out;
}

// Where the head of an upstream response ended in the relay buffer, and how much was read.
struct HeadRead {
  boost::system::error_code ec;
  size_t head_bytes = 0;  // buf[0, head_bytes) is the head
  size_t read = 0;        // buf[head_bytes, read) are body bytes that came with it
};

// Reads an upstream response head into buf (growing it only for a head that does not fit, up
// to the header limit). Fails as Beast's http::async_read_header would: end_of_stream
// when the upstream closed before sending anything, partial_message when it closed mid-head,
// header_limit for a head over the limit.
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
      InterimHeads interim = interimHeads({buf.data(), out.read}, header_limit);
      if (interim.bytes > 0) {
        std::memmove(buf.data(), buf.data() + interim.bytes, out.read - interim.bytes);
        out.read -= interim.bytes;
      }
      if (interim.need_more) {
        continue;
      }
    }
    beast::error_code pec;
    parsed += parser.put(asio::buffer(buf.data() + parsed, out.read - parsed), pec);
    if (pec == http::error::need_more) {
      continue;
    }
    out.ec = pec;
    out.head_bytes = parsed;
    co_return out;
  }
}

// Where an upstream response body ends, whatever its framing: the upstream's own chunks
// (checked by ChunkedScanner), a Content-Length counted down, or the connection's close. The
// relay and the error-body reader both step through a body with it.
class BodyCursor {
 public:
  explicit BodyCursor(const UpstreamHeadParser& head)
      : chunked_(head.chunked()), done_(head.is_done()) {
    if (auto declared = head.content_length()) {
      left_ = *declared;
    }
  }

  /// The body ends when the upstream closes the connection (neither chunked nor sized).
  bool endsAtClose() const { return !chunked_ && !left_; }
  bool done() const { return done_; }
  /// Stopping here leaves the client between chunks (always so for a body fwd frames itself).
  bool atChunkBoundary() const { return !chunked_ || chunks_.atChunkBoundary(); }

  /// Steps over `fresh`, handing each piece of payload to `on_data`. `forward` bytes may go to
  /// the client as they are; bytes past `consumed` must be presented again with what follows.
  template <typename OnData>
  ChunkedScanner::Result step(std::string_view fresh, OnData&& on_data) {
    if (chunked_) {
      ChunkedScanner::Result r = chunks_.scan(fresh, on_data);
      done_ = r.done;
      return r;
    }
    ChunkedScanner::Result r;
    r.consumed = fresh.size();
    if (left_) {
      r.consumed = static_cast<size_t>(std::min<std::uint64_t>(fresh.size(), *left_));
      *left_ -= r.consumed;
      done_ = *left_ == 0;
    }
    r.forward = r.consumed;
    r.done = done_;
    on_data(fresh.substr(0, r.consumed));
    return r;
  }

 private:
  bool chunked_;
  bool done_;
  std::optional<std::uint64_t> left_;  // sized bodies: bytes still to come
  ChunkedScanner chunks_;
};

// The bytes of the relay buffer not yet stepped over: those that came with the head, then
// each read's. Bytes presented but not consumed (an unfinished chunk-size line) move to the front
// before the next read, which lands after them.
class BodyWindow {
 public:
  explicit BodyWindow(const HeadRead& head)
      : begin_(head.head_bytes), fresh_(head.read - head.head_bytes) {}

  /// Nothing new to step over: read the socket (into readInto()) first.
  bool needRead() const { return fresh_ == 0; }
  asio::mutable_buffer readInto(RelayBuffer& buf) {
    if (begin_ > 0) {
      std::memmove(buf.data(), buf.data() + begin_, kept_);
      begin_ = 0;
    }
    return asio::buffer(buf.data() + kept_, buf.size() - kept_);
  }
  void arrived(size_t n) { fresh_ = n; }
  /// The kept bytes and the new ones.
  std::string_view fresh(RelayBuffer& buf) const { return {buf.data() + begin_, kept_ + fresh_}; }
  /// The first `n` bytes of fresh() are done with; the rest are kept for the next step.
  void consume(size_t n) {
    begin_ += n;
    kept_ = kept_ + fresh_ - n;
    fresh_ = 0;
  }

 private:
  size_t begin_;
  size_t fresh_;
  size_t kept_ = 0;
};

// The body of an upstream error that fwd answers for (a 5xx, or a 429 it retries), decoded,
// at most kMaxUpstreamErrorBody bytes: only its message is wanted.
// `head` tells where the body bytes that came with the head are in buf.
template <typename Stream>
Task<std::string> readErrorBody(Stream& upstream, const UpstreamHeadParser& parser,
                                RelayBuffer& buf, const HeadRead& head) {
  std::string body;
  BodyCursor cursor(parser);
  BodyWindow window(head);
  while (!cursor.done() && body.size() < kMaxUpstreamErrorBody) {
    if (window.needRead()) {
      auto [ec, n] = co_await upstream.async_read_some(window.readInto(buf), kUseTuple);
      if (ec) {
        break;
      }
      window.arrived(n);
    }
    std::string_view fresh = window.fresh(buf);
    auto stepped = cursor.step(fresh, [&](std::string_view data) { body.append(data); });
    if (stepped.error != nullptr) {
      break;
    }
    window.consume(stepped.consumed);
  }
  co_return body;
}

// Writes the request upstream. On a plain connection the bytes go straight to the kernel
// (connectUpstream made the socket non-blocking): a request that fits the socket buffer, i.e.
// nearly all of them, costs one sendmsg and no operation queued, completed and resumed. What the
// kernel does not take now, and everything on TLS, goes through an asynchronous write under the
// attempt's deadline.
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

template <typename Stream>
Task<Attempt> exchange(WorkerContext& w, Stream& upstream, UpstreamConn& conn, ClientConn& client,
                       Request& r, const config::UpstreamTarget& t, const AttemptPlan& plan,
                       const ClientWatch& watch, Clock::time_point deadline, bool& reusable) {
  Attempt out;
  reusable = false;
  auto& req = *r.req;

  buildRequestHead(conn.request_head, req, t, r.upstream_target_rest, client.address);
  std::array<asio::const_buffer, 2> request_bufs = {
      asio::buffer(conn.request_head), asio::buffer(req.body().data(), req.body().size())};

  auto sent_at = Clock::now();
  conn.deadline.at(deadline);
  boost::system::error_code wec = co_await sendRequest(upstream, request_bufs);
  if (wec) {
    if (watch.gone) {
      co_return clientGone(std::move(out));
    }
    out.stale = conn.reused;
    out.reached = true;
    bool timed_out = timedOut(wec, conn.deadline);
    out.outcome = timed_out ? "total_timeout" : "reset";
    out.failure = timed_out ? Failure::kTimeout : Failure::kReset;
    out.detail = "sending to " + t.name + " failed: " + wec.message();
    co_return out;
  }
  out.reached = true;

  client.relay.ensure();
  RelayBuffer& buf = client.relay;
  UpstreamHeadParser parser(client.response_head);
  parser.header_limit(static_cast<std::uint32_t>(w.options.max_header_bytes));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (req.method() == http::verb::head) {
    parser.skip(true);
  }
  // Until the head: the first-byte limit (a shorter one for streams), within the total.
  auto head_limit = r.body.stream ? plan.timeouts.stream_first_byte : plan.timeouts.first_byte;
  bool head_limit_first = sent_at + head_limit < deadline;
  conn.deadline.at(head_limit_first ? sent_at + head_limit : deadline);
  HeadRead head = co_await readHead(upstream, parser, buf, w.options.max_header_bytes);
  if (auto hec = head.ec) {
    if (watch.gone) {
      co_return clientGone(std::move(out));
    }
    bool nothing_read = !parser.got_some();
    bool timed_out = timedOut(hec, conn.deadline);
    out.stale = conn.reused && nothing_read && !timed_out;
    out.failure = timed_out ? Failure::kTimeout : Failure::kReset;
    if (!timed_out) {
      out.outcome = "reset";
      out.detail = "reading the response of " + t.name + " failed: " + hec.message();
    } else if (head_limit_first) {
      const char* which = r.body.stream ? "stream first-byte" : "first-byte";
      out.outcome = "first_byte_timeout";
      out.detail = "upstream " + t.name + " sent no response head within " +
                   common::config::formatDuration(head_limit) + " (the " + which + " timeout)";
    } else {
      out.outcome = "total_timeout";
      out.detail = "upstream " + t.name + " did not answer within " +
                   common::config::formatDuration(plan.timeouts.total) + " (the total timeout)";
    }
    co_return out;
  }
  conn.deadline.at(deadline);
  out.head_seconds = secondsSince(sent_at);
  w.metrics.upstream_duration.cell(w.index, {t.name}).observe(out.head_seconds);
  if (parser.status() == 429) {
    coolOnRetryAfter(t, parser.retryAfterSeconds());
  }
  out.status = static_cast<int>(parser.status());

  bool retry_429 = out.status == 429 && plan.fail_on_429;
  if (out.status >= 500 || retry_429) {
    // Not relayed: read a bounded part of the body for the error message, then drop the
    // connection (the rest of the body is not worth waiting for).
    std::string body = co_await readErrorBody(upstream, parser, buf, head);
    out.outcome = retry_429 ? "http_429" : "http_5xx";
    out.failure = retry_429 ? Failure::k429 : Failure::k5xx;
    out.detail = "upstream " + t.name + " returned " + std::to_string(out.status) + ": " +
                 extractUpstreamMessage(body);
    co_return out;
  }

  // From here on the response is the client's: no other upstream will be tried.
  out.responded = true;
  out.outcome = "ok";
  bool sse = parser.eventStream();
  bool bodyless = req.method() == http::verb::head || out.status == 204 || out.status == 304 ||
                  (out.status >= 100 && out.status < 200);
  Framing framing = Framing::kChunked;
  std::optional<std::uint64_t> length;
  if (auto declared = parser.content_length()) {
    length = *declared;
  }
  if (bodyless) {
    framing = Framing::kNone;
  } else if (length && !parser.chunked()) {
    framing = Framing::kLength;
  }
  bool chunked = framing == Framing::kChunked;
  bool keep_alive = r.keep_alive && !w.draining;
  parser.finishHead(t.name, chunked, length, keep_alive);
  std::string_view pending_head = client.response_head;
  BodyCursor cursor(parser);
  bool finished = bodyless || cursor.done();

  // The head goes out on its own when the response is over already (no body, or an empty one:
  // `Content-Length: 0`) or no body bytes are here yet (a stream whose first event is still
  // being generated). Otherwise it leaves together with the first body bytes in one write: one
  // sendmsg, one packet, instead of two.
  if (finished || head.read == head.head_bytes) {
    auto hwec = co_await writeToClient(w, client, pending_head, {}, false, false);
    pending_head = {};
    if (hwec) {
      out.client_alive = false;
      out.status = 499;
      co_return out;
    }
  }

  // The body is relayed as it arrives, byte for byte: a chunked body keeps the upstream's own
  // framing (ChunkedScanner checks it and finds the payload and the end without decoding), a
  // sized body is counted down, and a body that ends when the connection closes is framed in
  // chunks here. Each read is one client write, so an event reaches the client as soon as fwd
  // has it.
  common::sse::SseParser events(nullptr);  // counts events, keeps none of their fields
  bool first_byte = true;
  bool upstream_failed = false;
  bool extra_bytes = finished && head.read > head.head_bytes;
  std::string failure_detail;
  std::string_view failure_outcome = "mid_stream";
  BodyWindow window(head);
  auto see = [&](std::string_view payload) {
    if (sse) {
      events.feed(payload);
    }
  };
  while (!finished) {
    if (window.needRead()) {
      // Each read waits at most the idle limit (the silence between chunks), within the total.
      auto idle_at = Clock::now() + plan.timeouts.idle;
      bool idle_first = plan.timeouts.idle.count() > 0 && idle_at < deadline;
      conn.deadline.at(idle_first ? idle_at : deadline);
      auto [rec, rn] = co_await upstream.async_read_some(window.readInto(buf), kUseTuple);
      window.arrived(rn);
      if (rec == asio::error::eof && cursor.endsAtClose()) {
        finished = true;  // a body that ends when the upstream closes
      } else if (rec) {
        if (watch.gone) {
          co_return clientGone(std::move(out));
        }
        upstream_failed = true;
        if (rec == asio::error::eof || rec == asio::ssl::error::stream_truncated) {
          failure_detail = "upstream " + t.name + " closed the connection mid-response";
        } else if (!timedOut(rec, conn.deadline)) {
          failure_detail = "upstream " + t.name + " failed mid-response: " + rec.message();
        } else if (idle_first) {
          failure_outcome = "idle_timeout";
          failure_detail = "upstream " + t.name + " sent nothing for " +
                           common::config::formatDuration(plan.timeouts.idle) +
                           " mid-response (the idle timeout)";
        } else {
          failure_outcome = "total_timeout";
          failure_detail = "upstream " + t.name + " did not finish within " +
                           common::config::formatDuration(plan.timeouts.total) +
                           " (the total timeout)";
        }
        break;
      }
    }
    std::string_view fresh = window.fresh(buf);
    auto stepped = cursor.step(fresh, see);
    size_t forward = stepped.forward;
    size_t consumed = stepped.consumed;
    finished = finished || stepped.done;
    if (stepped.error != nullptr) {
      upstream_failed = true;
      failure_detail = "upstream " + t.name + " sent malformed chunked framing: " + stepped.error;
    }
    extra_bytes = finished && consumed < fresh.size();
    if (forward > 0 || finished) {
      // Written here, not through writeToClient: no coroutine frame per relayed piece.
      ClientWrite cw;
      boost::system::error_code cwec;
      if (startClientWrite(client, cw, pending_head, fresh.substr(0, forward),
                           chunked && !parser.chunked(), chunked && finished)) {
        cwec = cw.ec;
      } else {
        cwec = co_await finishClientWrite(w, client, cw);
      }
      pending_head = {};
      if (cwec) {
        // The client went away: stop reading the upstream; its connection is not reusable.
        out.client_alive = false;
        out.status = 499;
        out.outcome = "client_closed";
        co_return out;
      }
      if (first_byte && forward > 0) {
        first_byte = false;
        if (r.body.stream || sse) {
          w.metrics.stream_ttfb.cell(w.index, {t.name}).observe(secondsSince(r.start));
        }
      }
    }
    if (upstream_failed) {
      break;
    }
    window.consume(consumed);
  }
  if (sse && events.eventCount() > 0) {
    w.metrics.streamed_events.cell(w.index, {t.name}).add(events.eventCount());
  }

  if (upstream_failed) {
    out.outcome = std::string(failure_outcome);
    out.failure = Failure::kMidStream;
    out.detail = failure_detail;
    out.client_alive = false;
    // Logged as partial: what the client received before the cut.
    FWD_LOG(kWarn, "dataplane") << "partial response: " << failure_detail << "; relayed "
                                << events.eventCount() << " stream events";
    if (sse && chunked && cursor.atChunkBoundary()) {
      // The head is gone, so no retry: end the stream with an error event the client can see
      // (unless the cut came inside a chunk, where a chunk of fwd's own would break the framing).
      ApiError e = upstreamFailure(502, "upstream_error", failure_detail);
      std::string event = "data: " + errorBody(e) + "\n\n";
      co_await writeToClient(w, client, pending_head, event, true, true);
    }
    co_return out;
  }
  reusable = parser.keep_alive() && !extra_bytes;
  if (!keep_alive) {
    out.client_alive = false;
  }
  co_return out;
}

Task<Attempt> attemptUpstream(WorkerContext& w, ClientConn& client, Request& r,
                              const config::UpstreamTarget& t, const AttemptPlan& plan) {
  auto deadline = Clock::now() + plan.timeouts.total;
  Attempt out;
  auto watch = std::make_shared<ClientWatch>();
  watch->client = &client.socket;
  watch->since = Clock::now();
  watch->slot = w.unarmed_watches.size();
  w.unarmed_watches.push_back(watch);
  struct StopWatching {
    WorkerContext& w;
    ClientWatchPtr& watch;
    ~StopWatching() {
      watch->active = false;
      watch->upstream = nullptr;
      if (watch->armed) {
        boost::system::error_code ignored;
        watch->client->cancel(ignored);  // completes the pending wait with operation_aborted
        return;
      }
      // Never armed (the usual, fast case): leave the list by swapping with the last entry.
      auto& list = w.unarmed_watches;
      size_t i = watch->slot;
      assert(i < list.size() && list[i] == watch);
      if (i + 1 != list.size()) {
        list[i] = std::move(list.back());
        list[i]->slot = i;
      }
      list.pop_back();
    }
  } stop_watching{w, watch};
  for (int round = 0; round < 2; ++round) {
    // First round may reuse a pooled connection; if that one turns out to be dead before any
    // response byte (the upstream closed it while idle), the second round dials afresh.
    std::unique_ptr<UpstreamConn> conn = round == 0 ? w.pool.acquire(t.pool_key) : nullptr;
    if (!conn) {
      conn = co_await connectUpstream(w, t, plan.timeouts.connect, deadline, out);
      if (!conn) {
        co_return out;
      }
    }
    watch->upstream = &conn->lowest();
    bool reusable = false;
    if (conn->tls) {
      out = co_await exchange(w, *conn->tls, *conn, client, r, t, plan, *watch, deadline, reusable);
    } else {
      out = co_await exchange(w, *conn->tcp, *conn, client, r, t, plan, *watch, deadline, reusable);
    }
    watch->upstream = nullptr;
    if (out.stale && round == 0 && !watch->gone) {
      continue;
    }
    if (reusable) {
      conn->deadline.disarm();
      conn->reused = false;
      w.pool.release(t.pool_key, std::move(conn));
    }
    co_return out;
  }
  co_return out;
}

// Smooth weighted round robin (as nginx's upstream module does it): every upstream's running
// weight grows by its weight, the largest is chosen and lowered by the total. Over any window the
// choices follow the weights, spread out rather than in runs. The chosen upstream moves to the
// front; the others stay behind it in group order, for failover.
void pickWeighted(std::vector<std::int64_t>& running, config::CandidateList& candidates) {
  if (candidates.size() < 2) {
    return;
  }
  if (running.size() != candidates.size()) {
    running.assign(candidates.size(), 0);
  }
  std::int64_t total = 0;
  size_t best = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    running[i] += candidates[i]->weight;
    total += candidates[i]->weight;
    if (running[i] > running[best]) {
      best = i;
    }
  }
  running[best] -= total;
  std::rotate(candidates.begin(), candidates.begin() + best, candidates.begin() + best + 1);
}

// Power of two choices: of two upstreams drawn at random, the one with the lower cost goes
// first (ties keep group order); the rest follow in group order.
template <typename Cost>
void pickCheaperOfTwo(WorkerContext& w, config::CandidateList& candidates, Cost cost) {
  if (candidates.size() < 2) {
    return;
  }
  std::uniform_int_distribution<size_t> draw(0, candidates.size() - 1);
  size_t i = draw(w.random);
  size_t j = draw(w.random);
  while (j == i) {
    j = draw(w.random);
  }
  if (j < i) {
    std::swap(i, j);
  }
  size_t best = cost(*candidates[j]) < cost(*candidates[i]) ? j : i;
  std::rotate(candidates.begin(), candidates.begin() + best, candidates.begin() + best + 1);
}

std::int64_t inFlight(const WorkerContext& w, const config::UpstreamTarget& t) {
  return w.metrics.upstream_in_flight.cell(w.index, {t.name}).value();
}

// least-busy: fewer attempts in flight on this worker.
void pickLeastBusy(WorkerContext& w, config::CandidateList& candidates) {
  pickCheaperOfTwo(w, candidates, [&](const config::UpstreamTarget& t) {
    return static_cast<double>(inFlight(w, t));
  });
}

// latency (peak-EWMA, as Finagle and linkerd balance): the latency estimate times (attempts in
// flight + 1). An upstream never measured costs 0, so new ones get probed.
void pickFastest(WorkerContext& w, config::CandidateList& candidates) {
  pickCheaperOfTwo(w, candidates, [&](const config::UpstreamTarget& t) {
    auto latency = w.head_latency.find(t.name);
    double estimate = latency == w.head_latency.end() ? 0.0 : latency->second;
    return estimate * static_cast<double>(inFlight(w, t) + 1);
  });
}

void recordHeadLatency(WorkerContext& w, const std::string& upstream, double seconds) {
  constexpr double kDecay = 0.8;  // weight of the history for a faster sample
  auto [it, inserted] = w.head_latency.try_emplace(upstream, seconds);
  if (!inserted) {
    it->second = seconds > it->second ? seconds : kDecay * it->second + (1 - kDecay) * seconds;
  }
}

// Outlier ejection and active health checks take upstreams out of a group, but never more than
// half of it: the others stay as the last resort, after the available ones, so a group never
// routes to nothing while something may be alive (a group of one keeps its upstream).
void skipUnavailable(config::CandidateList& candidates, Clock::time_point now) {
  auto unavailable = [now](const config::UpstreamTarget* t) {
    return t->health != nullptr &&
           (t->health->ejectionLeft(now) > Clock::duration::zero() ||
            t->health->active() == config::UpstreamHealth::Active::kUnhealthy);
  };
  size_t down =
      static_cast<size_t>(std::count_if(candidates.begin(), candidates.end(), unavailable));
  if (down == 0) {
    return;
  }
  size_t keep_down = down - std::min(down, candidates.size() / 2);
  config::CandidateList ordered;
  config::CandidateList last_resort;
  for (const config::UpstreamTarget* t : candidates) {
    if (!unavailable(t)) {
      ordered.push_back(t);
    } else if (last_resort.size() < keep_down) {
      last_resort.push_back(t);
    }
  }
  ordered.insert(ordered.end(), last_resort.begin(), last_resort.end());
  candidates = std::move(ordered);
}

bool retryAllowedOn(const config::CompiledRoute::Retry& policy, Failure f) {
  switch (f) {
    case Failure::kConnect:
      return policy.on_connect;
    case Failure::kTimeout:
      return policy.on_timeout;
    case Failure::kReset:
    case Failure::k5xx:
      return policy.on_5xx;
    case Failure::k429:
      return policy.on_429;
    case Failure::kNone:
    case Failure::kMidStream:
      return false;
  }
  return false;
}

// Envoy's retry budget, per worker: retries in flight may be at most 20% of the requests in
// flight, but at least 3.
bool retryBudgetAllows(const WorkerContext& w) {
  std::int64_t in_flight = w.in_flight.value();
  std::int64_t budget = std::max<std::int64_t>(w.options.retry_budget_min,
                                               in_flight * w.options.retry_budget_percent / 100);
  return w.retries_in_flight < budget;
}

// Exponential backoff with jitter before the n-th round over a group (n >= 1): a random wait
// between half and all of base × 2^(n-1), at most the policy's max.
Task<void> backoff(WorkerContext& w, const config::CompiledRoute::Retry& policy, size_t round) {
  auto cap = policy.backoff_base * (std::int64_t{1} << std::min<size_t>(round - 1, 20));
  cap = std::min(cap, policy.backoff_max);
  std::uniform_int_distribution<std::int64_t> jitter(cap.count() / 2, cap.count());
  Timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::chrono::milliseconds(jitter(w.random)));
  co_await timer.async_wait(kUseTuple);
}

// Feeds outlier ejection: a connect/TLS error, timeout, reset, 5xx or broken stream counts
// against the upstream; any answer below 500 ends its failure streak. A client that hung up
// says nothing about the upstream.
void recordOutcome(WorkerContext& w, const config::UpstreamTarget& t, const Attempt& a) {
  if (a.failure == Failure::kNone) {
    if (a.responded && a.status < 500) {
      t.health->recordSuccess();
    }
    return;
  }
  w.metrics.upstream_failures.cell(w.index, {t.name, a.outcome}).add();
  if (a.failure == Failure::k429) {
    return;  // rate limiting is what cooling (Retry-After) is for, not a sign of a broken upstream
  }
  if (t.health->recordFailure(Clock::now(), t.outlier)) {
    w.metrics.upstream_ejections.cell(w.index, {t.name}).add();
    auto left = t.health->ejectionLeft(Clock::now());
    FWD_LOG(kWarn, "dataplane") << "upstream " << t.name << " ejected for "
                                << common::config::formatDuration(
                                       std::chrono::duration_cast<std::chrono::milliseconds>(left))
                                << " after " << t.outlier.consecutive_failures
                                << " consecutive failures; last: " << a.detail;
  }
}

// Sends an error response and records its status. GCC 12 destroys non-trivial temporaries in a
// co_await full-expression twice (and mishandles coroutine lambdas with by-value parameters),
// so callers pass a named ApiError by reference.
Task<bool> respondError(WorkerContext& w, ClientConn& client, const ApiError& e, bool keep_alive,
                        int& status) {
  status = e.status;
  bool written = co_await writeError(w, client, e, keep_alive);
  co_return written&& keep_alive;
}

// Serves one request whose head was read. Returns whether the connection may be kept.
Task<bool> serveRequest(WorkerContext& w, ClientConn& client, beast::flat_buffer& buffer,
                        ClientRequestParser& parser) {
  Request r;
  r.start = Clock::now();
  r.req = &parser;
  auto& req = parser;
  r.keep_alive = req.keep_alive() && !w.draining;
  std::string_view target(req.target().data(), req.target().size());
  r.path = target.substr(0, target.find('?'));

  std::string route = "default";
  std::string_view model_label;
  std::string upstream_label;
  int status = 0;
  w.in_flight.add(1);
  struct Done {
    WorkerContext& w;
    std::string& route;
    std::string_view& model;
    std::string& upstream;
    int& status;
    Clock::time_point start;
    ~Done() {
      w.in_flight.add(-1);
      w.metrics.requests.cell(w.index, {route, model, upstream, std::to_string(status)}).add();
      w.metrics.request_duration.cell(w.index, {route, upstream}).observe(secondsSince(start));
    }
  } done{w, route, model_label, upstream_label, status, r.start};

  // Until the body is read, an error response must close the connection (the unread body
  // would be taken for the next request).
  config::CompiledConfigConstSharedPtr cfg = w.config;  // pins this request's snapshot
  if (!cfg) {
    ApiError api_error = upstreamFailure(503, "not_ready",
                                         "fwd has no configuration yet: the data plane has "
                                         "not reached its control plane. Retry shortly.");
    co_return co_await respondError(w, client, api_error, false, status);
  }
  // The API path starts at "/v1/"; whatever precedes it must be the prefix of a route
  // ("/localai/v1/chat/completions" -> prefix "/localai").
  size_t v1 = r.path.find("/v1/");
  std::string_view prefix = v1 == std::string_view::npos ? r.path : r.path.substr(0, v1);
  if (v1 == std::string_view::npos || (!prefix.empty() && !cfg->hasPrefix(prefix))) {
    ApiError api_error =
        invalidRequest(404, "Invalid URL (" + std::string(req.methodString()) + " " +
                                std::string(r.path) + "): fwd serves the OpenAI API under /v1/.");
    co_return co_await respondError(w, client, api_error, false, status);
  }
  if (!isSafePath(r.path)) {
    ApiError api_error =
        invalidRequest(400, "Invalid URL: path segments '.' and '..' are not allowed.");
    co_return co_await respondError(w, client, api_error, false, status);
  }
  r.upstream_target_rest = target.substr(v1 + 3);
  r.path = r.path.substr(v1);

  std::string_view secret = bearerToken(req);
  if (secret.empty()) {
    ApiError api_error =
        ApiError{401, "invalid_request_error", "missing_api_key",
                 "You didn't provide an API key. Send it in an Authorization header using "
                 "Bearer auth (Authorization: Bearer YOUR_KEY) or in an api-key header.",
                 ""};
    co_return co_await respondError(w, client, api_error, false, status);
  }
  r.key = client.key.find(cfg, secret);
  if (r.key == nullptr) {
    // Never echo the presented secret, not even in part.
    ApiError api_error{401, "invalid_request_error", "invalid_api_key",
                       "Incorrect API key provided. Check the key, or ask your fwd operator for "
                       "one (fwdctl key create).",
                       ""};
    co_return co_await respondError(w, client, api_error, false, status);
  }

  // GET /v1/models[/{id}] is answered by fwd from its model catalog (dataplane/models).
  if (auto answer = dataplane::models::answerModelsRequest(
          w.models.get(), req.method() == http::verb::get, prefix, r.path, *r.key)) {
    status = answer->status;
    bool keep = r.keep_alive && parser.is_done();
    bool written = co_await writeJson(w, client, answer->status, answer->body, keep);
    co_return written&& keep;
  }

  if (!parser.is_done()) {
    if (iequals(req.field(http::field::expect), "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      client.deadline.after(w.options.client_write_timeout);
      auto [cec, cn] = co_await writeMessage(client, cont);
      if (cec) {
        status = 499;
        co_return false;
      }
    }
    client.deadline.after(w.options.body_timeout);
    auto [bec, bn] = co_await readRequestBody(client, buffer, parser);
    if (bec == http::error::body_limit) {
      ApiError api_error = bodyTooLarge(w.options);
      co_return co_await respondError(w, client, api_error, false, status);
    }
    if (timedOut(bec, client.deadline)) {
      ApiError api_error =
          invalidRequest(408, "Timed out reading the request body.", "request_timeout");
      co_return co_await respondError(w, client, api_error, false, status);
    }
    if (bec) {
      status = 400;
      co_return false;
    }
  }

  std::string_view ct = req.field(http::field::content_type);
  bool looks_json =
      isJsonContentType(ct) || (ct.empty() && !req.body().empty() && req.body().front() == '{');
  if (looks_json && !req.body().empty()) {
    BodyError error;
    if (!inspectJsonBody(w.json, req.body(), r.body, error)) {
      ApiError api_error = invalidRequest(400, error.message, "invalid_json", error.param);
      co_return co_await respondError(w, client, api_error, r.keep_alive, status);
    }
  }
  if (!r.body.has_model && req.method() == http::verb::post && requiresModel(r.path)) {
    ApiError api_error = invalidRequest(400, "Missing required parameter: 'model'.",
                                        "missing_required_parameter", "model");
    co_return co_await respondError(w, client, api_error, r.keep_alive, status);
  }
  r.model = r.body.has_model ? r.body.model : std::string(r.path);

  if (!config::modelAllowed(r.key->models, r.model)) {
    ApiError api_error =
        ApiError{403, "invalid_request_error", "model_not_allowed",
                 "This API key is not allowed to use model `" + r.model + "`.", "model"};
    co_return co_await respondError(w, client, api_error, r.keep_alive, status);
  }

  // The requested model first; when every upstream for a model failed, the matched route's
  // fallback models, each routed like a request for it. A model is never tried twice, so
  // fallbacks that point at each other end instead of looping.
  // Views into the request and the pinned config; inline, so no allocation per request.
  absl::InlinedVector<std::string_view, 4> models{r.model};
  std::string body_model = r.body.model;
  Attempt last;
  size_t tried = 0;
  bool budget_spent = false;
  std::optional<Clock::duration> shortest_cooling;
  for (size_t i = 0; i < models.size() && i < kMaxModelsPerRequest && !budget_spent; ++i) {
    const std::string_view model = models[i];
    config::CandidateList candidates;
    std::string_view upstream_model = model;
    const config::CompiledRoute* matched = cfg->matchRoute(prefix, model);
    if (matched != nullptr) {
      route = matched->name;
      // A route's group ignores the upstreams' allow lists (the route chose them) but not
      // their deny lists.
      for (const config::UpstreamTarget* t : matched->upstreams) {
        if (!config::deniesModel(*t, model)) {
          candidates.push_back(t);
        }
      }
      if (matched->strategy == config::CompiledRoute::Strategy::kWeighted) {
        pickWeighted(w.weighted_state[matched], candidates);
      } else if (matched->strategy == config::CompiledRoute::Strategy::kLeastBusy) {
        pickLeastBusy(w, candidates);
      } else if (matched->strategy == config::CompiledRoute::Strategy::kLatency) {
        pickFastest(w, candidates);
      }
      if (!matched->rewrite_model.empty()) {
        upstream_model = matched->rewrite_model;
      }
      for (const auto& fallback : matched->fallback_models) {
        if (std::find(models.begin(), models.end(), fallback) == models.end()) {
          models.push_back(fallback);
        }
      }
    } else if (prefix.empty()) {
      cfg->candidates(model, candidates);
    }
    if (i == 0 && !candidates.empty()) {
      model_label = modelLabel(w, r.model);
    }
    auto now = Clock::now();
    skipUnavailable(candidates, now);
    // Upstreams cooling after a 429 are skipped; if that leaves none, remember how soon the
    // first comes back.
    size_t kept = 0;
    for (const config::UpstreamTarget* t : candidates) {
      auto left = t->health != nullptr ? t->health->coolingLeft(now) : Clock::duration::zero();
      if (left == Clock::duration::zero()) {
        candidates[kept++] = t;
      } else if (!shortest_cooling || left < *shortest_cooling) {
        shortest_cooling = left;
      }
    }
    bool all_cooling = kept == 0 && !candidates.empty();
    candidates.resize(kept);
    if (all_cooling) {
      continue;
    }
    if (candidates.empty()) {
      if (i == 0) {
        ApiError api_error = invalidRequest(
            404, "The model `" + r.model + "` does not exist or you do not have access to it.",
            "model_not_found", "model");
        co_return co_await respondError(w, client, api_error, r.keep_alive, status);
      }
      continue;
    }
    if (r.body.has_model && upstream_model != body_model) {
      // The only case fwd re-serialises a body: another model name goes upstream.
      auto doc = nlohmann::json::parse(req.body(), nullptr, false);
      if (doc.is_object()) {
        doc["model"] = std::string(upstream_model);
        req.body() = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        body_model.assign(upstream_model);
      }
    }
    // Without a retry policy each upstream of the group is tried once (plain failover); with
    // one, `retries` more attempts go round the group, next upstream first.
    static const config::CompiledRoute::Retry kFailover{};
    const auto& policy = matched != nullptr ? matched->retry : kFailover;
    size_t attempts = policy.explicit_policy ? 1 + policy.retries : candidates.size();
    for (size_t k = 0; k < attempts; ++k) {
      const config::UpstreamTarget* t = candidates[k % candidates.size()];
      bool is_retry = tried > 0;
      if (is_retry) {
        if (!retryAllowedOn(policy, last.failure)) {
          break;
        }
        // The retry budget bounds retries that add load to upstreams (a connect error sent
        // nothing), so an outage is not multiplied by the retry count.
        if (last.reached && !retryBudgetAllows(w)) {
          w.metrics.retry_budget_exhausted.cell(w.index, {route}).add();
          budget_spent = true;
          break;
        }
        // A retry holds its budget slot from its backoff to the end of its attempt.
        ++w.retries_in_flight;
        if (k >= candidates.size()) {
          // Every upstream of the group was tried already: back off before going round again.
          co_await backoff(w, policy, k / candidates.size());
        }
        w.metrics.upstream_retries.cell(w.index, {t->name}).add();
      }
      AttemptPlan plan;
      plan.timeouts = effectiveTimeouts(*t, matched);
      plan.fail_on_429 = policy.on_429 && policy.explicit_policy && k + 1 < attempts;
      // Also what least-busy and latency read as the upstream's attempts in flight.
      auto& upstream_in_flight = w.metrics.upstream_in_flight.cell(w.index, {t->name});
      upstream_in_flight.add(1);
      Attempt a = co_await attemptUpstream(w, client, r, *t, plan);
      upstream_in_flight.add(-1);
      w.retries_in_flight -= is_retry ? 1 : 0;
      if (a.head_seconds >= 0) {
        recordHeadLatency(w, t->name, a.head_seconds);
      } else if (a.failure == Failure::kTimeout) {
        recordHeadLatency(w, t->name, static_cast<double>(plan.timeouts.total.count()) / 1000.0);
      }
      w.metrics.upstream_attempts.cell(w.index, {t->name, a.outcome}).add();
      recordOutcome(w, *t, a);
      upstream_label = t->name;
      ++tried;
      if (a.responded || !a.client_alive) {
        status = a.failure == Failure::kMidStream ? 502 : a.status;
        co_return a.client_alive&& r.keep_alive;
      }
      FWD_LOG(kDebug, "dataplane") << "upstream attempt failed: " << a.detail;
      last = std::move(a);
    }
  }
  if (tried == 0 && shortest_cooling) {
    auto seconds = std::chrono::ceil<std::chrono::seconds>(*shortest_cooling).count();
    ApiError api_error{429,
                       "rate_limit_error",
                       "upstreams_cooling",
                       "Every upstream for model `" + r.model +
                           "` is rate-limited right now; retry after " + std::to_string(seconds) +
                           "s.",
                       "",
                       static_cast<int>(std::max<std::int64_t>(1, seconds))};
    co_return co_await respondError(w, client, api_error, r.keep_alive, status);
  }
  std::string message = tried == 1 ? last.detail
                                   : "all " + std::to_string(tried) +
                                         " upstream attempts failed; last error: " + last.detail;
  if (budget_spent) {
    message += " (no retry: the retry budget is spent)";
  }
  ApiError api_error = last.failure == Failure::kTimeout
                           ? upstreamFailure(504, "upstream_timeout", message)
                           : upstreamFailure(502, "upstream_error", message);
  co_return co_await respondError(w, client, api_error, r.keep_alive, status);
}

}  // namespace

void armDueClientWatches(WorkerContext& w, std::chrono::steady_clock::time_point now) {
  auto due = now - w.watchdog.tick();
  auto& list = w.unarmed_watches;
  size_t kept = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    ClientWatchPtr& watch = list[i];
    if (watch->since <= due) {
      armClientWatch(watch);  // armed ones leave the list; their attempt cancels the wait
      continue;
    }
    watch->slot = kept;
    list[kept++] = std::move(watch);
  }
  list.resize(kept);
}

Task<void> serveConnection(WorkerContext& w, Socket socket) {
  socket.set_option(tcp::no_delay(true));
  boost::system::error_code nb_ec;
  socket.non_blocking(true, nb_ec);  // writeToClient's direct writes must never block
  if (nb_ec) {
    co_return;
  }
  ClientConn client{std::move(socket), {}, {}, {}, {}, {}, {}};
  if (auto peer = client.socket.remote_endpoint(nb_ec); !nb_ec) {
    client.address = peer.address().to_string();
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
    auto [ec, n] = co_await readRequestHead(client, buffer, parser);
    session.idle = false;
    if (ec) {
      if (const auto& refusal = parser.refusal()) {
        ApiError api_error =
            invalidRequest(refusal->status, refusal->message, std::string(refusal->code));
        co_await writeError(w, client, api_error, false);
      } else if (ec == http::error::header_limit && !parser.gotRequestLine()) {
        ApiError api_error =
            invalidRequest(414,
                           "Request line too long: the limit is " +
                               std::to_string(w.options.head_limits.max_request_line) + " bytes.",
                           "uri_too_long");
        co_await writeError(w, client, api_error, false);
      } else if (ec == http::error::header_limit) {
        ApiError api_error =
            invalidRequest(431,
                           "Request header fields too large: the limit is " +
                               std::to_string(w.options.max_header_bytes) + " bytes.",
                           "request_header_too_large");
        co_await writeError(w, client, api_error, false);
      } else if (ec == http::error::body_limit) {
        ApiError api_error = bodyTooLarge(w.options);
        co_await writeError(w, client, api_error, false);
      } else if (timedOut(ec, client.deadline) && parser.got_some()) {
        ApiError api_error =
            invalidRequest(408, "Timed out reading the request head.", "request_timeout");
        co_await writeError(w, client, api_error, false);
      } else if (ec != http::error::end_of_stream && ec != asio::error::eof &&
                 ec != asio::error::operation_aborted && ec != asio::error::connection_reset &&
                 ec != asio::error::bad_descriptor) {
        ApiError api_error =
            invalidRequest(400, "Malformed HTTP request: " + ec.message(), "bad_request");
        co_await writeError(w, client, api_error, false);
      }
      break;
    }
    bool keep = co_await serveRequest(w, client, buffer, parser);
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
