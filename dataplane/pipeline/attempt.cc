#include "dataplane/pipeline/attempt.h"

#include <boost/asio/this_coro.hpp>

#include "common/config/duration.h"
#include "common/log/log.h"
#include "dataplane/pipeline/attempt_result.h"
#include "dataplane/pipeline/exchange.h"
#include "dataplane/pipeline/finish.h"
#include "dataplane/pipeline/plan.h"
#include "dataplane/pipeline/respond.h"
#include "dataplane/pipeline/upstream_io.h"

namespace fwd::dataplane::pipeline {
namespace {

namespace asio = boost::asio;

bool retryAllowedOn(const config::CompiledRoute::Retry& policy, Failure f) {
  switch (f) {
    case Failure::kConnect:
      return policy.on_connect;
    case Failure::kTimeout:
      return policy.on_timeout;
    case Failure::kReset:
    case Failure::k5xx:
      return policy.on_5xx;
    case Failure::k429:
      return policy.on_429;
    case Failure::kNone:
    case Failure::kMidStream:
      return false;
  }
  return false;
}

// Envoy's retry budget, per worker: retries in flight may be at most 20% of the requests in
// flight, but at least 3.
bool retryBudgetAllows(const WorkerContext& w) {
  std::int64_t in_flight = w.in_flight.value();
  std::int64_t budget = std::max<std::int64_t>(w.options.retry_budget_min,
                                               in_flight * w.options.retry_budget_percent / 100);
  return w.retries_in_flight < budget;
}

// Feeds outlier ejection: a connect/TLS error, timeout, reset, 5xx or broken stream counts
// against the upstream; any answer below 500 ends its failure streak. A client that hung up
// says nothing about the upstream.
void recordOutcome(WorkerContext& w, const config::UpstreamTarget& t, const Attempt& a) {
  if (a.failure == Failure::kNone) {
    if (a.responded && a.status < 500) {
      t.health->recordSuccess();
    }
    return;
  }
  w.metrics.upstream_failures.cell(w.index, {t.name, a.outcome}).add();
  if (a.failure == Failure::k429) {
    return;  // rate limiting is what cooling (Retry-After) is for, not a sign of a broken upstream
  }
  if (t.health->recordFailure(Clock::now(), t.outlier)) {
    w.metrics.upstream_ejections.cell(w.index, {t.name}).add();
    auto left = t.health->ejectionLeft(Clock::now());
    FWD_LOG(kWarn, "dataplane") << "upstream " << t.name << " ejected for "
                                << common::config::formatDuration(
                                       std::chrono::duration_cast<std::chrono::milliseconds>(left))
                                << " after " << t.outlier.consecutive_failures
                                << " consecutive failures; last: " << a.detail;
  }
}

// What the attempts came to when no upstream's response was relayed.
struct Tally {
  Attempt last;
  size_t tried = 0;
  bool budget_spent = false;
  std::optional<Clock::duration> shortest_cooling;
};

// fwd's answer when no upstream answered.
ApiError noAnswer(const RequestContext& ctx, const Tally& tally) {
  if (tally.tried == 0 && tally.shortest_cooling) {
    auto seconds = std::chrono::ceil<std::chrono::seconds>(*tally.shortest_cooling).count();
    return ApiError{429,
                    "rate_limit_error",
                    "upstreams_cooling",
                    "Every upstream for model `" + ctx.model +
                        "` is rate-limited right now; retry after " + std::to_string(seconds) +
                        "s.",
                    "",
                    static_cast<int>(std::max<std::int64_t>(1, seconds))};
  }
  const Attempt& last = tally.last;
  std::string message = tally.tried == 1
                            ? last.detail
                            : "all " + std::to_string(tally.tried) +
                                  " upstream attempts failed; last error: " + last.detail;
  if (tally.budget_spent) {
    message += " (no retry: the retry budget is spent)";
  }
  if (last.failure == Failure::kTimeout) {
    return ApiError{504, "api_error", "upstream_timeout", std::move(message), ""};
  }
  return ApiError{502, "api_error", "upstream_error", std::move(message), ""};
}

// Without a retry policy each upstream of the group is tried once (plain failover); with one,
// `retries` more attempts go round the group, next upstream first. Returns the attempt whose
// response went to the client (responded or client gone), or nullopt when none did.
Task<std::optional<Attempt>> tryCandidates(RequestContext& ctx, const Plan& plan, Tally& tally) {
  WorkerContext& w = ctx.w;
  static const config::CompiledRoute::Retry kFailover{};
  const auto& policy = plan.route != nullptr ? plan.route->retry : kFailover;
  const auto& candidates = plan.candidates;
  size_t attempts = policy.explicit_policy ? 1 + policy.retries : candidates.size();
  for (size_t k = 0; k < attempts; ++k) {
    const config::UpstreamTarget* t = candidates[k % candidates.size()];
    bool is_retry = tally.tried > 0;
    if (is_retry) {
      if (!retryAllowedOn(policy, tally.last.failure)) {
        break;
      }
      // The retry budget bounds retries that add load to upstreams (a connect error sent
      // nothing), so an outage is not multiplied by the retry count.
      if (tally.last.reached && !retryBudgetAllows(w)) {
        w.metrics.retry_budget_exhausted.cell(w.index, {ctx.route_name}).add();
        tally.budget_spent = true;
        break;
      }
      // A retry holds its budget slot from its backoff to the end of its attempt.
      ++w.retries_in_flight;
      if (k >= candidates.size()) {
        // Every upstream of the group was tried already: back off before going round again.
        co_await sleepUntil(Clock::now() + w.balancer.backoff(policy, k / candidates.size()));
      }
      ctx.pinned->metrics.upstreamRetries(t->index, t->name).add();
    }
    AttemptPlan attempt_plan;
    attempt_plan.timeouts = plan.route != nullptr ? &plan.route->timeoutsFor(*t) : &t->timeouts;
    attempt_plan.fail_on_429 = policy.on_429 && policy.explicit_policy && k + 1 < attempts;
    // Also what least-busy and latency read as the upstream's attempts in flight.
    auto& upstream_in_flight = ctx.pinned->metrics.upstreamInFlight(t->index, t->name);
    prepareBody(ctx, plan.upstream_model, *t);
    ctx.upstream = t;
    upstream_in_flight.add(1);
    auto attempt_start = Clock::now();
    Attempt a = co_await attemptUpstream(ctx, *t, attempt_plan);
    ctx.upstream_time += Clock::now() - attempt_start;
    upstream_in_flight.add(-1);
    w.retries_in_flight -= is_retry ? 1 : 0;
    if (a.head_seconds >= 0) {
      w.balancer.recordHeadLatency(t->name, a.head_seconds);
    } else if (a.failure == Failure::kTimeout) {
      w.balancer.recordHeadLatency(
          t->name, static_cast<double>(attempt_plan.timeouts->total.count()) / 1000.0);
    }
    ctx.pinned->metrics.upstreamAttempts(t->index, t->name, a.outcome).add();
    recordOutcome(w, *t, a);
    ++ctx.attempts;
    ++tally.tried;
    if (a.responded || !a.client_alive) {
      co_return a;
    }
    FWD_LOG(kDebug, "dataplane") << "upstream attempt failed: " << a.detail;
    ctx.failed_attempts.push_back({t, a.outcome, a.status});
    tally.last = std::move(a);
  }
  co_return std::nullopt;
}

}  // namespace

Task<bool> forward(RequestContext& ctx) {
  // The requested model first; when every upstream for a model failed, the matched route's
  // fallback models, each routed like a request for it.
  routing::ModelList models{ctx.model};
  Tally tally;
  for (size_t i = 0; i < models.size() && i < routing::kMaxModelsPerRequest && !tally.budget_spent;
       ++i) {
    Plan plan = planModel(ctx, models[i], models);
    if (i == 0 && plan.routed) {
      ctx.model_label = modelLabel(ctx.w, ctx.model);
    }
    if (plan.cooling && (!tally.shortest_cooling || *plan.cooling < *tally.shortest_cooling)) {
      tally.shortest_cooling = plan.cooling;
    }
    if (plan.candidates.empty()) {
      if (i == 0 && !plan.routed) {
        ApiError e = proxy::invalidRequest(
            404, "The model `" + ctx.model + "` does not exist or you do not have access to it.",
            "model_not_found", "model");
        co_return co_await respondError(ctx, e);
      }
      continue;  // every upstream is cooling, or a fallback nobody serves
    }
    std::optional<Attempt> answered = co_await tryCandidates(ctx, plan, tally);
    if (answered) {
      ctx.status = answered->failure == Failure::kMidStream ? 502 : answered->status;
      if (answered->failure != Failure::kNone) {
        ctx.error_code = answered->outcome;
      }
      co_return answered->client_alive&& ctx.keep_alive;
    }
  }
  ApiError e = noAnswer(ctx, tally);
  co_return co_await respondError(ctx, e);
}

}  // namespace fwd::dataplane::pipeline
