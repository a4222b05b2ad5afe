// Limits on the request path: once the key is known (kOnKey), its KeyLimiter admits the
// request or refuses it with a 429 before anything is read or sent upstream: rate_limit_exceeded
// with Retry-After, counted in fwd_limited_requests_total{reason, scope}. Every answer to a key
// with a request rate, fwd's own and relayed ones, carries OpenAI's x-ratelimit-limit-requests,
// x-ratelimit-remaining-requests and x-ratelimit-reset-requests for the key's tightest window
// (replacing the upstream's, which describe fwd's own account, not the client's). At finish
// (kOnFinish) the request's parallel slot is given back.
#pragma once

#include <functional>
#include <string>

#include "dataplane/policy/policy.h"
#include "dataplane/ratelimit/key_limiter.h"

namespace fwd::dataplane::ratelimit {

/// Wall-clock milliseconds; injectable for tests.
using NowFn = std::function<Millis()>;
Millis systemNow();

/// "20ms", "1s", "59.5s", "6m0s", "1h0m0s": the duration format of OpenAI's x-ratelimit-reset-*.
std::string resetText(Millis ms);

/// The x-ratelimit-*-requests fields of `v` ("name: value\r\n" each); empty when v.limit is 0.
std::string requestFields(const Verdict& v);

class RequestLimits final : public policy::Policy {
 public:
  explicit RequestLimits(NowFn now = systemNow) : now_(std::move(now)) {}

  std::string_view name() const override { return "limits"; }
  unsigned hooks() const override { return policy::kOnKey | policy::kOnFinish; }
  std::optional<proxy::ApiError> onKey(pipeline::RequestContext& ctx,
                                       policy::WorkerSlot* slot) const override;
  void onFinish(const pipeline::RequestOutcome& outcome, policy::WorkerSlot* slot) const override;

 private:
  NowFn now_;
};

}  // namespace fwd::dataplane::ratelimit
