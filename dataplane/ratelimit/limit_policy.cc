#include "dataplane/ratelimit/limit_policy.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>

#include "common/config/budget.h"
#include "common/config/money.h"
#include "common/config/rate.h"
#include "dataplane/pipeline/finish.h"
#include "dataplane/ratelimit/redis_script.h"
#include "dataplane/redis/redis_client.h"
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

std::string Owner::text() const {
  if (route.empty()) {
    return "this API key";
  }
  std::string out = shared ? "route \"" : "this API key on route \"";
  out += route;
  out += shared ? "\" (all keys together)" : "\"";
  return out;
}

namespace {

// A request refused by a request window or the in-flight cap: 429 with Retry-After, counted.
proxy::ApiError rateRefusal(pipeline::RequestContext& ctx, const Verdict& v, const Owner& who) {
  bool parallel = v.refused == Verdict::Refusal::kParallel;
  ctx.w.metrics.limited.cell(ctx.w.index, {parallel ? "parallel" : "rate", scopeName(v.scope)})
      .add();
  proxy::ApiError e{429, "requests", "rate_limit_exceeded",
                    parallel ? "Rate limit reached: too many requests in flight at once for " +
                                   who.text() + ". Wait for one to finish, then retry."
                             : "Rate limit reached for requests: " + who.text() + " may make " +
                                   windowText(v.limit, v.window) + ". Retry in " +
                                   resetText(v.retry) + ".",
                    ""};
  e.retry_after_seconds = static_cast<int>(std::max<Millis>(1, (v.retry + 999) / 1000));
  return e;
}

// A request refused by a token window: 429 (with Retry-After unless it can never fit).
proxy::ApiError tokenRefusal(pipeline::RequestContext& ctx, const TokenVerdict& v,
                             const Owner& who) {
  ctx.w.metrics.limited.cell(ctx.w.index, {"tokens", scopeName(v.scope)}).add();
  std::string limit = windowText(v.limit, v.window);
  if (v.too_large) {
    return proxy::ApiError{
        429, "tokens", "rate_limit_exceeded",
        "Request too large for " + who.text() + ": it may use " + limit +
            " tokens, and this request needs about " + std::to_string(v.needed) +
            " (its prompt and max_tokens). Make the prompt or max_tokens smaller.",
        ""};
  }
  proxy::ApiError e{429, "tokens", "rate_limit_exceeded",
                    "Rate limit reached for tokens: " + who.text() + " may use " + limit + ", " +
                        std::to_string(v.remaining) + " are left, and this request needs about " +
                        std::to_string(v.needed) + ". Retry in " + resetText(v.reset) + ".",
                    ""};
  e.retry_after_seconds = static_cast<int>(std::max<Millis>(1, (v.reset + 999) / 1000));
  return e;
}

// A request refused by a spent budget: 429 insufficient_quota, as OpenAI answers an account
// out of credit, with Retry-After until the budget renews (none for a total budget).
proxy::ApiError budgetRefusal(pipeline::RequestContext& ctx, const BudgetVerdict& v) {
  const BudgetLimit& b = *v.spent_budget;
  ctx.w.metrics.limited.cell(ctx.w.index, {"budget", scopeName(b.scope)}).add();
  std::string message = "You exceeded your current quota: this API key's budget of ";
  if (b.money) {
    message += "$" + common::config::formatUsdMicros(b.limit / 1000);
  } else {
    message += std::to_string(b.limit) + " tokens";
  }
  message += b.period == common::config::BudgetPeriod::kTotal
                 ? " in total"
                 : " per " + std::string(common::config::budgetPeriodName(b.period));
  message += " is spent (";
  message += b.money ? "$" + common::config::formatUsdMicros((v.spent + 999) / 1000)
                     : std::to_string(v.spent);
  message += " used).";
  if (v.reset >= 0) {
    message += " It renews in " + resetText(v.reset) + " (00:00 UTC).";
  } else {
    message += " It does not renew; ask for a larger budget.";
  }
  proxy::ApiError e{429, "insufficient_quota", "insufficient_quota", message, ""};
  if (v.reset >= 0) {
    e.retry_after_seconds = static_cast<int>(std::max<Millis>(1, (v.reset + 999) / 1000));
  }
  return e;
}

// GET /v1/models[/{id}]: answered by fwd, so no budget refuses it.
bool listsModels(const pipeline::RequestContext& ctx) {
  return ctx.req.method() == boost::beast::http::verb::get &&
         (ctx.path == "/v1/models" || ctx.path.starts_with("/v1/models/"));
}

// The x-ratelimit-* fields of an answer: a key's own limits set them; a route's only where the
// key has none of that kind, or when the route refuses.
void noteRequestFields(pipeline::RequestContext& ctx, const Verdict& v, const Owner& who,
                       bool refused) {
  if (who.route.empty()) {
    ctx.response_fields = requestFields(v);
  } else if (v.limit > 0 && (refused || ctx.response_fields.empty())) {
    ctx.response_fields = requestFields(v);
  }
}

void noteTokenFields(pipeline::RequestContext& ctx, const TokenVerdict& t, const Owner& who,
                     bool refused) {
  if (who.route.empty() || refused ||
      ctx.response_fields.find("x-ratelimit-limit-tokens") == std::string::npos) {
    ctx.response_fields += tokenFields(t);
  }
}

// Counts the request in memory against the budgets, the request windows and the in-flight cap,
// noting in `a` what it took.
std::optional<proxy::ApiError> admitInMemory(pipeline::RequestContext& ctx,
                                             const KeyLimiter& limiter, Millis now, Admission& a,
                                             const Owner& who) {
  if (limiter.hasBudgets() && !listsModels(ctx)) {
    BudgetVerdict b = limiter.checkBudgets(now);
    if (b.spent_budget != nullptr) {
      return budgetRefusal(ctx, b);
    }
  }
  Verdict v = limiter.admit(now);
  bool refused = v.refused != Verdict::Refusal::kNone;
  noteRequestFields(ctx, v, who, refused);
  if (refused) {
    return rateRefusal(ctx, v, who);
  }
  if (limiter.capsParallel()) {
    a.parallel = &limiter;
  }
  return std::nullopt;
}

// True when the request's usage counts against the limiter's token windows or budgets; then
// notes in `a` what counting it needs and returns the size of a token reservation in `amount`.
bool usageAsk(pipeline::RequestContext& ctx, const KeyLimiter& limiter, std::uint64_t& amount,
              Admission& a) {
  if ((!limiter.limitsTokens() && !limiter.hasBudgets()) || !countsTokens(ctx.path)) {
    return false;
  }
  usage::Ask ask;
  usage::readAsk(ctx.w.json, ctx.req.body(), ask);
  a.prompt_estimate = usage::estimateTokens(ctx.req.body().size());
  a.client_asked_usage = ask.include_usage;
  amount = a.prompt_estimate + ask.max_tokens;
  return true;
}

// Reserves `amount` tokens in memory.
std::optional<proxy::ApiError> reserveInMemory(pipeline::RequestContext& ctx,
                                               const KeyLimiter& limiter, std::uint64_t amount,
                                               Millis now, Admission& a, const Owner& who) {
  TokenVerdict v = limiter.reserve(now, amount, a.token_tags);
  noteTokenFields(ctx, v, who, v.refused);
  if (v.refused) {
    return tokenRefusal(ctx, v, who);
  }
  a.tokens = &limiter;
  a.reserved = amount;
  return std::nullopt;
}

// The admission script's command as EVAL with the script itself, for a Redis that lacks it.
std::string admitEvalCommand(const KeyLimiter& limiter, bool with_tokens, bool with_budgets,
                             std::uint64_t amount) {
  std::vector<std::string> args = {"EVAL", admitScript(), "1", limiter.redisPrefix()};
  limiter.appendAdmitArgs(args, with_tokens, with_tokens || with_budgets, amount);
  return redis::formatCommand(args);
}

bool noScript(const redis::Reply& reply) {
  return reply.type == redis::Reply::Type::kError && reply.text.starts_with("NOSCRIPT");
}

// The admission script's reply (redis_script.h), or false when it is not one.
bool parseAdmit(const redis::Reply& reply, AdmitReply& out) {
  return (reply.type == redis::Reply::Type::kString || reply.type == redis::Reply::Type::kStatus) &&
         parseAdmitReply(reply.text, out);
}

std::string_view redisErrorReason(const redis::Reply& reply) {
  return reply.answered() ? "error" : reply.timed_out ? "timeout" : "down";
}

// The limiter of the route the request's model matches, and whose it is; nullptr when the route
// has no limits (or none matches).
const KeyLimiter* routeLimiter(const pipeline::RequestContext& ctx, Owner& who) {
  const config::CompiledRoute* route = ctx.cfg->matchRoute(ctx.prefix, ctx.model);
  if (route == nullptr) {
    return nullptr;
  }
  who.route = route->name;
  who.shared = route->limits_shared;
  return route->limiterFor(*ctx.key);
}

// Counts the request in memory against `limiter` (the key's limits once the body is read, or a
// route's): its token reservation and, for a route, its windows and in-flight cap too.
std::optional<proxy::ApiError> admitBodyInMemory(pipeline::RequestContext& ctx,
                                                 const KeyLimiter& limiter, Millis now,
                                                 Admission& a, const Owner& who) {
  if (!who.route.empty()) {
    if (auto refused = admitInMemory(ctx, limiter, now, a, who)) {
      return refused;
    }
  }
  std::uint64_t amount = 0;
  if (!usageAsk(ctx, limiter, amount, a)) {
    return std::nullopt;
  }
  if (limiter.limitsTokens()) {
    if (auto refused = reserveInMemory(ctx, limiter, amount, now, a, who)) {
      return refused;
    }
  }
  if (limiter.hasBudgets()) {
    a.budgets = &limiter;
  }
  return std::nullopt;
}

}  // namespace

std::optional<proxy::ApiError> RequestLimits::onKey(pipeline::RequestContext& ctx,
                                                    policy::WorkerSlot*) const {
  const KeyLimiter* limiter = ctx.key->limiter.get();
  if (limiter == nullptr) {
    return std::nullopt;
  }
  ctx.limits.pace_ns = limiter->paceNs();
  if (redis_) {
    // Counted in Redis once the body is read; a window Redis refused lately refuses here.
    Verdict v;
    if (limiter->refusedUntil(now_(), v)) {
      ctx.response_fields = requestFields(v);
      return rateRefusal(ctx, v, Owner{});
    }
    return std::nullopt;
  }
  return admitInMemory(ctx, *limiter, now_(), ctx.limits, Owner{});
}

std::optional<proxy::ApiError> RequestLimits::onRequest(pipeline::RequestContext& ctx,
                                                        policy::WorkerSlot*) const {
  Millis now = now_();
  if (const KeyLimiter* limiter = ctx.key->limiter.get()) {
    if (auto refused = admitBodyInMemory(ctx, *limiter, now, ctx.limits, Owner{})) {
      return refused;
    }
  }
  Owner who;
  if (const KeyLimiter* route = routes_ ? routeLimiter(ctx, who) : nullptr) {
    return admitBodyInMemory(ctx, *route, now, ctx.route_limits, who);
  }
  return std::nullopt;
}

proxy::Task<std::optional<proxy::ApiError>> RequestLimits::admitInRedis(
    pipeline::RequestContext& ctx, const KeyLimiter* limiter, Admission* admission,
    Owner who) const {
  Admission& a = *admission;
  std::uint64_t amount = 0;
  bool counted = usageAsk(ctx, *limiter, amount, a);
  bool with_tokens = counted && limiter->limitsTokens();
  bool with_budgets = limiter->hasBudgets() && !listsModels(ctx);
  std::shared_ptr<redis::Client> client = ctx.w.redis;
  redis::Reply reply;
  if (client && client->connected()) {
    auto sent = std::chrono::steady_clock::now();
    std::string command;  // with tokens: the command completed with this request's amount
    reply = co_await client->commandFormatted(
        limiter->admitCommand(with_tokens, with_budgets, amount, command));
    if (noScript(reply)) {  // a restarted Redis: the script goes along once
      command = admitEvalCommand(*limiter, with_tokens, with_budgets, amount);
      reply = co_await client->commandFormatted(command);
    }
    ctx.w.metrics.redis_duration.cell(ctx.w.index, {"admit"})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count());
  }
  AdmitReply r;
  if (!parseAdmit(reply, r)) {
    ctx.w.metrics.redis_errors.cell(ctx.w.index, {redisErrorReason(reply)}).add();
    if (limiter->failClosed()) {
      ctx.w.metrics.limited.cell(ctx.w.index, {"redis_down", scopeName(limiter->redisDownScope())})
          .add();
      proxy::ApiError e{503, "api_error", "limits_unavailable",
                        "fwd cannot check this API key's limits right now: the Redis that "
                        "counts them is unreachable. Retry shortly.",
                        ""};
      e.retry_after_seconds = 1;
      co_return e;
    }
    // Fail open: counted in this data plane's memory until Redis is back.
    Millis now = now_();
    if (auto refused = admitInMemory(ctx, *limiter, now, a, who)) {
      co_return refused;
    }
    if (with_tokens) {
      if (auto refused = reserveInMemory(ctx, *limiter, amount, now, a, who)) {
        co_return refused;
      }
    }
    if (counted && limiter->hasBudgets()) {
      a.budgets = limiter;
    }
    co_return std::nullopt;
  }
  // {admitted, refusal, rl, rw, rr, rs, retry, tl, tw, tr, ts, now, bi, bs}
  const std::int64_t* x = r.v;
  Verdict v;
  v.limit = static_cast<std::uint64_t>(x[2]);
  v.window = x[3];
  v.remaining = static_cast<std::uint64_t>(x[4]);
  v.reset = x[5];
  v.retry = x[6];
  v.scope = limiter->rateScope();
  bool refused = x[1] != 0;
  noteRequestFields(ctx, v, who, refused);
  TokenVerdict t;
  t.limit = static_cast<std::uint64_t>(x[7]);
  t.window = x[8];
  t.remaining = static_cast<std::uint64_t>(x[9]);
  t.reset = x[10];
  t.needed = amount;
  if (with_tokens) {
    noteTokenFields(ctx, t, who, refused);
  }
  switch (x[1]) {
    case 0: {
      a.redis = std::move(client);
      a.redis_now = x[11];
      if (limiter->capsParallel()) {
        a.parallel = limiter;
      }
      if (with_tokens) {
        a.tokens = limiter;
        a.reserved = amount;
      }
      if (counted && limiter->hasBudgets()) {
        a.budgets = limiter;
      }
      co_return std::nullopt;
    }
    case 1:
      v.refused = Verdict::Refusal::kRate;
      limiter->noteRefusedUntil(now_() + v.retry, v.limit, v.window);
      co_return rateRefusal(ctx, v, who);
    case 2:
      v.refused = Verdict::Refusal::kParallel;
      v.scope = limiter->parallelScope();
      co_return rateRefusal(ctx, v, who);
    case 5: {
      auto i = static_cast<size_t>(x[12]);
      if (i == 0 || i > limiter->budgets().size()) {
        co_return std::nullopt;  // cannot be: the script names one of the budgets it was sent
      }
      BudgetVerdict b;
      b.spent_budget = &limiter->budgets()[i - 1];
      b.spent = static_cast<std::uint64_t>(x[13]);
      Millis now = now_();
      std::int64_t end = common::config::budgetPeriodEnd(b.spent_budget->period, now);
      b.reset = end < 0 ? -1 : end - now;
      co_return budgetRefusal(ctx, b);
    }
    default:
      t.refused = true;
      t.too_large = x[1] == 4;
      t.scope = limiter->tokensScope();
      co_return tokenRefusal(ctx, t, who);
  }
}

proxy::Task<std::optional<proxy::ApiError>> RequestLimits::awaitRequest(
    pipeline::RequestContext& ctx, policy::WorkerSlot*) const {
  if (const KeyLimiter* limiter = ctx.key->limiter.get()) {
    if (auto refused = co_await admitInRedis(ctx, limiter, &ctx.limits, Owner{})) {
      co_return refused;
    }
  }
  Owner who;
  const KeyLimiter* route = routes_ && !listsModels(ctx) ? routeLimiter(ctx, who) : nullptr;
  if (route == nullptr) {
    co_return std::nullopt;
  }
  // A second round trip, for the route's counts (under their own Redis keys).
  co_return co_await admitInRedis(ctx, route, &ctx.route_limits, who);
}

namespace {

// The answer's usage counts somewhere: a token reservation or a budget, the key's or a route's.
bool countsUsage(const pipeline::RequestContext& ctx) {
  return ctx.limits.tokens != nullptr || ctx.limits.budgets != nullptr ||
         ctx.route_limits.tokens != nullptr;
}

}  // namespace

void RequestLimits::onAttempt(const pipeline::RequestContext& ctx, const config::UpstreamTarget&,
                              rewrite::BodyEdits& edits, policy::WorkerSlot*) const {
  // Embeddings are not streamed; chat and text completions report a stream's usage only when
  // asked.
  if (countsUsage(ctx) && ctx.body.stream && !ctx.limits.client_asked_usage &&
      !ctx.route_limits.client_asked_usage && ctx.path != "/v1/embeddings") {
    edits.include_usage = true;
  }
}

bool RequestLimits::wantsAnswer(const pipeline::RequestContext& ctx, policy::WorkerSlot*) const {
  return countsUsage(ctx) || (ctx.limits.pace_ns > 0 && ctx.body.stream);
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
    if (ctx.limits.pace_ns > 0) {
      part.pace_tokens = 1;  // about a token per content chunk
    }
  }
  // A client that did not ask for a stream (stream conversion assembles one answer) keeps it.
  if (usage::readUsage(ctx.w.json, part.data, u) && ctx.body.stream &&
      !ctx.limits.client_asked_usage && !ctx.route_limits.client_asked_usage &&
      usage::isUsageOnlyEvent(ctx.w.json, part.data)) {
    part.drop = true;  // fwd asked for it; the client did not
  }
  return true;
}

namespace {

// The settle script's command for an admission made in Redis.
std::vector<std::string> settleCommand(const Admission& a, const KeyLimiter& limiter,
                                       std::uint64_t used, const Spend& spend) {
  std::vector<std::string> args;
  args.reserve(10 + kMaxTokenWindows + 3 * limiter.budgets().size());
  args.push_back("EVALSHA");
  args.push_back(settleScriptSha());
  args.push_back("1");
  args.push_back(limiter.redisPrefix());
  args.push_back(std::to_string(a.redis_now));
  args.push_back(std::to_string(a.tokens != nullptr ? a.reserved : 0));
  args.push_back(std::to_string(a.tokens != nullptr ? used : 0));
  args.push_back(a.parallel != nullptr ? "1" : "0");
  if (a.tokens != nullptr) {
    limiter.appendTokenWindows(args);
  } else {
    args.push_back("0");
  }
  if (a.budgets != nullptr) {
    limiter.appendSpendArgs(args, spend);
  } else {
    args.push_back("0");
  }
  return args;
}

// Sends the settle script without waiting for it (once more as EVAL if Redis lacks it). Lost
// when Redis is down: an in-flight slot then heals when its count expires (redis_script.h).
void settleInRedis(const Admission& a, const KeyLimiter& limiter, std::uint64_t used,
                   const Spend& spend, proxy::WorkerContext& w) {
  struct Settled {
    std::shared_ptr<redis::Client> client;
    std::vector<std::string> args;
    proxy::WorkerContext* w;
    std::chrono::steady_clock::time_point sent;
    void operator()(redis::Reply reply) && {
      if (noScript(reply)) {
        args[0] = "EVAL";
        args[1] = settleScript();
        client->send(std::move(args), [](redis::Reply) {});
        return;
      }
      w->metrics.redis_duration.cell(w->index, {"settle"})
          .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count());
      if (reply.type != redis::Reply::Type::kInteger) {
        w->metrics.redis_errors.cell(w->index, {redisErrorReason(reply)}).add();
      }
    }
  };
  std::vector<std::string> args = settleCommand(a, limiter, used, spend);
  std::string command = redis::formatCommand(args);
  a.redis->sendFormatted(command,
                         Settled{a.redis, std::move(args), &w, std::chrono::steady_clock::now()});
  // On the wire now, before the answer's last bytes (kOnComplete): the client's next request,
  // on whichever data plane, finds it counted.
  a.redis->flush();
}

}  // namespace

void RequestLimits::settle(const Admission& a, const Ended& e) const {
  if (a.redis == nullptr && a.parallel != nullptr) {
    a.parallel->release();
  }
  const KeyLimiter* limiter = a.tokens != nullptr    ? a.tokens
                              : a.budgets != nullptr ? a.budgets
                                                     : a.parallel;
  if (limiter == nullptr) {
    return;
  }
  // What the answer used: as reported; without a report, estimated for an answer that came
  // (the prompt's estimate and about a token per content chunk of a stream, or a JSON answer's
  // bytes / 4); nothing for a request that got no answer from an upstream.
  usage::Usage used;
  const usage::Usage* u = e.usage;
  if (u != nullptr && u->reported) {
    used = *u;
  } else if (e.status >= 200 && e.status < 300 && (a.tokens != nullptr || a.budgets != nullptr)) {
    used.prompt = a.prompt_estimate;
    used.completion = u == nullptr ? 0 : e.stream ? u->content_events : u->completion;
    used.total = used.prompt + used.completion;
  }
  Spend spend;
  if (a.budgets != nullptr && used.total > 0) {
    spend.tokens = used.total;
    if (const usage::Price* price = prices_->find(e.model)) {
      spend.priced = true;
      spend.nano_usd = usage::costNanoUsd(used, *price);
    } else if (a.budgets->budgets().front().money && e.worker != nullptr) {
      e.worker->metrics.unpriced.cell(e.worker->index, {e.model_label}).add();
    }
  }
  if (a.redis != nullptr) {
    settleInRedis(a, *limiter, used.total, spend, *e.worker);
    return;
  }
  Millis now = now_();
  if (a.tokens != nullptr) {
    a.tokens->settle(a.token_tags, a.reserved, used.total, now);
  }
  if (a.budgets != nullptr && used.total > 0) {
    a.budgets->spend(now, spend);
  }
}

void RequestLimits::onComplete(pipeline::RequestContext& ctx, int status,
                               policy::WorkerSlot*) const {
  Ended e{
      status,          &ctx.usage,
      ctx.body.stream, ctx.served_model.empty() ? std::string_view(ctx.model) : ctx.served_model,
      ctx.model_label, &ctx.w};
  for (Admission* a : {&ctx.limits, &ctx.route_limits}) {
    settle(*a, e);
    a->tokens = nullptr;  // settled: onFinish has nothing left to give back or charge
    a->parallel = nullptr;
    a->budgets = nullptr;
  }
}

void RequestLimits::onFinish(const pipeline::RequestOutcome& outcome, policy::WorkerSlot*) const {
  Ended e{outcome.status,       outcome.usage, outcome.stream,
          outcome.served_model, outcome.model, outcome.worker};
  for (const Admission* a : {outcome.limits, outcome.route_limits}) {
    if (a != nullptr) {
      settle(*a, e);
    }
  }
}

}  // namespace fwd::dataplane::ratelimit
