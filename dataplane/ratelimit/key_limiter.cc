#include "dataplane/ratelimit/key_limiter.h"

#include <algorithm>
#include <charconv>

#include "dataplane/ratelimit/redis_script.h"
#include "dataplane/redis/redis_client.h"

namespace fwd::dataplane::ratelimit {

std::string_view scopeName(Scope scope) {
  switch (scope) {
    case Scope::kKey:
      return "key";
    case Scope::kDefault:
      return "default";
    case Scope::kRoute:
      return "route";
  }
  return "key";
}

namespace {

// The counter `id` names in `by_id`, made (zero) the first time.
template <typename T>
std::shared_ptr<T> getOrMake(std::mutex& mu, std::map<std::string, std::shared_ptr<T>>& by_id,
                             const std::string& id) {
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = by_id[id];
  if (!slot) {
    slot = std::make_shared<T>();
  }
  return slot;
}

}  // namespace

std::shared_ptr<WindowCounter> CounterRegistry::window(const std::string& id) {
  return getOrMake(mu_, windows_, id);
}

std::shared_ptr<TokenWindow> CounterRegistry::tokens(const std::string& id) {
  return getOrMake(mu_, tokens_, id);
}

std::shared_ptr<std::atomic<std::int64_t>> CounterRegistry::gauge(const std::string& id) {
  return getOrMake(mu_, gauges_, id);
}

std::shared_ptr<BudgetCounter> CounterRegistry::budget(const std::string& id) {
  return getOrMake(mu_, budgets_, id);
}

void CounterRegistry::prune() {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(windows_, [](const auto& entry) { return entry.second.use_count() == 1; });
  std::erase_if(gauges_, [](const auto& entry) { return entry.second.use_count() == 1; });
  std::erase_if(tokens_, [](const auto& entry) { return entry.second.use_count() == 1; });
  std::erase_if(budgets_, [](const auto& entry) { return entry.second.use_count() == 1; });
}

std::shared_ptr<const KeyLimiter> KeyLimiter::compile(std::uint64_t key_id,
                                                      const fwd::v1::Limits& key,
                                                      const fwd::v1::Limits& defaults,
                                                      CounterRegistry& counters) {
  std::string redis_prefix = "fwd:{k";
  redis_prefix += std::to_string(key_id);
  redis_prefix += '}';
  return compile("key/" + std::to_string(key_id) + "/", redis_prefix, key, defaults, counters);
}

std::shared_ptr<const KeyLimiter> KeyLimiter::compile(const std::string& prefix,
                                                      const std::string& redis_prefix,
                                                      const fwd::v1::Limits& key,
                                                      const fwd::v1::Limits& defaults,
                                                      CounterRegistry& counters, Scope scope) {
  auto limiter = std::make_shared<KeyLimiter>();
  const fwd::v1::Limits& rates = key.rate_size() > 0 ? key : defaults;
  limiter->rate_scope_ = key.rate_size() > 0 ? Scope::kKey : Scope::kDefault;
  fwd::v1::RateStrategy strategy = key.rate_strategy() != fwd::v1::RATE_STRATEGY_UNSPECIFIED
                                       ? key.rate_strategy()
                                       : defaults.rate_strategy();
  if (strategy != fwd::v1::RATE_STRATEGY_UNSPECIFIED) {
    limiter->strategy_ = static_cast<RateStrategy>(strategy);
  }
  for (const fwd::v1::RateWindow& w : rates.rate()) {
    Millis window = static_cast<Millis>(w.seconds()) * 1000;
    // A window of another strategy counts differently: it starts again.
    std::string id = prefix + "rate/" + std::to_string(window) + "/" +
                     std::string(common::config::rateStrategyName(limiter->strategy_));
    limiter->rates_.push_back({w.count(), window, counters.window(id)});
  }
  std::sort(limiter->rates_.begin(), limiter->rates_.end(),
            [](const Rate& a, const Rate& b) { return a.window < b.window; });
  bool own_tokens = key.tokens_size() > 0 || key.tpm() > 0;
  const fwd::v1::Limits& tokens = own_tokens ? key : defaults;
  limiter->tokens_scope_ = own_tokens ? Scope::kKey : Scope::kDefault;
  auto addTokens = [&](std::uint64_t count, std::uint32_t seconds) {
    Millis window = static_cast<Millis>(seconds) * 1000;
    for (Tokens& t : limiter->tokens_) {
      if (t.window == window) {  // default_tpm next to a one-minute default_tokens: the tighter
        t.count = std::min(t.count, count);
        return;
      }
    }
    if (limiter->tokens_.size() == kMaxTokenWindows) {
      return;  // validation allows no more
    }
    limiter->tokens_.push_back(
        {count, window, counters.tokens(prefix + "tokens/" + std::to_string(window))});
  };
  if (tokens.tpm() > 0) {
    addTokens(tokens.tpm(), 60);
  }
  for (const fwd::v1::RateWindow& w : tokens.tokens()) {
    addTokens(w.count(), w.seconds());
  }
  std::sort(limiter->tokens_.begin(), limiter->tokens_.end(),
            [](const Tokens& a, const Tokens& b) { return a.window < b.window; });
  limiter->max_parallel_ = key.max_parallel() > 0 ? key.max_parallel() : defaults.max_parallel();
  limiter->parallel_scope_ = key.max_parallel() > 0 ? Scope::kKey : Scope::kDefault;
  if (limiter->max_parallel_ > 0) {
    limiter->in_flight_ = counters.gauge(prefix + "in_flight");
  }
  for (bool money : {true, false}) {
    const auto& own = money ? key.budget_usd() : key.budget_tokens();
    const auto& budgets =
        own.empty() ? (money ? defaults.budget_usd() : defaults.budget_tokens()) : own;
    for (const fwd::v1::Budget& b : budgets) {
      BudgetLimit limit;
      limit.money = money;
      // Money budgets are set in micro-USD and counted in nano-USD.
      limit.limit = money ? b.amount() * 1000 : b.amount();
      limit.period = static_cast<common::config::BudgetPeriod>(b.period());
      limit.scope = own.empty() ? Scope::kDefault : Scope::kKey;
      std::string id = prefix + (money ? "budget/usd/" : "budget/tokens/") +
                       std::string(common::config::budgetPeriodName(limit.period));
      limit.spent = counters.budget(id);
      if (money) {
        limit.unpriced = counters.budget(id + "/unpriced");
      }
      limiter->budgets_.push_back(std::move(limit));
    }
  }
  const fwd::v1::Limits& pace = key.has_stream_pace() ? key : defaults;
  if (pace.has_stream_pace() && pace.stream_pace().count() > 0) {
    limiter->pace_ns_ = static_cast<std::int64_t>(pace.stream_pace().seconds()) * 1'000'000'000 /
                        static_cast<std::int64_t>(pace.stream_pace().count());
  }
  if (limiter->rates_.empty() && limiter->tokens_.empty() && limiter->max_parallel_ == 0 &&
      limiter->budgets_.empty() && limiter->pace_ns_ == 0) {
    return nullptr;
  }
  limiter->redis_prefix_ = redis_prefix;
  fwd::v1::RedisDown down = key.redis_down() != fwd::v1::REDIS_DOWN_UNSPECIFIED
                                ? key.redis_down()
                                : defaults.redis_down();
  limiter->fail_closed_ = down == fwd::v1::REDIS_DOWN_FAIL_CLOSED;
  std::vector<std::string> args = {"EVALSHA", admitScriptSha(), "1", limiter->redis_prefix_};
  limiter->appendAdmitArgs(args, false, true, 0);
  limiter->admit_command_ = redis::formatCommand(args);
  args.resize(4);
  limiter->appendAdmitArgs(args, false, false, 0);
  limiter->admit_no_budgets_command_ = redis::formatCommand(args);
  args.resize(4);
  limiter->appendAdmitArgs(args, true, true, 0);
  args.resize(args.size() - 2);  // the amount and the cap go last, per request
  limiter->admit_tokens_head_ = '*';
  limiter->admit_tokens_head_ += std::to_string(args.size() + 2);
  limiter->admit_tokens_head_ += "\r\n";
  for (const std::string& a : args) {
    redis::appendCommandArg(limiter->admit_tokens_head_, a);
  }
  limiter->redis_down_scope_ =
      key.redis_down() != fwd::v1::REDIS_DOWN_UNSPECIFIED ? Scope::kKey : Scope::kDefault;
  if (scope == Scope::kRoute) {
    limiter->rate_scope_ = limiter->tokens_scope_ = limiter->parallel_scope_ = Scope::kRoute;
  }
  return limiter;
}

Verdict KeyLimiter::admit(Millis now) const {
  Verdict v;
  if (max_parallel_ > 0) {
    if (in_flight_->fetch_add(1, std::memory_order_acq_rel) >= max_parallel_) {
      in_flight_->fetch_sub(1, std::memory_order_acq_rel);
      v.refused = Verdict::Refusal::kParallel;
      v.scope = parallel_scope_;
      v.retry = 1000;
      return v;
    }
  }
  // Each window in turn; a refusal takes back the hits already counted.
  WindowResult results[8];
  size_t n = std::min<size_t>(rates_.size(), std::size(results));
  bool reported = false;
  for (size_t i = 0; i < n; ++i) {
    const Rate& rate = rates_[i];
    results[i] = rate.counter->hit(strategy_, rate.count, rate.window, now);
    const WindowResult& r = results[i];
    if (!r.admitted) {
      for (size_t j = 0; j < i; ++j) {
        rates_[j].counter->undo(strategy_, rates_[j].window, results[j], now);
      }
      if (max_parallel_ > 0) {
        in_flight_->fetch_sub(1, std::memory_order_acq_rel);
      }
      v.refused = Verdict::Refusal::kRate;
      v.scope = rate_scope_;
      v.limit = rate.count;
      v.window = rate.window;
      v.remaining = 0;
      v.reset = r.reset;
      v.retry = r.retry;
      return v;
    }
    if (!reported || r.remaining < v.remaining) {
      reported = true;
      v.limit = rate.count;
      v.window = rate.window;
      v.remaining = r.remaining;
      v.reset = r.reset;
    }
  }
  return v;
}

TokenVerdict KeyLimiter::reserve(Millis now, std::uint64_t amount, TokenTags& tags) const {
  TokenVerdict v;
  bool reported = false;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const Tokens& t = tokens_[i];
    TokenWindow::Taken taken = t.counter->take(t.count, t.window, now, amount);
    if (!taken.admitted) {
      for (size_t j = 0; j < i; ++j) {
        tokens_[j].counter->settle(tokens_[j].window, tags[j], amount, 0, now);
      }
      v.refused = true;
      v.too_large = taken.too_large;
      v.scope = tokens_scope_;
      v.limit = t.count;
      v.window = t.window;
      v.remaining = taken.remaining;
      v.reset = taken.reset;
      v.needed = amount;
      return v;
    }
    tags[i] = taken.tag;
    if (!reported || taken.remaining < v.remaining) {
      reported = true;
      v.limit = t.count;
      v.window = t.window;
      v.remaining = taken.remaining;
      v.reset = taken.reset;
    }
  }
  return v;
}

void KeyLimiter::settle(const TokenTags& tags, std::uint64_t reserved, std::uint64_t used,
                        Millis now) const {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    tokens_[i].counter->settle(tokens_[i].window, tags[i], reserved, used, now);
  }
}

BudgetVerdict KeyLimiter::checkBudgets(Millis now) const {
  BudgetVerdict v;
  for (const BudgetLimit& b : budgets_) {
    std::uint64_t spent = b.spent->spent(common::config::budgetPeriodIndex(b.period, now));
    if (spent >= b.limit) {
      v.spent_budget = &b;
      v.spent = spent;
      std::int64_t end = common::config::budgetPeriodEnd(b.period, now);
      v.reset = end < 0 ? -1 : end - now;
      return v;
    }
  }
  return v;
}

void KeyLimiter::spend(Millis now, const Spend& s) const {
  for (const BudgetLimit& b : budgets_) {
    std::int64_t period = common::config::budgetPeriodIndex(b.period, now);
    if (!b.money) {
      b.spent->add(period, s.tokens);
    } else if (s.priced) {
      b.spent->add(period, s.nano_usd);
    } else {
      b.unpriced->add(period, s.tokens);
    }
  }
}

void KeyLimiter::appendSpendArgs(std::vector<std::string>& args, const Spend& s) const {
  args.push_back(std::to_string(budgets_.size()));
  for (const BudgetLimit& b : budgets_) {
    // Kinds: 1 nano-USD, 2 tokens, 3 a money budget's unpriced tokens (redis_script.h).
    int kind = !b.money ? 2 : s.priced ? 1 : 3;
    args.push_back(std::to_string(kind));
    args.push_back(std::to_string(static_cast<int>(b.period)));
    args.push_back(std::to_string(kind == 1 ? s.nano_usd : s.tokens));
  }
}

void KeyLimiter::appendAdmitArgs(std::vector<std::string>& args, bool with_tokens,
                                 bool with_budgets, std::uint64_t amount) const {
  args.push_back(std::to_string(rates_.size()));
  for (const Rate& r : rates_) {
    args.push_back(std::to_string(r.count));
    args.push_back(std::to_string(r.window));
    args.push_back(std::to_string(static_cast<int>(strategy_)));
  }
  if (with_tokens) {
    args.push_back(std::to_string(tokens_.size()));
    for (const Tokens& t : tokens_) {
      args.push_back(std::to_string(t.count));
      args.push_back(std::to_string(t.window));
    }
  } else {
    args.push_back("0");
  }
  if (with_budgets) {
    args.push_back(std::to_string(budgets_.size()));
    for (const BudgetLimit& b : budgets_) {
      args.push_back(b.money ? "1" : "2");
      args.push_back(std::to_string(static_cast<int>(b.period)));
      args.push_back(std::to_string(b.limit));
    }
  } else {
    args.push_back("0");
  }
  args.push_back(std::to_string(with_tokens ? amount : 0));
  args.push_back(std::to_string(max_parallel_));
}

std::string_view KeyLimiter::admitCommand(bool with_tokens, bool with_budgets, std::uint64_t amount,
                                          std::string& out) const {
  if (!with_tokens) {
    return with_budgets ? admit_command_ : admit_no_budgets_command_;
  }
  out = admit_tokens_head_;
  char digits[24];
  redis::appendCommandArg(
      out,
      std::string_view(digits, std::to_chars(digits, digits + sizeof digits, amount).ptr - digits));
  redis::appendCommandArg(
      out, std::string_view(
               digits, std::to_chars(digits, digits + sizeof digits, max_parallel_).ptr - digits));
  return out;
}

void KeyLimiter::appendTokenWindows(std::vector<std::string>& args) const {
  args.push_back(std::to_string(tokens_.size()));
  for (const Tokens& t : tokens_) {
    args.push_back(std::to_string(t.window));
  }
}

void KeyLimiter::noteRefusedUntil(Millis until, std::uint64_t limit, Millis window) const {
  if (strategy_ == RateStrategy::kFixedWindowElasticExpiry) {
    return;
  }
  for (size_t i = 0; i < rates_.size(); ++i) {
    if (rates_[i].count == limit && rates_[i].window == window) {
      refused_until_.store(static_cast<std::uint64_t>(until) << 8 | i, std::memory_order_relaxed);
      return;
    }
  }
}

bool KeyLimiter::refusedUntil(Millis now, Verdict& v) const {
  std::uint64_t noted = refused_until_.load(std::memory_order_relaxed);
  auto until = static_cast<Millis>(noted >> 8);
  size_t i = noted & 0xff;
  if (noted == 0 || now >= until || i >= rates_.size()) {
    return false;
  }
  v.refused = Verdict::Refusal::kRate;
  v.scope = rate_scope_;
  v.limit = rates_[i].count;
  v.window = rates_[i].window;
  v.remaining = 0;
  v.reset = until - now;
  v.retry = until - now;
  return true;
}

void KeyLimiter::release() const {
  if (in_flight_) {
    in_flight_->fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace fwd::dataplane::ratelimit
