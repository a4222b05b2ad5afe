#include "dataplane/ratelimit/limit_policy.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>

#include "common/config/rate.h"
#include "dataplane/pipeline/finish.h"
#include "dataplane/usage/usage.h"

namespace fwd::dataplane::ratelimit {

Millis systemNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// Appends to [p, end): the fields are formatted into a stack buffer, then copied once.
char* put(char* p, std::string_view text) {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

char* putNumber(char* p, char* end, std::uint64_t n) { return std::to_chars(p, end, n).ptr; }

// The longest reset text: "8784h59m59.999s".
constexpr size_t kMaxResetText = 24;

char* putReset(char* p, char* end, Millis ms) {
  if (ms < 1000) {
    p = putNumber(p, end, static_cast<std::uint64_t>(std::max<Millis>(ms, 0)));
    return put(p, "ms");
  }
  Millis hours = ms / 3'600'000;
  Millis minutes = ms / 60'000 % 60;
  Millis seconds = ms / 1000 % 60;
  Millis millis = ms % 1000;
  if (hours > 0) {
    p = put(putNumber(p, end, static_cast<std::uint64_t>(hours)), "h");
  }
  if (hours > 0 || minutes > 0) {
    p = put(putNumber(p, end, static_cast<std::uint64_t>(minutes)), "m");
  }
  p = putNumber(p, end, static_cast<std::uint64_t>(seconds));
  if (millis > 0) {
    char frac[3] = {static_cast<char>('0' + millis / 100),
                    static_cast<char>('0' + millis / 10 % 10),
                    static_cast<char>('0' + millis % 10)};
    size_t digits = frac[2] != '0' ? 3 : frac[1] != '0' ? 2 : 1;
    p = put(put(p, "."), std::string_view(frac, digits));
  }
  return put(p, "s");
}

// "x-ratelimit-limit-<what>: N\r\nx-ratelimit-remaining-<what>: N\r\nx-ratelimit-reset-<what>:
// T\r\n".
std::string fields(std::string_view what, std::uint64_t limit, std::uint64_t remaining,
                   Millis reset) {
  char buf[3 * 32 + 2 * 20 + kMaxResetText + 3 * 2];
  char* end = buf + sizeof buf;
  char* p = buf;
  p = put(put(put(p, "x-ratelimit-limit-"), what), ": ");
  p = put(putNumber(p, end, limit), "\r\n");
  p = put(put(put(p, "x-ratelimit-remaining-"), what), ": ");
  p = put(putNumber(p, end, remaining), "\r\n");
  p = put(put(put(p, "x-ratelimit-reset-"), what), ": ");
  p = put(putReset(p, end, reset), "\r\n");
  return std::string(buf, p);
}

}  // namespace

std::string resetText(Millis ms) {
  char buf[kMaxResetText];
  return std::string(buf, putReset(buf, buf + sizeof buf, ms));
}

std::string requestFields(const Verdict& v) {
  return v.limit == 0 ? std::string() : fields("requests", v.limit, v.remaining, v.reset);
}

std::string tokenFields(const TokenVerdict& v) {
  return v.limit == 0 ? std::string() : fields("tokens", v.limit, v.remaining, v.reset);
}

bool countsTokens(std::string_view path) {
  return path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/embeddings";
}

namespace {

std::string windowText(std::uint64_t count, Millis window) {
  return common::config::formatRates({{count, std::chrono::seconds(window / 1000)}});
}

}  // namespace

std::optional<proxy::ApiError> RequestLimits::onKey(pipeline::RequestContext& ctx,
                                                    policy::WorkerSlot*) const {
  const KeyLimiter* limiter = ctx.key->limiter.get();
  if (limiter == nullptr) {
    return std::nullopt;
  }
  Verdict v = limiter->admit(now_());
  ctx.response_fields = requestFields(v);
  if (v.refused == Verdict::Refusal::kNone) {
    if (limiter->capsParallel()) {
      ctx.limits.parallel = limiter;
    }
    return std::nullopt;
  }
  bool parallel = v.refused == Verdict::Refusal::kParallel;
  ctx.w.metrics.limited.cell(ctx.w.index, {parallel ? "parallel" : "rate", scopeName(v.scope)})
      .add();
  proxy::ApiError e{429, "requests", "rate_limit_exceeded",
                    parallel ? "Rate limit reached: too many requests in flight at once for "
                               "this API key. Wait for one to finish, then retry."
                             : "Rate limit reached for requests: this API key may make " +
                                   windowText(v.limit, v.window) + ". Retry in " +
                                   resetText(v.retry) + ".",
                    ""};
  e.retry_after_seconds = static_cast<int>(std::max<Millis>(1, (v.retry + 999) / 1000));
  return e;
}

std::optional<proxy::ApiError> RequestLimits::onRequest(pipeline::RequestContext& ctx,
                                                        policy::WorkerSlot*) const {
  const KeyLimiter* limiter = ctx.key->limiter.get();
  if (limiter == nullptr || !limiter->limitsTokens() || !countsTokens(ctx.path)) {
    return std::nullopt;
  }
  std::string& body = ctx.req.body();
  usage::Ask ask;
  usage::readAsk(ctx.w.json, body, ask);
  Admission& a = ctx.limits;
  a.prompt_estimate = usage::estimateTokens(body.size());
  a.client_asked_usage = ask.include_usage;
  std::uint64_t amount = a.prompt_estimate + ask.max_tokens;
  TokenVerdict v = limiter->reserve(now_(), amount, a.token_tags);
  ctx.response_fields += tokenFields(v);
  if (!v.refused) {
    a.tokens = limiter;
    a.reserved = amount;
    return std::nullopt;
  }
  ctx.w.metrics.limited.cell(ctx.w.index, {"tokens", scopeName(v.scope)}).add();
  std::string limit = windowText(v.limit, v.window);
  if (v.too_large) {
    return proxy::ApiError{
        429, "tokens", "rate_limit_exceeded",
        "Request too large for this API key: it may use " + limit +
            " tokens, and this request needs about " + std::to_string(v.needed) +
            " (its prompt and max_tokens). Make the prompt or max_tokens smaller.",
        ""};
  }
  proxy::ApiError e{429, "tokens", "rate_limit_exceeded",
                    "Rate limit reached for tokens: this API key may use " + limit + ", " +
                        std::to_string(v.remaining) + " are left, and this request needs about " +
                        std::to_string(v.needed) + ". Retry in " + resetText(v.reset) + ".",
                    ""};
  e.retry_after_seconds = static_cast<int>(std::max<Millis>(1, (v.reset + 999) / 1000));
  return e;
}

void RequestLimits::onAttempt(const pipeline::RequestContext& ctx, const config::UpstreamTarget&,
                              rewrite::BodyEdits& edits, policy::WorkerSlot*) const {
  // Embeddings are not streamed; chat and text completions report a stream's usage only when
  // asked.
  if (ctx.limits.tokens != nullptr && ctx.body.stream && !ctx.limits.client_asked_usage &&
      ctx.path != "/v1/embeddings") {
    edits.include_usage = true;
  }
}

bool RequestLimits::wantsAnswer(const pipeline::RequestContext& ctx, policy::WorkerSlot*) const {
  return ctx.limits.tokens != nullptr;
}

bool RequestLimits::onAnswer(pipeline::RequestContext& ctx, policy::AnswerPart& part,
                             policy::WorkerSlot*) const {
  usage::Usage& u = ctx.usage;
  if (!part.stream) {
    if (!usage::readUsage(ctx.w.json, part.data, u)) {
      u.completion = usage::estimateTokens(part.data.size());
    }
    return false;
  }
  if (usage::carriesContent(part.data)) {
    ++u.content_events;
  }
  if (usage::readUsage(ctx.w.json, part.data, u) && !ctx.limits.client_asked_usage &&
      usage::isUsageOnlyEvent(ctx.w.json, part.data)) {
    part.drop = true;  // fwd asked for it; the client did not
  }
  return true;
}

void RequestLimits::onFinish(const pipeline::RequestOutcome& outcome, policy::WorkerSlot*) const {
  const Admission* a = outcome.limits;
  if (a == nullptr) {
    return;
  }
  if (a->parallel != nullptr) {
    a->parallel->release();
  }
  if (a->tokens == nullptr) {
    return;
  }
  // What the answer used: as reported; without a report, estimated for an answer that came
  // (the prompt's estimate and about a token per content chunk of a stream, or a JSON answer's
  // bytes / 4); nothing for a request that got no answer from an upstream.
  std::uint64_t used = 0;
  const usage::Usage* u = outcome.usage;
  if (u != nullptr && u->reported) {
    used = u->total;
  } else if (outcome.status >= 200 && outcome.status < 300) {
    used = a->prompt_estimate + (u == nullptr     ? 0
                                 : outcome.stream ? u->content_events
                                                  : u->completion);
  }
  a->tokens->settle(a->token_tags, a->reserved, used, now_());
}

}  // namespace fwd::dataplane::ratelimit
