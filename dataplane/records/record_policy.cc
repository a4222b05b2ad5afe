#include "dataplane/records/record_policy.h"

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstring>
#include <random>

#include "dataplane/pipeline/client_conn.h"
#include "dataplane/pipeline/finish.h"
#include "dataplane/records/recorder.h"

namespace fwd::dataplane::records {
namespace {

using pipeline::Clock;

// A request's id: 128 random bits in hex. Random, not counted: records of every node and every
// run go to one database.
std::array<char, 32> newId() {
  static thread_local std::mt19937_64 ids{
      std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32)};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::array<char, 32> id;
  for (size_t half = 0; half < 2; ++half) {
    std::uint64_t bits = ids();
    for (size_t i = 0; i < 16; ++i) {
      id[half * 16 + i] = kDigits[(bits >> (4 * i)) & 0xf];
    }
  }
  return id;
}

void assignId(pipeline::RequestContext& ctx) {
  ctx.request_id_chars = newId();
  ctx.request_id = std::string_view(ctx.request_id_chars.data(), ctx.request_id_chars.size());
}

std::uint64_t micros(Clock::duration d) {
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count()));
}

// The tokens the answer used: as the upstream reported them (read by the limits policy's
// editor, or at the end of the answer), else estimated for an answer that came: the prompt at a
// token per 4 bytes of body, the completion at about a token per event of a stream, or per 4
// bytes of a JSON answer.
usage::Usage tokensUsed(const pipeline::RequestContext& ctx, const usage::AnswerScanner::End& end,
                        proxy::WorkerContext& w) {
  if (ctx.usage.reported) {
    return ctx.usage;
  }
  usage::Usage u;
  if (!end.usage.empty()) {
    bool read = false;
    if (end.readable >= end.usage.size() + simdjson::SIMDJSON_PADDING) {
      read = usage::readUsageObject(
          w.json, simdjson::padded_string_view(end.usage.data(), end.usage.size(), end.readable),
          u);  // in place
    } else {
      std::string json(end.usage);
      read = usage::readUsageObject(w.json, json, u);
    }
    if (read) {
      return u;
    }
  }
  if (ctx.upstream == nullptr || ctx.status < 200 || ctx.status >= 300) {
    return u;  // no upstream answered
  }
  u.estimated = true;
  u.prompt = usage::estimateTokens(ctx.req.body().size());
  // A stream: about a token per event but [DONE]; a JSON answer: a token per 4 bytes.
  u.completion = ctx.stream_events > 0
                     ? ctx.stream_events - 1
                     : usage::estimateTokens(ctx.answer_scan ? ctx.answer_scan->bytes() : 0);
  u.total = u.prompt + u.completion;
  return u;
}

}  // namespace

fwd::v1::Outcome recordOutcome(int status, std::string_view error_code, bool first_byte_sent) {
  if (error_code == "rate_limit_exceeded" || error_code == "insufficient_quota" ||
      error_code == "limits_unavailable") {
    return fwd::v1::OUTCOME_RATE_LIMITED;
  }
  if (status == 499) {
    return fwd::v1::OUTCOME_CLIENT_CANCELLED;
  }
  if (!error_code.empty() && first_byte_sent && status == 502) {
    return fwd::v1::OUTCOME_PARTIAL;  // the answer broke after its first bytes went out
  }
  return status >= 200 && status < 300 && error_code.empty() ? fwd::v1::OUTCOME_OK
                                                             : fwd::v1::OUTCOME_ERROR;
}

bool isMultimodal(std::string_view path, std::string_view body) {
  if (path.starts_with("/v1/audio/") || path.starts_with("/v1/images/")) {
    return true;
  }
  // One scan for what every content part's type starts with: "image_url", "input_image",
  // "input_audio", "input_file".
  for (size_t from = 0; from < body.size();) {
    const void* p = ::memmem(body.data() + from, body.size() - from, "\"i", 2);
    if (p == nullptr) {
      return false;
    }
    std::string_view rest =
        body.substr(static_cast<size_t>(static_cast<const char*>(p) - body.data()) + 2);
    if (rest.starts_with("mage_url\"") || rest.starts_with("nput_image\"") ||
        rest.starts_with("nput_audio\"") || rest.starts_with("nput_file\"")) {
      return true;
    }
    from = body.size() - rest.size();
  }
  return false;
}

RecordRequests::RecordRequests(Recorder& recorder, std::shared_ptr<const usage::PriceTable> prices,
                               bool any_log_bodies)
    : recorder_(recorder),
      prices_(std::move(prices)),
      bodies_always_(recorder.jsonl() || any_log_bodies) {}

std::optional<proxy::ApiError> RecordRequests::onClient(pipeline::RequestContext& ctx,
                                                        policy::WorkerSlot*) const {
  assignId(ctx);
  return std::nullopt;
}

std::optional<proxy::ApiError> RecordRequests::onRequest(pipeline::RequestContext& ctx,
                                                         policy::WorkerSlot*) const {
  ctx.answer_scan.emplace(ctx.client.answer_tail);
  ctx.multimodal = isMultimodal(ctx.path, ctx.req.body());
  // The route is not known yet: while any route keeps bodies, they are kept from here on and
  // let go at the end when neither the route nor the key asked.
  if (bodies_always_ || (ctx.key != nullptr && ctx.key->log_bodies)) {
    ctx.bodies = std::make_unique<Bodies>(recorder_.bodyMaxBytes());
  }
  return std::nullopt;
}

void RecordRequests::onFinish(const pipeline::RequestOutcome& o, policy::WorkerSlot*) const {
  const pipeline::RequestContext& ctx = *o.request;
  proxy::WorkerContext& w = *o.worker;
  auto end = Clock::now();
  usage::AnswerScanner::End end_of_answer;
  if (ctx.answer_scan) {
    end_of_answer = ctx.answer_scan->end();
  }
  usage::Usage u = tokensUsed(ctx, end_of_answer, w);
  // Priced as budgets are: at the price of the model the upstream was sent.
  const usage::Price* price = u.total > 0 ? prices_->find(o.served_model) : nullptr;
  std::uint64_t cost = price != nullptr ? usage::costNanoUsd(u, *price) : 0;
  if (u.total > 0 && ctx.pinned) {
    // Prometheus: by the model label (bounded) and the upstream, by key only when the operator
    // asked (--metrics-key-label); counted even when the record itself is dropped.
    metrics::WorkerHandles::UsageCells& cells = ctx.pinned->metrics.usage(
        o.model, o.upstream,
        ctx.key != nullptr ? std::string_view(ctx.key->name) : std::string_view());
    cells.prompt->add(u.prompt);
    cells.completion->add(u.completion);
    cells.cached->add(u.cached);
    cells.reasoning->add(u.reasoning);
    cells.cost_nano_usd->add(cost);
    if (u.estimated) {
      cells.estimated->add();
    }
  }

  RecordRing& ring = recorder_.ring(w.index);
  RecordEntry* e = ring.claim();
  if (e == nullptr) {
    return;  // the ring is full: counted as dropped
  }
  if (ctx.request_id.empty()) {
    e->id = newId();  // it ended before the policy saw it
  } else {
    std::memcpy(e->id.data(), ctx.request_id.data(), e->id.size());
  }
  e->request_id.assign(ctx.upstream_request_id);
  auto latency = end - ctx.start;
  e->time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   (std::chrono::system_clock::now() - latency).time_since_epoch())
                   .count();
  // Every field is set: the slot still holds an earlier entry (record_ring.h).
  e->key_id = ctx.key != nullptr ? ctx.key->id : 0;
  e->key_name.assign(ctx.key != nullptr ? std::string_view(ctx.key->name) : std::string_view());
  e->client_ip =
      ctx.client_ip != common::net::IpAddress{} ? ctx.client_ip.bytes : ctx.client.ip.bytes;
  e->status = o.status;
  e->attempts = static_cast<std::uint32_t>(o.attempts);
  e->failed_attempts_total = static_cast<std::uint32_t>(ctx.failed_attempts.size());
  for (size_t i = 0; i < ctx.failed_attempts.size() && i < RecordEntry::kMaxFailedAttempts; ++i) {
    const auto& f = ctx.failed_attempts[i];
    e->failed[i].upstream.assign(f.upstream->name);
    e->failed[i].reason.assign(f.reason);
    e->failed[i].status = f.status;
  }
  e->latency_us = micros(latency);
  e->ttfb_us = ctx.first_byte ? micros(*ctx.first_byte - ctx.start) : 0;
  e->overhead_us = micros(latency - ctx.upstream_time);
  e->prompt_tokens = u.prompt;
  e->completion_tokens = u.completion;
  e->cached_tokens = u.cached;
  e->reasoning_tokens = u.reasoning;
  e->usage_estimated = u.estimated;
  e->priced = price != nullptr;
  e->cost_nano_usd = cost;
  e->bytes_in = ctx.req.body().size();
  e->bytes_out = ctx.bytes_out;
  e->outcome = recordOutcome(o.status, o.error_code, ctx.first_byte.has_value());
  e->stream = o.stream;
  e->tool_calls = end_of_answer.tool_calls;
  e->multimodal = ctx.multimodal;
  e->method.assign(boost::beast::http::to_string(ctx.req.method()));
  // Never the query: clients put keys there (Azure's api-key=...).
  std::string_view target = ctx.req.target();
  e->path.assign(ctx.path.empty() ? target.substr(0, target.find('?')) : ctx.path);
  e->route.assign(o.route);
  e->model.assign(ctx.model);
  e->served_model.assign(o.served_model);
  e->upstream.assign(o.upstream);
  e->error_code.assign(o.error_code);
  // The slot's bodies are null (the recorder let go of them): only a request with bodies to
  // hand over touches them.
  if (ctx.bodies) {
    bool in_record = (ctx.key != nullptr && ctx.key->log_bodies) ||
                     (ctx.route != nullptr && ctx.route->log_bodies);
    if (in_record || recorder_.jsonl()) {
      Bodies& b = *ctx.bodies;
      if (ctx.original_body) {
        b.request.assign(*ctx.original_body, b.max_bytes);
        b.upstream_request.assign(ctx.req.body(), b.max_bytes);
        b.request_edited = true;
      } else {
        b.request.assign(ctx.req.body(), b.max_bytes);
      }
      e->bodies_in_record = in_record;
      e->bodies = std::move(ctx.bodies);
    }
  }
  ring.publish();
}

}  // namespace fwd::dataplane::records
