#include "dataplane/pipeline/follow_up.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <limits>

#include "common/config/duration.h"
#include "common/log/log.h"
#include "dataplane/pipeline/client_conn.h"
#include "dataplane/pipeline/relay.h"
#include "dataplane/pipeline/respond.h"
#include "dataplane/pipeline/upstream_io.h"
#include "dataplane/provider/provider.h"

namespace fwd::dataplane::pipeline {
namespace {

namespace asio = boost::asio;
using proxy::UpstreamConn;
using proxy::UpstreamHeadParser;

void fail(Attempt& out, Failure failure, std::string outcome, std::string detail) {
  out.responded = false;
  out.failure = failure;
  out.outcome = std::move(outcome);
  out.detail = std::move(detail);
}

void failTotal(Attempt& out, const config::UpstreamTarget& t, const AttemptPlan& plan) {
  fail(out, Failure::kTimeout, "total_timeout",
       "upstream " + t.name + " did not answer within " +
           common::config::formatDuration(plan.timeouts->total) + " (the total timeout)");
}

// How one GET of a follow-up went.
enum class Got {
  kDone,   // `out` is the attempt's end: relayed, answered with an error, or failed
  kBody,   // its 2xx answer was read whole into `answer`
  kStale,  // a pooled connection was dead before any answer byte: dial afresh
  kLater,  // a 429: the same GET again after `retry_after`
};

// The longest a follow-up waits on a 429 before asking again.
constexpr std::chrono::seconds kMaxFollowUpBackoff{10};

// What a follow-up GET is for.
struct Get {
  const provider::FollowUpTarget* to;
  bool event_stream;  // a stream for the client: relayed
  bool quiet;         // for the relay: an error is a failure, never the client's answer
  // What the answer is read into: the client connection's buffers, or (a GET from inside the
  // relay, which still holds its own there) the caller's.
  RelayBuffer* buf;
  std::string* head;
  std::chrono::seconds* retry_after;  // set with kLater
};

// One GET on `conn`: the request, the head, then the relay of a stream or the answer read whole.
template <typename Stream>
Task<Got> getOnce(RequestContext& ctx, Stream& s, UpstreamConn& conn,
                  const config::UpstreamTarget& t, const Get& get, const AttemptPlan& plan,
                  ClientWatch& watch, Clock::time_point deadline, Attempt& out, std::string& answer,
                  bool& reusable) {
  WorkerContext& w = ctx.w;
  reusable = false;
  provider::writeFollowUpHead("GET", *get.to, get.event_stream, t.credential_field, t.credential,
                              conn.request_head);
  std::array<asio::const_buffer, 2> bufs = {asio::buffer(conn.request_head), asio::const_buffer()};
  auto sent_at = Clock::now();
  conn.deadline.at(deadline);
  if (auto ec = co_await sendRequest(s, bufs)) {
    if (watch.gone) {
      out = clientGone(std::move(out));
      co_return Got::kDone;
    }
    if (conn.reused) {
      co_return Got::kStale;
    }
    bool timed_out = timedOut(ec, conn.deadline);
    fail(out, timed_out ? Failure::kTimeout : Failure::kReset,
         timed_out ? "total_timeout" : "reset",
         "sending a follow-up request to " + t.name + " failed: " + ec.message());
    co_return Got::kDone;
  }
  get.buf->ensure();
  RelayBuffer& buf = *get.buf;
  UpstreamHeadParser parser(*get.head);
  prepareHeadParser(ctx, parser);
  auto head_limit = get.event_stream ? plan.timeouts->stream_first_byte : plan.timeouts->first_byte;
  bool head_limit_first = sent_at + head_limit < deadline;
  conn.deadline.at(head_limit_first ? sent_at + head_limit : deadline);
  HeadRead head = co_await readHead(s, parser, buf, w.options.max_header_bytes);
  if (head.ec) {
    if (watch.gone) {
      out = clientGone(std::move(out));
      co_return Got::kDone;
    }
    bool timed_out = timedOut(head.ec, conn.deadline);
    if (conn.reused && !parser.got_some() && !timed_out) {
      co_return Got::kStale;
    }
    if (!timed_out) {
      fail(out, Failure::kReset, "reset",
           "reading a follow-up answer of " + t.name + " failed: " + head.ec.message());
    } else if (head_limit_first) {
      fail(out, Failure::kTimeout, "first_byte_timeout",
           "upstream " + t.name + " sent no follow-up answer head within " +
               common::config::formatDuration(head_limit) + " (the first-byte timeout)");
    } else {
      failTotal(out, t, plan);
    }
    co_return Got::kDone;
  }
  conn.deadline.at(deadline);
  const int status = static_cast<int>(parser.status());
  if (status < 200 || status >= 300) {
    std::string body = co_await readErrorBody(s, parser, buf, head);
    if (status == 429 && !get.quiet) {
      // Throttled reads of work that goes on: ask again later, within the deadline.
      *get.retry_after = std::chrono::seconds(std::clamp<std::uint64_t>(
          parser.retryAfterSeconds().value_or(1), 1, kMaxFollowUpBackoff.count()));
      co_return Got::kLater;
    }
    if ((status == 401 || status == 403) && !get.quiet) {
      // The key lost access meanwhile: the client's answer, as for the first request.
      ApiError e = t.provider->errorAnswer(status, body);
      out.responded = true;
      out.outcome = "ok";
      out.status = e.status;
      out.client_alive = co_await respondError(ctx, e);
      co_return Got::kDone;
    }
    // Anything else (the work gone, a server error): this upstream's attempt failed.
    out.status = status;
    fail(out, Failure::k5xx, status >= 500 ? "http_5xx" : "follow_up",
         "upstream " + t.name + " answered a follow-up request with " + std::to_string(status) +
             ": " + t.provider->errorAnswer(status, body).message);
    co_return Got::kDone;
  }
  if (get.event_stream) {
    out.status = status;
    // Whether this connection may be reused is the relay's to say (only once the stream ended
    // cleanly); `out` came in with the first answer's.
    out.reusable = false;
    out = co_await relayResponse(ctx, s, conn, parser, head, t, plan, deadline, watch, out);
    reusable = out.reusable;
    co_return Got::kDone;
  }
  BodyRead read = co_await readBody(s, parser, buf, head, kMaxFollowUpAnswer);
  if (!read.complete) {
    fail(out, Failure::kReset, "reset",
         "upstream " + t.name + " sent a follow-up answer that was cut or larger than " +
             std::to_string(kMaxFollowUpAnswer) + " bytes");
    co_return Got::kDone;
  }
  answer = std::move(read.body);
  reusable = parser.keep_alive() && read.exact;
  co_return Got::kBody;
}

// The connection of a follow-up: one of the pool's for its destination, else a new one; a
// pooled one found dead is replaced once. Released to the pool when the answer left it reusable.
Task<Got> fetch(RequestContext& ctx, const config::UpstreamTarget& t, const Get& get,
                const AttemptPlan& plan, ClientWatch& watch, Clock::time_point deadline,
                Attempt& out, std::string& answer) {
  WorkerContext& w = ctx.w;
  const provider::FollowUpTarget& to = *get.to;
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<UpstreamConn> conn = round == 0 ? w.pool.acquire(to.pool_key) : nullptr;
    if (!conn) {
      Destination d{t.name, to.host, to.port, to.host_header, to.tls, t.insecure_skip_verify};
      conn = co_await connectUpstream(w, d, plan.timeouts->connect, deadline, out);
      if (!conn) {
        co_return Got::kDone;
      }
    }
    bool reusable = false;
    watch.upstream = &conn->lowest();
    Got got = conn->tls ? co_await getOnce(ctx, *conn->tls, *conn, t, get, plan, watch, deadline,
                                           out, answer, reusable)
                        : co_await getOnce(ctx, *conn->tcp, *conn, t, get, plan, watch, deadline,
                                           out, answer, reusable);
    watch.upstream = nullptr;
    if (got == Got::kStale) {
      continue;
    }
    if (reusable) {
      conn->deadline.disarm();
      conn->reused = false;
      w.pool.release(to.pool_key, std::move(conn));
    }
    co_return got;
  }
  fail(out, Failure::kReset, "reset", "upstream " + t.name + " closed two follow-up connections");
  co_return Got::kDone;
}

// The final answer, held whole, through the relay: as if an upstream had sent it with a 200.
Task<Attempt> replay(RequestContext& ctx, const config::UpstreamTarget& t, const AttemptPlan& plan,
                     ClientWatch& watch, Clock::time_point deadline, std::string_view answer,
                     Attempt out) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(answer.size()) + "\r\n\r\n";
  UpstreamHeadParser parser(ctx.client.response_head);
  prepareHeadParser(ctx, parser);
  boost::beast::error_code ec;
  parser.put(asio::buffer(head), ec);
  ctx.client.relay.ensure();
  ReplayStream stream(answer);
  UpstreamConn none;  // nothing to watch: the answer is here
  out.status = 200;
  co_return co_await relayResponse(ctx, stream, none, parser, HeadRead{}, t, plan, deadline, watch,
                                   out);
}

// How long a cancel request may take, from dialing to its answer's head.
constexpr std::chrono::seconds kCancelTimeout{5};

// What a cancel request needs once the request that started it is gone.
struct Cancel {
  provider::FollowUpTarget to;
  std::string name;
  std::string credential_field;
  std::string credential;
  bool insecure_skip_verify = false;
};

template <typename Stream>
Task<void> sendCancel(WorkerContext& w, Stream& s, proxy::UpstreamConn& conn, const Cancel& c) {
  provider::writeFollowUpHead("POST", c.to, false, c.credential_field, c.credential,
                              conn.request_head);
  std::array<asio::const_buffer, 2> bufs = {asio::buffer(conn.request_head), asio::const_buffer()};
  if (co_await sendRequest(s, bufs)) {
    co_return;
  }
  RelayBuffer buf;
  buf.ensure();
  std::string answer_head;
  UpstreamHeadParser parser(answer_head);
  parser.header_limit(static_cast<std::uint32_t>(w.options.max_header_bytes));
  HeadRead read = co_await readHead(s, parser, buf, w.options.max_header_bytes);
  if (read.ec || parser.status() >= 300) {
    FWD_LOG(kWarn, "dataplane") << "upstream " << c.name << ": cancelling " << c.to.target
                                << " failed: "
                                << (read.ec ? read.ec.message()
                                            : "answered " + std::to_string(parser.status()));
  }
}

Task<void> cancelNow(WorkerContext& w, std::shared_ptr<const Cancel> c) {
  Attempt scratch;
  auto deadline = Clock::now() + kCancelTimeout;
  Destination d{c->name,           c->to.host, c->to.port,
                c->to.host_header, c->to.tls,  c->insecure_skip_verify};
  std::unique_ptr<UpstreamConn> conn =
      co_await connectUpstream(w, d, kCancelTimeout, deadline, scratch);
  if (!conn) {
    FWD_LOG(kWarn, "dataplane") << "upstream " << c->name << ": cancelling " << c->to.target
                                << " failed: " << scratch.detail;
    co_return;
  }
  conn->deadline.at(deadline);
  if (conn->tls) {
    co_await sendCancel(w, *conn->tls, *conn, *c);
  } else {
    co_await sendCancel(w, *conn->tcp, *conn, *c);
  }
}

// Stops work fwd no longer waits for (NextStep::cancel_url), in the background: the client's
// answer does not wait for it.
Task<void> cancelLater(WorkerContext& w, const config::UpstreamTarget& t, std::string_view url) {
  std::string why;
  std::optional<provider::FollowUpTarget> to =
      provider::followUpTarget(t, url, t.provider->followUpDomain(), why);
  if (!to) {
    co_return;
  }
  auto c = std::make_shared<Cancel>();
  c->to = std::move(*to);
  c->name = t.name;
  c->credential_field = t.credential_field;
  c->credential = t.credential;
  c->insecure_skip_verify = t.insecure_skip_verify;
  asio::co_spawn(co_await asio::this_coro::executor, cancelNow(w, std::move(c)), asio::detached);
}

}  // namespace

Task<Attempt> followUp(RequestContext& ctx, const config::UpstreamTarget& t,
                       const AttemptPlan& plan, ClientWatch& watch, Clock::time_point deadline,
                       std::string answer, Attempt out) {
  // While the upstream works on: how to stop it should fwd stop waiting.
  std::string cancel_url;
  for (;;) {
    provider::NextStep step = t.provider->nextStep(answer, ctx.translation);
    if (step.kind != provider::NextStep::Kind::kFetch) {
      cancel_url.clear();  // done, one way or the other
    }
    if (step.kind == provider::NextStep::Kind::kAnswer) {
      out = co_await replay(ctx, t, plan, watch, deadline, answer, out);
      break;
    }
    if (step.kind == provider::NextStep::Kind::kFail) {
      if (step.error.status < 500) {
        out.responded = true;
        out.outcome = "ok";
        out.status = step.error.status;
        out.client_alive = co_await respondError(ctx, step.error);
      } else {
        fail(out, Failure::k5xx, "http_5xx", "upstream " + t.name + ": " + step.error.message);
      }
      break;
    }
    std::string why;
    std::optional<provider::FollowUpTarget> to =
        provider::followUpTarget(t, step.url, t.provider->followUpDomain(), why);
    if (!to) {
      fail(out, Failure::k5xx, "http_5xx", "upstream " + t.name + ": " + why);
      break;
    }
    if (step.delay.count() > 0) {
      auto at = Clock::now() + step.delay;
      if (at >= deadline) {
        failTotal(out, t, plan);
        break;
      }
      co_await sleepUntil(at);
      if (watch.gone) {
        out = clientGone(std::move(out));
        break;
      }
    }
    cancel_url = std::move(step.cancel_url);
    std::chrono::seconds retry_after{0};
    Get get{&*to,        step.event_stream, false, &ctx.client.relay, &ctx.client.response_head,
            &retry_after};
    if (step.event_stream) {
      ctx.translation.usage_url = step.usage_url;
    }
    Got got = co_await fetch(ctx, t, get, plan, watch, deadline, out, answer);
    while (got == Got::kLater) {
      auto at = Clock::now() + retry_after;
      if (at >= deadline) {
        failTotal(out, t, plan);
        got = Got::kDone;
        break;
      }
      co_await sleepUntil(at);
      if (watch.gone) {
        out = clientGone(std::move(out));
        got = Got::kDone;
        break;
      }
      got = co_await fetch(ctx, t, get, plan, watch, deadline, out, answer);
    }
    if (got == Got::kDone) {
      if (step.event_stream && out.failure == Failure::kNone && out.status != 499) {
        cancel_url.clear();  // the stream was relayed to its end
      }
      break;
    }
  }
  if (!cancel_url.empty()) {
    co_await cancelLater(ctx.w, t, cancel_url);
  }
  // The attempt's own connection went back to the pool already when it could (exchange.cc); the
  // follow-ups' connections are pooled by fetch().
  out.reusable = false;
  co_return out;
}

Task<std::string> fetchWhole(RequestContext& ctx, const config::UpstreamTarget& t,
                             const AttemptPlan& plan, Clock::time_point deadline,
                             std::string_view url) {
  std::string why;
  std::optional<provider::FollowUpTarget> to =
      provider::followUpTarget(t, url, t.provider->followUpDomain(), why);
  if (!to) {
    co_return std::string();
  }
  ClientWatch unwatched;  // the relay watches the client itself
  Attempt scratch;
  std::string answer;
  RelayBuffer buf;
  std::string head;
  std::chrono::seconds retry_after{0};
  Get get{&*to, false, true, &buf, &head, &retry_after};
  if (co_await fetch(ctx, t, get, plan, unwatched, deadline, scratch, answer) != Got::kBody) {
    co_return std::string();
  }
  co_return answer;
}

}  // namespace fwd::dataplane::pipeline
