#include "dataplane/pipeline/exchange.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "common/config/duration.h"
#include "dataplane/pipeline/client_conn.h"
#include "dataplane/pipeline/client_watch.h"
#include "dataplane/pipeline/follow_up.h"
#include "dataplane/pipeline/relay.h"
#include "dataplane/pipeline/respond.h"
#include "dataplane/pipeline/upstream_io.h"
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

// The request, then the response head; then the relay, or a failure to retry elsewhere.
template <typename Stream>
Task<Attempt> exchange(RequestContext& ctx, Stream& upstream, UpstreamConn& conn,
                       const config::UpstreamTarget& t, const AttemptPlan& plan, ClientWatch& watch,
                       Clock::time_point deadline, std::unique_ptr<UpstreamConn>& owner) {
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
      translated && ctx.translation.stream,
      timeouts.first_byte};
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
  prepareHeadParser(ctx, parser);
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
  if (t.provider->followsUp() && out.status >= 200 && out.status < 300) {
    // Not the answer yet (a prediction): read whole, then followed up to the answer.
    BodyRead first = co_await readBody(upstream, parser, buf, head, kMaxFollowUpAnswer);
    if (!first.complete) {
      if (watch.gone) {
        co_return clientGone(std::move(out));
      }
      out.outcome = "reset";
      out.failure = Failure::kReset;
      out.detail = "upstream " + t.name + " sent an answer that was cut or larger than " +
                   std::to_string(kMaxFollowUpAnswer) + " bytes";
      co_return out;
    }
    // Read to its end, the first answer's connection serves the follow-ups (polls go to the
    // same host) and other requests meanwhile, instead of idling until the answer is done.
    // `upstream` and `conn` are the pool's from here on.
    out.reusable = false;
    if (first.exact) {
      watch.upstream = nullptr;
      conn.deadline.disarm();
      conn.reused = false;
      w.pool.release(t.pool_key, std::move(owner));
    }
    co_return co_await followUp(ctx, t, plan, watch, deadline, std::move(first.body),
                                std::move(out));
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
      conn = co_await connectUpstream(w, destinationOf(t), plan.timeouts->connect, deadline, out);
      if (!conn) {
        co_return out;
      }
    }
    watch.upstream = &conn->lowest();
    if (conn->tls) {
      out = co_await exchange(ctx, *conn->tls, *conn, t, plan, watch, deadline, conn);
    } else {
      out = co_await exchange(ctx, *conn->tcp, *conn, t, plan, watch, deadline, conn);
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
