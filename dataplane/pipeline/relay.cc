#include "dataplane/pipeline/relay.h"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>

#include "common/config/duration.h"
#include "common/log/log.h"
#include "common/sse/sse_parser.h"
#include "dataplane/pipeline/answer_editor.h"
#include "dataplane/pipeline/follow_up.h"
#include "dataplane/pipeline/respond.h"
#include "dataplane/proxy/chunked_scanner.h"
#include "dataplane/stream/convert.h"
#include "dataplane/usage/usage.h"

namespace fwd::dataplane::pipeline {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using proxy::ChunkedScanner;
using proxy::kUseTuple;
using proxy::UpstreamHeadParser;

constexpr size_t kMaxUpstreamErrorBody = 8 * 1024;

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

}  // namespace

Attempt clientGone(Attempt out) {
  out.client_alive = false;
  out.status = 499;
  out.outcome = "client_closed";
  out.failure = Failure::kNone;
  return out;
}

template <typename Stream>
Task<BodyRead> readBody(Stream& upstream, const UpstreamHeadParser& parser, RelayBuffer& buf,
                        const HeadRead& head, size_t limit) {
  BodyRead out;
  BodyCursor cursor(parser);
  BodyWindow window(head);
  bool closed = false;
  while (!cursor.done() && out.body.size() <= limit) {
    if (window.needRead()) {
      auto [ec, n] = co_await upstream.async_read_some(window.readInto(buf), kUseTuple);
      window.arrived(n);
      if (ec == asio::error::eof && cursor.endsAtClose()) {
        closed = true;  // a body that ends when the upstream closes
        break;
      }
      if (ec) {
        co_return out;
      }
    }
    std::string_view fresh = window.fresh(buf);
    auto stepped = cursor.step(fresh, [&](std::string_view data) { out.body.append(data); });
    if (stepped.error != nullptr) {
      co_return out;
    }
    out.exact = stepped.consumed == fresh.size();
    window.consume(stepped.consumed);
  }
  out.complete = (cursor.done() || closed) && out.body.size() <= limit;
  out.exact = out.exact && !closed && parser.keep_alive();
  co_return out;
}

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

template <typename Stream>
Task<Attempt> relayResponse(RequestContext& ctx, Stream& upstream, proxy::UpstreamConn& conn,
                            UpstreamHeadParser& parser, const HeadRead& head,
                            const config::UpstreamTarget& t, const AttemptPlan& plan,
                            Clock::time_point deadline, const ClientWatch& watch,
                            const Attempt& started) {
  WorkerContext& w = ctx.w;
  ClientConn& client = ctx.client;
  RelayBuffer& buf = client.relay;
  const config::AttemptTimeouts& timeouts = *plan.timeouts;
  Attempt out = started;
  out.responded = true;
  out.outcome = "ok";
  if (ctx.bodies) {
    ctx.bodies->startAnswer(out.status);
  }
  bool sse = parser.eventStream();
  bool bodyless = ctx.req.method() == http::verb::head || out.status == 204 || out.status == 304 ||
                  (out.status >= 100 && out.status < 200);
  enum class Framing { kNone, kLength, kChunked };
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
  bool keep_alive = ctx.keep_alive && !w.draining;
  if (ctx.policies().has(policy::kOnResponseHead)) {
    policy::ResponseHead response_head{out.status, out.status};
    ctx.policies().onResponseHead(ctx, response_head, ctx.policySlots());
    if (response_head.send_status != response_head.status) {
      parser.restatus(static_cast<unsigned>(response_head.send_status));
    }
  }
  // A provider that speaks another API (provider.h): its 2xx answer is rewritten into OpenAI's
  // shape before anything else reads it (a stream event by event, a JSON answer once whole).
  std::unique_ptr<provider::AnswerTranslator> translator;
  if (t.provider->translates() && !bodyless && out.status >= 200 && out.status < 300) {
    translator = t.provider->answerTranslator(
        sse, ctx.served_model.empty() ? std::string_view(ctx.model) : ctx.served_model,
        ctx.translation.include_usage, ctx.translation.stream);
    framing = Framing::kChunked;
    length.reset();
  }
  // A JSON answer goes out once translated (or converted) whole: nothing before, head included.
  const bool hold_head = translator && !sse;
  if (translator && translator->eventStream(sse) != sse) {
    // Translated into the other shape (a stream request answered whole): what comes after the
    // translator reads the translated shape.
    sse = !sse;
    parser.setContentType(sse ? "text/event-stream" : "application/json");
  }
  // Policies that read a 2xx answer take it off the byte-for-byte path: its length changes, so
  // fwd frames it in chunks of its own.
  std::optional<AnswerEditor> editor;
  if (ctx.policies().has(policy::kOnAnswer) && !bodyless && out.status >= 200 && out.status < 300) {
    if (auto readers = ctx.policies().wantsAnswer(ctx, ctx.policySlots())) {
      editor.emplace(ctx, readers, sse);
      framing = Framing::kChunked;
      length.reset();
    }
  }
  // Stream conversion (stream/convert.h): the attempt asked the upstream for a stream the client
  // did not ask for, or the other way round, and a 2xx answer came in that other shape. Nothing
  // goes to the client before the answer is whole and converted: head included.
  std::optional<stream::AnswerConverter> converter;
  if (ctx.body_edits.stream && !bodyless && out.status >= 200 && out.status < 300 &&
      sse != ctx.body.stream) {
    if (auto api = stream::convertibleApi(ctx.path)) {
      bool include_usage = false;
      if (ctx.body.stream) {
        usage::Ask ask;
        std::string& asked = ctx.original_body ? *ctx.original_body : ctx.req.body();
        include_usage = usage::readAsk(w.json, asked, ask) && ask.include_usage;
      }
      converter.emplace(sse ? stream::AnswerConverter::Direction::kStreamToJson
                            : stream::AnswerConverter::Direction::kJsonToStream,
                        *api, include_usage);
      parser.setContentType(converter->contentType());
      framing = Framing::kChunked;
      length.reset();
    }
  }
  bool chunked = framing == Framing::kChunked;
  client.response_head += ctx.response_fields;
  if (!ctx.request_id.empty()) {
    if (std::string_view upstream_id = parser.requestId(); !upstream_id.empty()) {
      ctx.upstream_request_id.assign(upstream_id);
    } else {
      proxy::appendField(client.response_head, "x-request-id", ctx.request_id);
    }
  }
  parser.finishHead(t.name, chunked, length, keep_alive);
  std::string_view pending_head = client.response_head;
  BodyCursor cursor(parser);
  bool finished = bodyless || cursor.done();

  // The head goes out on its own when the response is over already (no body, or an empty one:
  // `Content-Length: 0`) or no body bytes are here yet (a stream whose first event is still
  // being generated). Otherwise it leaves together with the first body bytes in one write: one
  // sendmsg, one packet, instead of two.
  if (!converter && !hold_head && (finished || head.read == head.head_bytes)) {
    if (finished) {
      complete(ctx, out.status);
    }
    auto hwec = co_await writeToClient(w, client, pending_head, {}, false, false);
    pending_head = {};
    if (hwec) {
      out.client_alive = false;
      out.status = 499;
      co_return out;
    }
  }

  common::sse::SseParser events(nullptr);  // counts events, keeps none of their fields
  bool upstream_failed = false;
  bool extra_bytes = finished && head.read > head.head_bytes;
  std::string failure_detail;
  std::string_view failure_outcome = "mid_stream";
  BodyWindow window(head);
  // The answer in OpenAI's shape: the upstream's, or what the translator made of it.
  auto seeAnswer = [&](std::string_view payload) {
    ctx.bytes_out += converter ? 0 : payload.size();
    if (ctx.answer_scan) {
      ctx.answer_scan->feed(payload);
    }
    if (sse) {
      events.feed(payload);
    }
    if (editor) {
      editor->feed(payload);
    } else if (converter) {
      converter->feed(payload);
    }
  };
  auto see = [&](std::string_view payload) {
    if (ctx.bodies) {
      ctx.bodies->feedAnswer(payload);
    }
    if (translator) {
      translator->feed(payload);
    } else {
      seeAnswer(payload);
    }
  };
  // The conversion failed, or the upstream did, before anything went to the client: the attempt
  // failed as one that sent no answer (another upstream may take the request).
  auto unanswered = [&](Failure failure, std::string outcome, std::string detail) {
    out.responded = false;
    out.reusable = false;
    out.failure = failure;
    out.outcome = std::move(outcome);
    out.detail = std::move(detail);
    ctx.bytes_out = 0;
    return out;
  };
  while (!finished) {
    if (window.needRead()) {
      // Each read waits at most the idle limit (the silence between chunks), within the total.
      auto idle_at = Clock::now() + timeouts.idle;
      bool idle_first = timeouts.idle.count() > 0 && idle_at < deadline;
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
                           common::config::formatDuration(timeouts.idle) +
                           " mid-response (the idle timeout)";
        } else {
          failure_outcome = "total_timeout";
          failure_detail = "upstream " + t.name + " did not finish within " +
                           common::config::formatDuration(timeouts.total) + " (the total timeout)";
        }
        break;
      }
    }
    std::string_view fresh = window.fresh(buf);
    auto stepped = cursor.step(fresh, see);
    size_t forward = editor || converter || translator ? 0 : stepped.forward;
    size_t consumed = stepped.consumed;
    finished = finished || stepped.done;
    // An answer that turned out, once whole, to be an error before anything went to the client:
    // the upstream's own (below 500, the client's answer) or a failed attempt.
    std::optional<ApiError> answer_error;
    std::string_view error_outcome = "conversion";
    std::string error_detail;
    if (translator) {
      if (finished && stepped.error == nullptr) {
        if (translator->wantsUsage() && !ctx.translation.usage_url.empty()) {
          // The stream ended without its usage: the provider tells it at another URL.
          translator->usageFrom(
              co_await fetchWhole(ctx, t, plan, deadline, ctx.translation.usage_url));
        }
        // Only a JSON answer fails here.
        if ((answer_error = translator->finish())) {
          error_detail = "upstream " + t.name + ": " + answer_error->message;
        }
      }
      if (!answer_error) {
        seeAnswer(translator->out());
        if (editor || converter) {
          translator->out().clear();
        }
        if (finished && stepped.error == nullptr && ctx.answer_scan) {
          if (std::string usage = translator->unsentUsage(); !usage.empty()) {
            ctx.answer_scan->feed(usage);  // what the upstream reported, for records and limits
          }
        }
      }
    }
    if (editor && finished && stepped.error == nullptr && !answer_error) {
      editor->finish();
    }
    if (converter && !answer_error) {
      if (editor) {
        // The policies read the answer as the upstream sent it; the client gets it converted.
        converter->feed(editor->out());
        editor->out().clear();
        editor->pauses().clear();
      }
      if (finished && stepped.error == nullptr) {
        if ((answer_error = converter->finish())) {
          const bool sent = converter->upstreamSentError();
          error_outcome = sent ? "http_5xx" : "conversion";
          error_detail = sent ? "upstream " + t.name +
                                    " returned an error in its answer: " + answer_error->message
                              : "upstream " + t.name +
                                    " sent an answer fwd cannot convert: " + answer_error->message;
        }
      }
    }
    if (answer_error) {
      if (answer_error->status < 500) {
        // The upstream's own error in a 2xx answer (an error event before any content): the
        // client's answer, as fwd's own error with the upstream's status and message.
        out.reusable = parser.keep_alive() && consumed == fresh.size();
        out.client_alive = co_await respondError(ctx, *answer_error);
        out.status = answer_error->status;
        co_return out;
      }
      co_return unanswered(Failure::k5xx, std::string(error_outcome), std::move(error_detail));
    }
    if (converter && finished && stepped.error == nullptr) {
      ctx.bytes_out = converter->out().size();
    }
    auto noteFirstByte = [&] {
      ctx.first_byte = Clock::now();
      if (ctx.body.stream || sse) {
        ctx.pinned->metrics.streamTtfb(t.index, t.name)
            .observe(std::chrono::duration<double>(*ctx.first_byte - ctx.start).count());
      }
    };
    std::string_view data = converter    ? std::string_view(converter->out())
                            : editor     ? std::string_view(editor->out())
                            : translator ? std::string_view(translator->out())
                                         : fresh.substr(0, forward);
    if ((editor || converter || translator) && ctx.bodies) {
      ctx.bodies->appendForClient(data);  // the edited answer, as the client gets it
    }
    if (editor && !editor->pauses().empty()) {
      // A paced stream: what comes before each paced event goes out, then the event waits
      // for its time. The upstream is not read meanwhile (its bytes wait in the socket), so a
      // pause is not its silence: its deadline is the total one until the next read.
      size_t from = 0;
      boost::system::error_code pec;
      for (const AnswerEditor::Pause& p : editor->pauses()) {
        if (p.at > from) {
          pec = co_await writeToClient(w, client, pending_head, data.substr(from, p.at - from),
                                       chunked, false);
          pending_head = {};
          from = p.at;
          if (pec) {
            break;
          }
          if (!ctx.first_byte) {
            noteFirstByte();
          }
        }
        auto now = Clock::now();
        if (ctx.pace_at && *ctx.pace_at > now) {
          conn.deadline.at(deadline);
          proxy::Timer pause(co_await asio::this_coro::executor);
          pause.expires_at(*ctx.pace_at);
          co_await pause.async_wait(kUseTuple);
        } else {
          ctx.pace_at = now;
        }
        *ctx.pace_at += std::chrono::nanoseconds(ctx.limits.pace_ns * p.tokens);
      }
      editor->pauses().clear();
      data = data.substr(from);
      if (pec) {
        out.client_alive = false;
        out.status = 499;
        out.outcome = "client_closed";
        co_return out;
      }
    }
    // The answer is whole (and paced out but for this last piece): policies give back what the
    // request held before the client can have its end.
    if (finished && stepped.error == nullptr) {
      complete(ctx, out.status);
    }
    if (stepped.error != nullptr) {
      upstream_failed = true;
      failure_detail = "upstream " + t.name + " sent malformed chunked framing: " + stepped.error;
    }
    extra_bytes = finished && consumed < fresh.size();
    if (!data.empty() || finished) {
      // Written here, not through writeToClient: no coroutine frame per relayed piece.
      ClientWrite cw;
      boost::system::error_code cwec;
      if (startClientWrite(client, cw, pending_head, data,
                           chunked && (editor || converter || translator || !parser.chunked()),
                           chunked && finished)) {
        cwec = cw.ec;
      } else {
        cwec = co_await finishClientWrite(w, client, cw);
      }
      pending_head = {};
      if (editor) {
        editor->out().clear();
      }
      if (converter) {
        converter->out().clear();
      }
      if (translator) {
        translator->out().clear();
      }
      if (cwec) {
        // The client went away: stop reading the upstream; its connection is not reusable.
        out.client_alive = false;
        out.status = 499;
        out.outcome = "client_closed";
        co_return out;
      }
      if (!ctx.first_byte && !data.empty()) {
        noteFirstByte();
      }
    }
    if (upstream_failed) {
      break;
    }
    window.consume(consumed);
  }
  if (sse && events.eventCount() > 0) {
    ctx.pinned->metrics.streamedEvents(t.index, t.name).add(events.eventCount());
    ctx.stream_events = events.eventCount();
  }

  if (upstream_failed && (converter || hold_head)) {
    co_return unanswered(failure_outcome == "mid_stream" ? Failure::kReset : Failure::kTimeout,
                         std::string(failure_outcome), failure_detail);
  }
  if (upstream_failed) {
    out.outcome = std::string(failure_outcome);
    out.failure = Failure::kMidStream;
    out.detail = failure_detail;
    out.client_alive = false;
    // Logged as partial: what the client received before the cut.
    FWD_LOG(kWarn, "dataplane") << "partial response: " << failure_detail << "; relayed "
                                << events.eventCount() << " stream events";
    if (sse && chunked && (editor || translator || cursor.atChunkBoundary())) {
      // The head is gone, so no retry: end the stream with an error event the client can see
      // (unless the cut came inside a chunk, where a chunk of fwd's own would break the framing).
      ApiError e{502, "api_error", "upstream_error", failure_detail, ""};
      std::string event = "data: " + proxy::errorBody(e) + "\n\n";
      if (ctx.bodies) {
        ctx.bodies->appendForClient(event);
      }
      co_await writeToClient(w, client, pending_head, event, true, true);
    }
    co_return out;
  }
  out.reusable = parser.keep_alive() && !extra_bytes;
  if (!keep_alive) {
    out.client_alive = false;
  }
  co_return out;
}

using TlsStream = boost::beast::ssl_stream<proxy::Socket>;
template Task<std::string> readErrorBody<proxy::Socket>(proxy::Socket&, const UpstreamHeadParser&,
                                                        RelayBuffer&, const HeadRead&);
template Task<std::string> readErrorBody<TlsStream>(TlsStream&, const UpstreamHeadParser&,
                                                    RelayBuffer&, const HeadRead&);
template Task<BodyRead> readBody<proxy::Socket>(proxy::Socket&, const UpstreamHeadParser&,
                                                RelayBuffer&, const HeadRead&, size_t);
template Task<BodyRead> readBody<TlsStream>(TlsStream&, const UpstreamHeadParser&, RelayBuffer&,
                                            const HeadRead&, size_t);
template Task<Attempt> relayResponse<ReplayStream>(RequestContext&, ReplayStream&,
                                                   proxy::UpstreamConn&, UpstreamHeadParser&,
                                                   const HeadRead&, const config::UpstreamTarget&,
                                                   const AttemptPlan&, Clock::time_point,
                                                   const ClientWatch&, const Attempt&);
template Task<Attempt> relayResponse<proxy::Socket>(RequestContext&, proxy::Socket&,
                                                    proxy::UpstreamConn&, UpstreamHeadParser&,
                                                    const HeadRead&, const config::UpstreamTarget&,
                                                    const AttemptPlan&, Clock::time_point,
                                                    const ClientWatch&, const Attempt&);
template Task<Attempt> relayResponse<TlsStream>(RequestContext&, TlsStream&, proxy::UpstreamConn&,
                                                UpstreamHeadParser&, const HeadRead&,
                                                const config::UpstreamTarget&, const AttemptPlan&,
                                                Clock::time_point, const ClientWatch&,
                                                const Attempt&);

}  // namespace fwd::dataplane::pipeline
