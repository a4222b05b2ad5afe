#include "dataplane/ratelimit/limit_policy.h"

#include <chrono>

#include "common/config/rate.h"
#include "dataplane/pipeline/finish.h"
#include "dataplane/proxy/upstream_head.h"

namespace fwd::dataplane::ratelimit {

Millis systemNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string resetText(Millis ms) {
  if (ms < 1000) {
    return std::to_string(std::max<Millis>(ms, 0)) + "ms";
  }
  std::string out;
  Millis hours = ms / 3'600'000;
  Millis minutes = ms / 60'000 % 60;
  Millis seconds = ms / 1000 % 60;
  Millis millis = ms % 1000;
  if (hours > 0) {
    out += std::to_string(hours) + "h";
  }
  if (hours > 0 || minutes > 0) {
    out += std::to_string(minutes) + "m";
  }
  out += std::to_string(seconds);
  if (millis > 0) {
    std::string frac = std::to_string(1000 + millis).substr(1);
    while (frac.back() == '0') {
      frac.pop_back();
    }
    out += "." + frac;
  }
  return out + "s";
}

std::string requestFields(const Verdict& v) {
  std::string out;
  if (v.limit == 0) {
    return out;
  }
  proxy::appendField(out, "x-ratelimit-limit-requests", std::to_string(v.limit));
  proxy::appendField(out, "x-ratelimit-remaining-requests", std::to_string(v.remaining));
  proxy::appendField(out, "x-ratelimit-reset-requests", resetText(v.reset));
  return out;
}

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
                                   common::config::formatRates(
                                       {{v.limit, std::chrono::seconds(v.window / 1000)}}) +
                                   ". Retry in " + resetText(v.retry) + ".",
                    ""};
  e.retry_after_seconds = static_cast<int>(std::max<Millis>(1, (v.retry + 999) / 1000));
  return e;
}

void RequestLimits::onFinish(const pipeline::RequestOutcome& outcome, policy::WorkerSlot*) const {
  if (outcome.limits != nullptr && outcome.limits->parallel != nullptr) {
    outcome.limits->parallel->release();
  }
}

}  // namespace fwd::dataplane::ratelimit
