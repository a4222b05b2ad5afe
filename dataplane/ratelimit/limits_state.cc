#include "dataplane/ratelimit/limits_state.h"

#include <google/protobuf/util/time_util.h>

#include <charconv>

#include "dataplane/ratelimit/redis_script.h"

namespace fwd::dataplane::ratelimit {
namespace {

void setDuration(google::protobuf::Duration* d, Millis ms) {
  *d = google::protobuf::util::TimeUtil::MillisecondsToDuration(ms);
}

void addWindow(google::protobuf::RepeatedPtrField<fwd::v1::WindowState>* to, std::uint64_t limit,
               Millis window, const WindowPeek& peek, Scope scope) {
  fwd::v1::WindowState* w = to->Add();
  w->set_limit(limit);
  setDuration(w->mutable_window(), window);
  w->set_used(peek.used);
  w->set_remaining(peek.remaining);
  setDuration(w->mutable_reset(), peek.reset);
  w->set_scope(std::string(scopeName(scope)));
}

/// `spent` and `unpriced` in the budget's counter units (nano-USD for money).
void addBudget(fwd::v1::KeyLimitsState& out, const BudgetLimit& b, std::uint64_t spent,
               std::uint64_t unpriced, Millis now) {
  fwd::v1::BudgetState* s = out.add_budgets();
  s->set_kind(b.money ? "usd" : "tokens");
  s->set_period(static_cast<fwd::v1::BudgetPeriod>(b.period));
  // Money is counted in nano-USD and shown in micro-USD, as budgets are set; spent rounds up.
  std::uint64_t limit = b.money ? b.limit / 1000 : b.limit;
  std::uint64_t used = b.money ? spent / 1000 + (spent % 1000 != 0 ? 1 : 0) : spent;
  s->set_limit(limit);
  s->set_spent(used);
  s->set_left(used < limit ? limit - used : 0);
  s->set_unpriced_tokens(unpriced);
  if (std::int64_t end = common::config::budgetPeriodEnd(b.period, now); end >= 0) {
    setDuration(s->mutable_reset(), end - now);
  }
  s->set_scope(std::string(scopeName(b.scope)));
}

/// What the state says whatever the counts.
fwd::v1::KeyLimitsState frame(const KeyLimiter* limiter, Millis now, std::string source) {
  fwd::v1::KeyLimitsState out;
  out.set_source(std::move(source));
  *out.mutable_read_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(now);
  if (limiter == nullptr) {
    out.set_unlimited(true);
    return out;
  }
  if (limiter->limitsRate()) {
    out.set_rate_strategy(static_cast<fwd::v1::RateStrategy>(limiter->strategy()));
  }
  out.set_max_parallel(limiter->maxParallel());
  return out;
}

}  // namespace

fwd::v1::KeyLimitsState memoryState(const KeyLimiter* limiter, Millis now) {
  fwd::v1::KeyLimitsState out = frame(limiter, now, "memory");
  if (limiter == nullptr) {
    return out;
  }
  for (const KeyLimiter::Rate& r : limiter->rates()) {
    addWindow(out.mutable_requests(), r.count, r.window,
              r.counter->peek(limiter->strategy(), r.count, r.window, now), limiter->rateScope());
  }
  for (const KeyLimiter::Tokens& t : limiter->tokenWindows()) {
    addWindow(out.mutable_tokens(), t.count, t.window, t.counter->peek(t.count, t.window, now),
              limiter->tokensScope());
  }
  out.set_in_flight(limiter->inFlight());
  for (const BudgetLimit& b : limiter->budgets()) {
    std::int64_t period = common::config::budgetPeriodIndex(b.period, now);
    addBudget(out, b, b.spent->spent(period), b.unpriced ? b.unpriced->spent(period) : 0, now);
  }
  return out;
}

std::vector<std::string> peekCommand(const KeyLimiter& limiter) {
  std::vector<std::string> args = {"EVAL", peekScript(), "1", limiter.redisPrefix()};
  limiter.appendAdmitArgs(args, true, true, 0);
  return args;
}

bool redisState(const KeyLimiter& limiter, std::string_view reply, fwd::v1::KeyLimitsState& out) {
  std::vector<std::int64_t> v;
  const char* p = reply.data();
  const char* end = p + reply.size();
  while (p != end) {
    if (!v.empty()) {
      if (*p != ' ') {
        return false;
      }
      ++p;
    }
    std::int64_t n = 0;
    auto [next, ec] = std::from_chars(p, end, n);
    if (ec != std::errc() || n < 0) {
      return false;
    }
    v.push_back(n);
    p = next;
  }
  const size_t expected = 1 + 3 * limiter.rates().size() + 2 * limiter.tokenWindows().size() + 1 +
                          2 * limiter.budgets().size();
  if (v.size() != expected) {
    return false;
  }
  size_t i = 0;
  const Millis now = v[i++];
  out = frame(&limiter, now, "redis");
  auto u = [&] { return static_cast<std::uint64_t>(v[i++]); };
  for (const KeyLimiter::Rate& r : limiter.rates()) {
    WindowPeek peek;
    peek.used = u();
    peek.remaining = u();
    peek.reset = v[i++];
    addWindow(out.mutable_requests(), r.count, r.window, peek, limiter.rateScope());
  }
  for (const KeyLimiter::Tokens& t : limiter.tokenWindows()) {
    WindowPeek peek;
    peek.used = u();
    peek.remaining = peek.used < t.count ? t.count - peek.used : 0;
    peek.reset = v[i++];
    addWindow(out.mutable_tokens(), t.count, t.window, peek, limiter.tokensScope());
  }
  out.set_in_flight(v[i++]);
  for (const BudgetLimit& b : limiter.budgets()) {
    std::uint64_t spent = u();
    std::uint64_t unpriced = u();
    addBudget(out, b, spent, unpriced, now);
  }
  return true;
}

}  // namespace fwd::dataplane::ratelimit
