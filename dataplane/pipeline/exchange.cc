#include "dataplane/pipeline/exchange.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "common/config/duration.h"
#include "dataplane/pipeline/client_conn.h"
#include "dataplane/pipeline/client_watch.h"
#include "dataplane/pipeline/relay.h"
#include "dataplane/pipeline/respond.h"
#include "dataplane/provider/provider.h"
#include "dataplane/proxy/upstream_head.h"
#include "dataplane/proxy/upstream_pool.h"

namespace fwd::dataplane::pipeline {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using proxy::kUseTuple;
using proxy::UpstreamConn;
using proxy::UpstreamHeadParser;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
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

// A 429 with Retry-After (in seconds; an HTTP date is not honoured) takes the upstream out of
// every worker's candidates for that long, at most 10 minutes.
void coolOnRetryAfter(const config::UpstreamTarget& t, std::optional<std::uint64_t> retry_after) {
  if (!retry_after || *retry_after == 0 || t.health == nullptr) {
    return;
  }
  std::uint64_t seconds = std::min<std::uint64_t>(*retry_after, 600);
  t.health->coolUntil(Clock::now() + std::chrono::seconds(seconds));
}

// Opens a new connection to `t` (resolve, connect, TLS handshake) bounded by the connect
// timeout and the attempt deadline.
Task<std::unique_ptr<UpstreamConn>> connectUpstream(WorkerContext& w,
                                                    const config::UpstreamTarget& t,
                                                    std::chrono::milliseconds connect_timeout,
                                                    Clock::time_point deadline, Attempt& out) {
  auto executor = co_await asio::this_coro::executor;
  proxy::Resolver resolver(executor);
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
  auto& tls_ctx = t.insecure_skip_verify ? w.tls_insecure : w.tls_verify;
  conn->tls.emplace(std::move(*conn->tcp), tls_ctx);
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

// The request, then the response head; then the relay, or a failure to retry elsewhere.
template <typename Stream>
Task<Attempt> exchange(RequestContext& ctx, Stream& upstream, UpstreamConn& conn,
                       const config::UpstreamTarget& t, const AttemptPlan& plan,
                       const ClientWatch& watch, Clock::time_point deadline) {
  WorkerContext& w = ctx.w;
  ClientRequestParser& req = ctx.req;
  const config::AttemptTimeouts& timeouts = *plan.timeouts;
  Attempt out;

  std::string_view forwarded_for =
      ctx.forwarded_for.empty() ? std::string_view(ctx.client.address) : ctx.forwarded_for;
  const bool translated = t.provider->translates();
  provider::OutgoingRequest outgoing{
      req,
      ctx.target_rest,
      translated ? std::string_view(ctx.provider_body) : std::string_view(req.body()),
      forwarded_for,
      ctx.body.has_model ? std::string_view(ctx.served_model) : std::string_view(ctx.model),
      ctx.body.has_model,
      translated && ctx.translation.stream};
  t.provider->writeRequestHead(outgoing, t, conn.request_head);
  std::array<asio::const_buffer, 2> request_bufs = {
      asio::buffer(conn.request_head), asio::buffer(outgoing.body.data(), outgoing.body.size())};

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

  ctx.client.relay.ensure();
  RelayBuffer& buf = ctx.client.relay;
  UpstreamHeadParser parser(ctx.client.response_head);
  if (!ctx.response_fields.empty()) {
    parser.dropRateLimitFields();
  }
  parser.header_limit(static_cast<std::uint32_t>(w.options.max_header_bytes));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (req.method() == http::verb::head) {
    parser.skip(true);
  }
  // Until the head: the first-byte limit (a shorter one for streams), within the total.
  auto head_limit = ctx.body.stream ? timeouts.stream_first_byte : timeouts.first_byte;
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
      const char* which = ctx.body.stream ? "stream first-byte" : "first-byte";
      out.outcome = "first_byte_timeout";
      out.detail = "upstream " + t.name + " sent no response head within " +
                   common::config::formatDuration(head_limit) + " (the " + which + " timeout)";
    } else {
      out.outcome = "total_timeout";
      out.detail = "upstream " + t.name + " did not answer within " +
                   common::config::formatDuration(timeouts.total) + " (the total timeout)";
    }
    co_return out;
  }
  conn.deadline.at(deadline);
  out.head_seconds = secondsSince(sent_at);
  ctx.pinned->metrics.upstreamDuration(t.index, t.name).observe(out.head_seconds);
  if (parser.status() == 429) {
    coolOnRetryAfter(t, parser.retryAfterSeconds());
  }
  out.status = static_cast<int>(parser.status());

  bool retry_429 = out.status == 429 && plan.fail_on_429;
  if (out.status >= 500 || retry_429) {
    // Not relayed: read a bounded part of the body for the error message, then drop the
    // connection (the rest of the body is not worth waiting for).
    std::string body = co_await readErrorBody(upstream, parser, buf, head);
    if (ctx.bodies) {
      ctx.bodies->failedAnswer(out.status, body);
    }
    out.outcome = retry_429 ? "http_429" : "http_5xx";
    out.failure = retry_429 ? Failure::k429 : Failure::k5xx;
    out.detail = "upstream " + t.name + " returned " + std::to_string(out.status) + ": " +
                 extractUpstreamMessage(body);
    co_return out;
  }
  if (out.status >= 400 && t.provider->rewritesErrors()) {
    // A provider whose errors are not OpenAI's: the client gets the same error in OpenAI's shape
    // (the SDKs read type, code and param from it).
    std::string body = co_await readErrorBody(upstream, parser, buf, head);
    ApiError e = t.provider->errorAnswer(out.status, body);
    if (auto retry_after = parser.retryAfterSeconds()) {
      e.retry_after_seconds = static_cast<int>(std::min<std::uint64_t>(*retry_after, 3600));
    }
    out.responded = true;
    out.outcome = "ok";
    out.client_alive = co_await respondError(ctx, e);
    co_return out;
  }
  co_return co_await relayResponse(ctx, upstream, conn, parser, head, t, plan, deadline, watch,
                                   out);
}

}  // namespace

Task<Attempt> attemptUpstream(RequestContext& ctx, const config::UpstreamTarget& t,
                              const AttemptPlan& plan) {
  WorkerContext& w = ctx.w;
  auto deadline = Clock::now() + plan.timeouts->total;
  Attempt out;
  if (t.provider->translates()) {
    // The body in the provider's API, before any connection: a request it cannot express is
    // the client's error (a 400 naming the parameter), not the upstream's.
    ctx.translation = t.provider->translateRequest(ctx.path, ctx.req.body(), ctx.provider_body);
    if (ctx.translation.error) {
      out.responded = true;
      out.outcome = "untranslatable";
      out.status = ctx.translation.error->status;
      out.client_alive = co_await respondError(ctx, *ctx.translation.error);
      co_return out;
    }
  }
  WatchedAttempt watched(w, ctx.client.socket);
  ClientWatch& watch = watched.watch();
  for (int round = 0; round < 2; ++round) {
    // First round may reuse a pooled connection; if that one turns out to be dead before any
    // response byte (the upstream closed it while idle), the second round dials afresh.
    std::unique_ptr<UpstreamConn> conn = round == 0 ? w.pool.acquire(t.pool_key) : nullptr;
    if (!conn) {
      conn = co_await connectUpstream(w, t, plan.timeouts->connect, deadline, out);
      if (!conn) {
        co_return out;
      }
    }
    watch.upstream = &conn->lowest();
    if (conn->tls) {
      out = co_await exchange(ctx, *conn->tls, *conn, t, plan, watch, deadline);
    } else {
      out = co_await exchange(ctx, *conn->tcp, *conn, t, plan, watch, deadline);
    }
    watch.upstream = nullptr;
    if (out.stale && round == 0 && !watch.gone) {
      continue;
    }
    if (out.reusable) {
      conn->deadline.disarm();
      conn->reused = false;
      w.pool.release(t.pool_key, std::move(conn));
    }
    co_return out;
  }
  co_return out;
}

}  // namespace fwd::dataplane::pipeline
