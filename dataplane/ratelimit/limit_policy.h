// Limits on the request path. Once the key is known (kOnKey), its KeyLimiter admits the request
// or refuses it with a 429 before anything is read or sent upstream: rate_limit_exceeded with
// Retry-After, counted in fwd_limited_requests_total{reason, scope}. A key with token windows
// then (kOnRequest, the body read) reserves an estimate of the request's tokens — the body's
// bytes / 4 for the prompt, plus max_tokens when asked — or is refused the same way. For a
// stream, fwd asks the upstream for its usage (kOnAttempt: stream_options.include_usage) and,
// when the client did not ask, leaves the extra usage chunk out of what the client gets
// (kOnAnswer). At finish (kOnFinish) the parallel slot is given back and the reservation is
// replaced by what the answer reported using (or, without a report, an estimate).
//
// With Redis (Settings.redis_url), the counting moves there, exact across data planes: one
// script run per request (kAwaitRequest, once the body is read) checks and counts every limit —
// request windows, the in-flight cap and the token reservation — in one round trip, and a second
// script, sent at finish without waiting, gives the slot back and settles the tokens
// (redis_script.h). A request window Redis refused is remembered on this data plane until it
// would admit again, so a client hammering a spent key costs Redis nothing (kOnKey). While
// Redis cannot be reached, a key fails open (counted in memory, as without Redis) or closed
// (503), as its redis_down says.
//
// Every answer to a limited key, fwd's own and relayed ones, carries OpenAI's
// x-ratelimit-{limit,remaining,reset}-requests for its tightest request window and
// -tokens for its tightest token window, replacing the upstream's, which describe fwd's own
// account rather than the client's.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dataplane/policy/policy.h"
#include "dataplane/ratelimit/key_limiter.h"
#include "dataplane/usage/prices.h"
#include "dataplane/usage/usage.h"

namespace fwd::dataplane::proxy {
struct WorkerContext;
}

namespace fwd::dataplane::ratelimit {

/// Wall-clock milliseconds; injectable for tests.
using NowFn = std::function<Millis()>;
Millis systemNow();

/// "20ms", "1s", "59.5s", "6m0s", "1h0m0s": the duration format of OpenAI's x-ratelimit-reset-*.
std::string resetText(Millis ms);

/// The x-ratelimit-*-requests fields of `v` ("name: value\r\n" each); empty when v.limit is 0.
std::string requestFields(const Verdict& v);
/// The x-ratelimit-*-tokens fields of `v`; empty when v.limit is 0.
std::string tokenFields(const TokenVerdict& v);

/// True for the paths whose answers report token usage: chat and text completions, embeddings.
bool countsTokens(std::string_view path);

/// Whose limits a request is counted against, as refusals name it: the key's own, or those of
/// the route it matched (counted per key on the route, or shared by every key).
struct Owner {
  std::string_view route;  // empty: the key's own limits
  bool shared = false;
  /// "this API key", "this API key on route \"chat\"", "route \"chat\" (all keys together)".
  std::string text() const;
};

/// What a request ended with, as a limit settles it.
struct Ended {
  int status = 0;
  const usage::Usage* usage = nullptr;  // what the answer reported (or nullptr)
  bool stream = false;
  std::string_view model;        // the model the upstream was sent: what is priced
  std::string_view model_label;  // the metrics label of the model asked for
  proxy::WorkerContext* worker = nullptr;
};

class RequestLimits final : public policy::Policy {
 public:
  /// `usage`: some key or route has token windows or budgets (the hooks that read usage are on
  /// the chain only then). `redis`: counted in Redis (the worker's connection,
  /// WorkerContext::redis). `prices` cost what requests used for money budgets. `routes`: some
  /// route has limits (config::CompiledRoute::limiterFor), checked once the body is read.
  explicit RequestLimits(bool usage, bool redis = false,
                         std::shared_ptr<const usage::PriceTable> prices = nullptr,
                         bool routes = false, NowFn now = systemNow)
      : tokens_(usage),
        redis_(redis),
        routes_(routes),
        prices_(prices ? std::move(prices) : std::make_shared<const usage::PriceTable>()),
        now_(std::move(now)) {}

  std::string_view name() const override { return "limits"; }
  unsigned hooks() const override {
    unsigned token_hooks = tokens_ ? policy::kOnAttempt | policy::kOnAnswer : 0u;
    if (redis_) {
      return policy::kOnKey | policy::kAwaitRequest | policy::kOnComplete | policy::kOnFinish |
             token_hooks;
    }
    return policy::kOnKey | policy::kOnComplete | policy::kOnFinish | token_hooks |
           (tokens_ || routes_ ? policy::kOnRequest : 0u);
  }
  std::optional<proxy::ApiError> onKey(pipeline::RequestContext& ctx,
                                       policy::WorkerSlot* slot) const override;
  std::optional<proxy::ApiError> onRequest(pipeline::RequestContext& ctx,
                                           policy::WorkerSlot* slot) const override;
  proxy::Task<std::optional<proxy::ApiError>> awaitRequest(pipeline::RequestContext& ctx,
                                                           policy::WorkerSlot* slot) const override;
  void onAttempt(const pipeline::RequestContext& ctx, const config::UpstreamTarget& upstream,
                 rewrite::BodyEdits& edits, policy::WorkerSlot* slot) const override;
  bool wantsAnswer(const pipeline::RequestContext& ctx, policy::WorkerSlot* slot) const override;
  bool onAnswer(pipeline::RequestContext& ctx, policy::AnswerPart& part,
                policy::WorkerSlot* slot) const override;
  /// Gives back what the request took (its in-flight slot; the token reservation, replaced by
  /// the usage) before the client has the answer's end; onFinish does it for a request whose
  /// answer was cut short.
  void onComplete(pipeline::RequestContext& ctx, int status,
                  policy::WorkerSlot* slot) const override;
  void onFinish(const pipeline::RequestOutcome& outcome, policy::WorkerSlot* slot) const override;

 private:
  // Gives back the request's slot, settles its token reservation with what it used and charges
  // its budgets.
  void settle(const Admission& a, const Ended& e) const;
  // Counts the request in Redis against `limiter` (the key's, or a route's as `who` says),
  // noting in `a` what it took; one round trip.
  proxy::Task<std::optional<proxy::ApiError>> admitInRedis(pipeline::RequestContext& ctx,
                                                           const KeyLimiter* limiter, Admission* a,
                                                           Owner who) const;

  bool tokens_;
  bool redis_;
  bool routes_;
  std::shared_ptr<const usage::PriceTable> prices_;
  NowFn now_;
};

}  // namespace fwd::dataplane::ratelimit
