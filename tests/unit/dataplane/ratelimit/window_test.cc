// The request-rate windows with an injected clock: how many each strategy admits, when it
// admits again (retry) and when it is full again (reset), undo, and that threads racing for the
// last slots never get more than the limit.
#include "dataplane/ratelimit/window.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "dataplane/ratelimit/key_limiter.h"
#include "dataplane/ratelimit/limit_policy.h"
#include "dataplane/ratelimit/limits_state.h"
#include "dataplane/ratelimit/redis_script.h"

namespace fwd::dataplane::ratelimit {
namespace {

constexpr Millis kMinute = 60'000;
// A time on a minute boundary (UTC), far from 0.
constexpr Millis kT0 = 1'796'000'000'000 / kMinute * kMinute;

int admitted(WindowCounter& c, RateStrategy s, std::uint64_t limit, Millis window, Millis now,
             int tries) {
  int n = 0;
  for (int i = 0; i < tries; ++i) {
    n += c.hit(s, limit, window, now).admitted ? 1 : 0;
  }
  return n;
}

TEST(WindowTest, FixedWindowCountsUpToItsLimitAndStartsAgainAtTheBoundary) {
  WindowCounter c;
  auto s = RateStrategy::kFixedWindow;
  WindowResult first = c.hit(s, 3, kMinute, kT0 + 10'000);
  EXPECT_TRUE(first.admitted);
  EXPECT_EQ(first.remaining, 2u);
  EXPECT_EQ(first.reset, 50'000);
  EXPECT_EQ(admitted(c, s, 3, kMinute, kT0 + 20'000, 5), 2);
  WindowResult refused = c.hit(s, 3, kMinute, kT0 + 59'999);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry, 1);
  // The next minute starts from zero; a burst across the boundary gets 2 × limit.
  EXPECT_EQ(admitted(c, s, 3, kMinute, kT0 + kMinute, 5), 3);
  // A window left alone for long is empty when it is used again.
  EXPECT_EQ(admitted(c, s, 3, kMinute, kT0 + 1000 * kMinute + 5, 5), 3);
}

TEST(WindowTest, SlidingWindowWeighsThePreviousWindowByWhatItStillCovers) {
  WindowCounter c;
  auto s = RateStrategy::kSlidingWindow;
  // 10 in the first minute.
  EXPECT_EQ(admitted(c, s, 10, kMinute, kT0 + 30'000, 12), 10);
  // A quarter into the next minute the previous one still weighs 3/4: 7.5 used, 2 more fit.
  EXPECT_EQ(admitted(c, s, 10, kMinute, kT0 + kMinute + 15'000, 5), 2);
  WindowResult refused = c.hit(s, 10, kMinute, kT0 + kMinute + 15'000);
  EXPECT_FALSE(refused.admitted);
  // 10·(60 − e)/60 + 2 + 1 ≤ 10 once e ≥ 18 s: 3 s from now.
  EXPECT_EQ(refused.retry, 3'000);
  EXPECT_FALSE(c.hit(s, 10, kMinute, kT0 + kMinute + 17'999).admitted);
  EXPECT_TRUE(c.hit(s, 10, kMinute, kT0 + kMinute + 18'000).admitted);
  // Two windows later nothing of the first remains.
  EXPECT_EQ(admitted(c, s, 10, kMinute, kT0 + 3 * kMinute + 1, 12), 10);
}

TEST(WindowTest, SlidingWindowRetryWhenTheCurrentWindowIsFull) {
  WindowCounter c;
  auto s = RateStrategy::kSlidingWindow;
  EXPECT_EQ(admitted(c, s, 4, kMinute, kT0, 4), 4);
  WindowResult refused = c.hit(s, 4, kMinute, kT0 + 30'000);
  ASSERT_FALSE(refused.admitted);
  // Next window: 4·(60 − e)/60 + 1 ≤ 4 once e ≥ 15 s; that is 30 s + 15 s from now.
  EXPECT_EQ(refused.retry, 45'000);
  EXPECT_FALSE(c.hit(s, 4, kMinute, kT0 + kMinute + 14'999).admitted);
  EXPECT_TRUE(c.hit(s, 4, kMinute, kT0 + kMinute + 15'000).admitted);
}

TEST(WindowTest, ElasticExpiryKeepsARefusedClientRefusedUntilItPauses) {
  WindowCounter c;
  auto s = RateStrategy::kFixedWindowElasticExpiry;
  Millis t = kT0 + 123;  // windows start at the first request, not on a boundary
  EXPECT_EQ(admitted(c, s, 2, kMinute, t, 3), 2);
  // Calling every 50 s while refused pushes the end further each time.
  for (int i = 1; i <= 4; ++i) {
    WindowResult r = c.hit(s, 2, kMinute, t + i * 50'000);
    EXPECT_FALSE(r.admitted) << i;
    EXPECT_EQ(r.retry, kMinute);
  }
  // A pause of a whole window ends it.
  EXPECT_EQ(admitted(c, s, 2, kMinute, t + 4 * 50'000 + kMinute + 100, 3), 2);
}

TEST(WindowTest, UndoGivesBackAHitInItsWindowOnly) {
  for (auto s : {RateStrategy::kFixedWindow, RateStrategy::kSlidingWindow,
                 RateStrategy::kFixedWindowElasticExpiry}) {
    WindowCounter c;
    WindowResult r = c.hit(s, 1, kMinute, kT0);
    ASSERT_TRUE(r.admitted);
    EXPECT_FALSE(c.hit(s, 1, kMinute, kT0 + 1).admitted);
    c.undo(s, kMinute, r, kT0 + 2);
    if (s == RateStrategy::kFixedWindowElasticExpiry) {
      // The refused hit counted too (that is elastic expiry); one undo leaves it.
      EXPECT_FALSE(c.hit(s, 1, kMinute, kT0 + 3).admitted);
    } else {
      EXPECT_TRUE(c.hit(s, 1, kMinute, kT0 + 3).admitted) << static_cast<int>(s);
    }
  }
}

TEST(WindowTest, RacingThreadsNeverGetMoreThanTheLimit) {
  for (auto s : {RateStrategy::kFixedWindow, RateStrategy::kSlidingWindow,
                 RateStrategy::kFixedWindowElasticExpiry}) {
    WindowCounter c;
    std::atomic<int> total{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] { total += admitted(c, s, 1000, kMinute, kT0 + 5, 500); });
    }
    for (auto& th : threads) {
      th.join();
    }
    EXPECT_EQ(total.load(), 1000) << static_cast<int>(s);
  }
}

TEST(TokenWindowTest, ReservationsAreCorrectedToWhatWasUsed) {
  TokenWindow w;
  TokenWindow::Taken a = w.take(1000, kMinute, kT0 + 1, 600);
  ASSERT_TRUE(a.admitted);
  EXPECT_EQ(a.remaining, 400u);
  TokenWindow::Taken refused = w.take(1000, kMinute, kT0 + 2, 500);
  EXPECT_FALSE(refused.admitted);
  EXPECT_FALSE(refused.too_large);
  EXPECT_EQ(refused.remaining, 400u);
  EXPECT_EQ(refused.reset, kMinute - 2);
  // The request used 100 of its 600: 900 left now.
  w.settle(kMinute, a.tag, 600, 100, kT0 + 3);
  TokenWindow::Taken b = w.take(1000, kMinute, kT0 + 4, 900);
  ASSERT_TRUE(b.admitted);
  EXPECT_EQ(b.remaining, 0u);
  // One that used more than it reserved, finishing in the next window: the excess counts there.
  w.settle(kMinute, b.tag, 900, 1200, kT0 + kMinute + 1);
  EXPECT_EQ(w.take(1000, kMinute, kT0 + kMinute + 2, 1).remaining, 699u);
  // A request larger than the window never fits.
  TokenWindow::Taken huge = w.take(1000, kMinute, kT0 + kMinute + 3, 1001);
  EXPECT_FALSE(huge.admitted);
  EXPECT_TRUE(huge.too_large);
  // Counts up to 10^12 fit.
  TokenWindow big;
  EXPECT_EQ(big.take(1'000'000'000'000, kMinute, kT0, 999'999'999'999).remaining, 1u);
}

TEST(KeyLimiterTest, TokenWindowsReserveAllOrNothing) {
  CounterRegistry counters;
  fwd::v1::Limits l;
  l.set_tpm(100);
  auto* day = l.add_tokens();
  day->set_count(150);
  day->set_seconds(86400);
  auto limiter = KeyLimiter::compile(3, l, {}, counters);
  ASSERT_TRUE(limiter->limitsTokens());
  TokenTags tags{};
  TokenVerdict v = limiter->reserve(kT0, 80, tags);
  EXPECT_FALSE(v.refused);
  EXPECT_EQ(v.limit, 100u);  // the minute has fewer left than the day
  EXPECT_EQ(v.remaining, 20u);
  limiter->settle(tags, 80, 60, kT0 + 1);
  // A new minute: the day has 90 left, so 95 is refused by the day, and the minute keeps none.
  TokenTags more{};
  v = limiter->reserve(kT0 + kMinute, 95, more);
  EXPECT_TRUE(v.refused);
  EXPECT_EQ(v.limit, 150u);
  EXPECT_EQ(v.remaining, 90u);
  v = limiter->reserve(kT0 + kMinute, 90, more);
  EXPECT_FALSE(v.refused);
  EXPECT_EQ(v.remaining, 0u);
}

fwd::v1::Limits limitsOf(std::initializer_list<std::pair<std::uint64_t, std::uint32_t>> rates,
                         std::uint32_t parallel = 0) {
  fwd::v1::Limits l;
  for (auto [count, seconds] : rates) {
    auto* w = l.add_rate();
    w->set_count(count);
    w->set_seconds(seconds);
  }
  l.set_max_parallel(parallel);
  return l;
}

TEST(KeyLimiterTest, EveryWindowMustAdmitAndARefusalTakesBackTheOthers) {
  CounterRegistry counters;
  auto limiter = KeyLimiter::compile(7, limitsOf({{100, 3600}, {2, 60}}), {}, counters);
  ASSERT_NE(limiter, nullptr);
  Verdict v = limiter->admit(kT0);
  EXPECT_EQ(v.refused, Verdict::Refusal::kNone);
  // The tighter window is reported.
  EXPECT_EQ(v.limit, 2u);
  EXPECT_EQ(v.remaining, 1u);
  EXPECT_EQ(v.window, 60'000);
  EXPECT_EQ(limiter->admit(kT0 + 1).refused, Verdict::Refusal::kNone);
  v = limiter->admit(kT0 + 2);
  EXPECT_EQ(v.refused, Verdict::Refusal::kRate);
  EXPECT_EQ(v.scope, Scope::kKey);
  EXPECT_EQ(v.retry, kMinute - 2);
  // The hour counted only the two admitted: 98 left after the next one.
  v = limiter->admit(kT0 + kMinute);
  EXPECT_EQ(v.refused, Verdict::Refusal::kNone);
  EXPECT_EQ(v.remaining, 1u);
  auto again = KeyLimiter::compile(7, limitsOf({{100, 3600}}), {}, counters);
  EXPECT_EQ(again->admit(kT0 + kMinute).remaining, 96u);  // counters outlive a recompile
}

TEST(KeyLimiterTest, DefaultsFillWhatTheKeyLeavesUnsetAndParallelSlotsComeBack) {
  CounterRegistry counters;
  EXPECT_EQ(KeyLimiter::compile(1, {}, {}, counters), nullptr);
  fwd::v1::Limits defaults = limitsOf({{5, 1}}, 2);
  defaults.set_rate_strategy(fwd::v1::RATE_STRATEGY_SLIDING_WINDOW);
  auto limiter = KeyLimiter::compile(1, limitsOf({}, 1), defaults, counters);
  ASSERT_NE(limiter, nullptr);
  Verdict first = limiter->admit(kT0);
  EXPECT_EQ(first.refused, Verdict::Refusal::kNone);
  EXPECT_EQ(first.limit, 5u);
  Verdict second = limiter->admit(kT0 + 1);
  EXPECT_EQ(second.refused, Verdict::Refusal::kParallel);
  EXPECT_EQ(second.scope, Scope::kKey);  // the key's own cap of 1, not the default 2
  limiter->release();
  EXPECT_EQ(limiter->admit(kT0 + 2).refused, Verdict::Refusal::kNone);
  limiter->release();
  // The default rate refuses with the default's scope.
  for (int i = 0; i < 3; ++i) {
    limiter->admit(kT0 + 3);
    limiter->release();
  }
  Verdict over = limiter->admit(kT0 + 4);
  EXPECT_EQ(over.refused, Verdict::Refusal::kRate);
  EXPECT_EQ(over.scope, Scope::kDefault);
}

TEST(LimitPolicyTest, ResetTimesAreWrittenAsOpenAIWritesThem) {
  EXPECT_EQ(resetText(20), "20ms");
  EXPECT_EQ(resetText(1000), "1s");
  EXPECT_EQ(resetText(59'500), "59.5s");
  EXPECT_EQ(resetText(360'000), "6m0s");
  EXPECT_EQ(resetText(3'600'001), "1h0m0.001s");
  Verdict v;
  EXPECT_EQ(requestFields(v), "");
  v.limit = 60;
  v.remaining = 59;
  v.reset = 1500;
  EXPECT_EQ(requestFields(v),
            "x-ratelimit-limit-requests: 60\r\nx-ratelimit-remaining-requests: 59\r\n"
            "x-ratelimit-reset-requests: 1.5s\r\n");
}

TEST(RedisAdmitTest, TheScriptsReplyIsFourteenNonNegativeIntegers) {
  AdmitReply r;
  ASSERT_TRUE(parseAdmitReply("1 0 100 60000 99 59000 0 0 0 0 0 1764950400123 0 0", r));
  EXPECT_EQ(r.v[0], 1);
  EXPECT_EQ(r.v[2], 100);
  EXPECT_EQ(r.v[11], 1764950400123);
  ASSERT_TRUE(parseAdmitReply("0 5 0 0 0 0 0 0 0 0 0 1764950400123 2 10000123", r));
  EXPECT_EQ(r.v[12], 2);
  EXPECT_EQ(r.v[13], 10000123);
  for (const char* bad :
       {"", "1 0 100", "1 0 100 60000 99 59000 0 0 0 0 0 1",
        "1 0 100 60000 99 59000 0 0 0 0 0 1 0 0 2", "1 0 100 60000 -1 59000 0 0 0 0 0 1 0 0",
        "1  0 100 60000 99 59000 0 0 0 0 0 1 0 0", "1 0 100 60000 99 59000 0 0 0 0 0 1 0 0 ",
        "ERR x"}) {
    EXPECT_FALSE(parseAdmitReply(bad, r)) << bad;
  }
}

TEST(RedisAdmitTest, TheAdmissionCommandIsFormattedOnceAndCarriesTheTokenAmount) {
  fwd::v1::Limits limits;
  auto* w = limits.add_rate();
  w->set_count(60);
  w->set_seconds(60);
  limits.set_tpm(1000);
  limits.set_max_parallel(4);
  CounterRegistry counters;
  auto limiter = KeyLimiter::compile(7, limits, fwd::v1::Limits(), counters);
  ASSERT_NE(limiter, nullptr);
  EXPECT_EQ(limiter->redisPrefix(), "fwd:{k7}");
  const std::string& sha = admitScriptSha();
  ASSERT_EQ(sha.size(), 40u);
  // EVALSHA sha 1 prefix | 1 window: 60, 60000 ms, strategy 1 | no token windows | no budgets
  // | amount 0, cap 4: 12 arguments.
  std::string scratch;
  const std::string head =
      "\r\n$1\r\n1\r\n$8\r\nfwd:{k7}\r\n$1\r\n1\r\n$2\r\n60\r\n$5\r\n60000\r\n$1\r\n1\r\n";
  EXPECT_EQ(limiter->admitCommand(false, true, 0, scratch),
            "*12\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha + head +
                "$1\r\n0\r\n$1\r\n0\r\n$1\r\n0\r\n$1\r\n4\r\n");
  // With tokens: the minute's token window, then this request's 123 tokens.
  EXPECT_EQ(limiter->admitCommand(true, true, 123, scratch),
            "*14\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha + head +
                "$1\r\n1\r\n$4\r\n1000\r\n$5\r\n60000\r\n$1\r\n0\r\n$3\r\n123\r\n$1\r\n4\r\n");

  // A budget of $10 a month: kind 1 (money), period 2 (month), 10^10 nano-USD; left out of the
  // command of a request no budget refuses (GET /v1/models).
  fwd::v1::Budget* b = limits.add_budget_usd();
  b->set_amount(10'000'000);
  b->set_period(fwd::v1::BUDGET_PERIOD_MONTH);
  limiter = KeyLimiter::compile(7, limits, fwd::v1::Limits(), counters);
  EXPECT_EQ(limiter->admitCommand(false, true, 0, scratch),
            "*15\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha + head +
                "$1\r\n0\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n2\r\n$11\r\n10000000000\r\n"
                "$1\r\n0\r\n$1\r\n4\r\n");
  EXPECT_EQ(limiter->admitCommand(false, false, 0, scratch),
            "*12\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha + head +
                "$1\r\n0\r\n$1\r\n0\r\n$1\r\n0\r\n$1\r\n4\r\n");
}

TEST(BudgetCounterTest, APeriodCountsFromZeroAndTheNextStartsAgain) {
  BudgetCounter c;
  EXPECT_EQ(c.spent(20'000), 0u);
  c.add(20'000, 5);
  c.add(20'000, 7);
  EXPECT_EQ(c.spent(20'000), 12u);
  EXPECT_EQ(c.spent(20'001), 0u);  // a new day: nothing spent yet
  c.add(20'001, 3);                // the first spend of it starts it
  EXPECT_EQ(c.spent(20'001), 3u);
  EXPECT_EQ(c.spent(20'000), 0u);
  c.add(20'001, BudgetCounter::kMax);  // saturates, never wraps
  EXPECT_EQ(c.spent(20'001), BudgetCounter::kMax);
}

TEST(KeyLimiterBudgetTest, SpentBudgetsRefuseUntilTheyRenewAndUnpricedTokensAreKeptApart) {
  // 2026-12-31T23:00:00Z: a day budget renews in an hour, a month one too (January).
  constexpr Millis kNewYearsEve = 1'798'758'000'000;
  fwd::v1::Limits key;
  fwd::v1::Budget* usd = key.add_budget_usd();
  usd->set_amount(1'000'000);  // $1
  usd->set_period(fwd::v1::BUDGET_PERIOD_MONTH);
  fwd::v1::Limits defaults;
  fwd::v1::Budget* tokens = defaults.add_budget_tokens();
  tokens->set_amount(100);
  tokens->set_period(fwd::v1::BUDGET_PERIOD_TOTAL);
  CounterRegistry counters;
  auto limiter = KeyLimiter::compile(3, key, defaults, counters);
  ASSERT_NE(limiter, nullptr);
  ASSERT_EQ(limiter->budgets().size(), 2u);
  EXPECT_TRUE(limiter->budgets()[0].money);
  EXPECT_EQ(limiter->budgets()[0].scope, Scope::kKey);
  EXPECT_EQ(limiter->budgets()[1].scope, Scope::kDefault);
  EXPECT_EQ(limiter->checkBudgets(kNewYearsEve).spent_budget, nullptr);

  // $0.60 twice: the second takes it past $1, and the next request is refused.
  limiter->spend(kNewYearsEve, Spend{10, 600'000'000, true});
  EXPECT_EQ(limiter->checkBudgets(kNewYearsEve).spent_budget, nullptr);
  limiter->spend(kNewYearsEve, Spend{10, 600'000'000, true});
  BudgetVerdict v = limiter->checkBudgets(kNewYearsEve);
  ASSERT_NE(v.spent_budget, nullptr);
  EXPECT_TRUE(v.spent_budget->money);
  EXPECT_EQ(v.spent, 1'200'000'000u);
  EXPECT_EQ(v.reset, 3'600'000);
  // January: the money budget renews; the total token budget (20 of 100 used) does not.
  EXPECT_EQ(limiter->checkBudgets(kNewYearsEve + 3'600'000).spent_budget, nullptr);
  // An unpriced request counts its tokens (for the token budget, and apart for the money one),
  // never as $0 spent.
  limiter->spend(kNewYearsEve + 3'600'000, Spend{80, 0, false});
  v = limiter->checkBudgets(kNewYearsEve + 3'600'000);
  ASSERT_NE(v.spent_budget, nullptr);
  EXPECT_FALSE(v.spent_budget->money);
  EXPECT_EQ(v.spent, 100u);
  EXPECT_EQ(v.reset, -1);
  std::int64_t january = common::config::budgetPeriodIndex(common::config::BudgetPeriod::kMonth,
                                                           kNewYearsEve + 3'600'000);
  EXPECT_EQ(limiter->budgets()[0].unpriced->spent(january), 80u);
  EXPECT_EQ(limiter->budgets()[0].spent->spent(january), 0u);

  // A recompiled snapshot keeps what was spent.
  auto again = KeyLimiter::compile(3, key, defaults, counters);
  EXPECT_EQ(again->budgets()[1].spent->spent(0), 100u);
  // The settle script's budget arguments: kind 3 (unpriced tokens) for the money budget.
  std::vector<std::string> args;
  again->appendSpendArgs(args, Spend{80, 0, false});
  EXPECT_EQ(args, (std::vector<std::string>{"2", "3", "2", "80", "2", "3", "80"}));
}

TEST(WindowPeekTest, EachStrategyShowsItsCountAndResetWithoutCounting) {
  WindowCounter fixed;
  EXPECT_EQ(fixed.peek(RateStrategy::kFixedWindow, 5, kMinute, kT0 + 10'000).reset, 0);
  admitted(fixed, RateStrategy::kFixedWindow, 5, kMinute, kT0 + 10'000, 3);
  WindowPeek p = fixed.peek(RateStrategy::kFixedWindow, 5, kMinute, kT0 + 20'000);
  EXPECT_EQ(p.used, 3u);
  EXPECT_EQ(p.remaining, 2u);
  EXPECT_EQ(p.reset, 40'000);
  EXPECT_EQ(fixed.peek(RateStrategy::kFixedWindow, 5, kMinute, kT0 + 20'000).used, 3u);
  EXPECT_EQ(fixed.peek(RateStrategy::kFixedWindow, 5, kMinute, kT0 + kMinute).used, 0u);

  // Sliding: 10 in the first minute weigh 7.5 a quarter into the next, plus 1 there.
  WindowCounter sliding;
  admitted(sliding, RateStrategy::kSlidingWindow, 10, kMinute, kT0 + 30'000, 10);
  admitted(sliding, RateStrategy::kSlidingWindow, 10, kMinute, kT0 + kMinute + 15'000, 1);
  p = sliding.peek(RateStrategy::kSlidingWindow, 10, kMinute, kT0 + kMinute + 15'000);
  EXPECT_EQ(p.used, 9u);  // 8.5, rounded up
  EXPECT_EQ(p.remaining, 1u);
  EXPECT_EQ(p.reset, 2 * kMinute - 15'000);
  // The remaining agrees with what hit() admits.
  EXPECT_EQ(admitted(sliding, RateStrategy::kSlidingWindow, 10, kMinute, kT0 + kMinute + 15'000, 5),
            1);

  // Elastic: the window ends a window after the last request.
  WindowCounter elastic;
  admitted(elastic, RateStrategy::kFixedWindowElasticExpiry, 2, kMinute, kT0, 3);
  p = elastic.peek(RateStrategy::kFixedWindowElasticExpiry, 2, kMinute, kT0 + 10'000);
  EXPECT_EQ(p.used, 3u);  // the refused one counts too
  EXPECT_EQ(p.remaining, 0u);
  EXPECT_NEAR(static_cast<double>(p.reset), 50'000.0, 60.0);  // kept in steps of W/1024
  EXPECT_EQ(
      elastic.peek(RateStrategy::kFixedWindowElasticExpiry, 2, kMinute, kT0 + kMinute + 100).used,
      0u);

  TokenWindow tokens;
  TokenWindow::Taken taken = tokens.take(100, kMinute, kT0 + 1'000, 30);
  tokens.settle(kMinute, taken.tag, 30, 45, kT0 + 2'000);
  p = tokens.peek(100, kMinute, kT0 + 5'000);
  EXPECT_EQ(p.used, 45u);
  EXPECT_EQ(p.remaining, 55u);
  EXPECT_EQ(p.reset, 55'000);
}

TEST(LimitsStateTest, MemoryAndRedisStatesDescribeEveryLimitAlike) {
  constexpr Millis kNewYearsEve = 1'798'758'000'000;  // 2026-12-31T23:00:00Z
  fwd::v1::Limits key;
  fwd::v1::RateWindow* rate = key.add_rate();
  rate->set_count(5);
  rate->set_seconds(60);
  key.set_tpm(1000);
  key.set_max_parallel(3);
  fwd::v1::Budget* usd = key.add_budget_usd();
  usd->set_amount(2'000'000);  // $2/day
  usd->set_period(fwd::v1::BUDGET_PERIOD_DAY);
  fwd::v1::Limits defaults;
  fwd::v1::Budget* tokens = defaults.add_budget_tokens();
  tokens->set_amount(100);
  tokens->set_period(fwd::v1::BUDGET_PERIOD_TOTAL);
  CounterRegistry counters;
  auto limiter = KeyLimiter::compile(9, key, defaults, counters);
  ASSERT_NE(limiter, nullptr);
  ASSERT_EQ(limiter->admit(kNewYearsEve).refused, Verdict::Refusal::kNone);
  ASSERT_EQ(limiter->admit(kNewYearsEve).refused, Verdict::Refusal::kNone);
  limiter->release();
  limiter->spend(kNewYearsEve, Spend{40, 1'500'000'001, true});  // $1.500000001
  limiter->spend(kNewYearsEve, Spend{7, 0, false});

  fwd::v1::KeyLimitsState m = memoryState(limiter.get(), kNewYearsEve + 30'000);
  EXPECT_EQ(m.source(), "memory");
  EXPECT_FALSE(m.unlimited());
  EXPECT_EQ(m.rate_strategy(), fwd::v1::RATE_STRATEGY_FIXED_WINDOW);
  ASSERT_EQ(m.requests_size(), 1);
  EXPECT_EQ(m.requests(0).used(), 2u);
  EXPECT_EQ(m.requests(0).remaining(), 3u);
  EXPECT_EQ(m.requests(0).reset().seconds(), 30);
  EXPECT_EQ(m.requests(0).scope(), "key");
  ASSERT_EQ(m.tokens_size(), 1);
  EXPECT_EQ(m.tokens(0).used(), 0u);
  EXPECT_EQ(m.in_flight(), 1);
  EXPECT_EQ(m.max_parallel(), 3u);
  ASSERT_EQ(m.budgets_size(), 2);
  EXPECT_EQ(m.budgets(0).kind(), "usd");
  EXPECT_EQ(m.budgets(0).limit(), 2'000'000u);
  EXPECT_EQ(m.budgets(0).spent(), 1'500'001u);  // nano-USD rounded up to the micro
  EXPECT_EQ(m.budgets(0).left(), 499'999u);
  EXPECT_EQ(m.budgets(0).unpriced_tokens(), 7u);
  EXPECT_EQ(m.budgets(0).reset().seconds(), 3600 - 30);  // midnight UTC
  EXPECT_EQ(m.budgets(1).kind(), "tokens");
  EXPECT_EQ(m.budgets(1).spent(), 47u);
  EXPECT_EQ(m.budgets(1).scope(), "default");
  EXPECT_FALSE(m.budgets(1).has_reset());

  // The peek script's reply for the same counts reads as the same state.
  fwd::v1::KeyLimitsState r;
  std::string reply = std::to_string(kNewYearsEve + 30'000) +
                      " 2 3 30000"           // the request window: used, remaining, reset
                      " 0 0"                 // the token window: used, reset
                      " 1"                   // in flight
                      " 1500000001 7 47 0";  // the budgets: spent, unpriced
  ASSERT_TRUE(redisState(*limiter, reply, r));
  EXPECT_EQ(r.source(), "redis");
  r.set_source("memory");
  EXPECT_EQ(r.SerializeAsString(), m.SerializeAsString()) << r.DebugString() << m.DebugString();
  // Anything else is refused.
  EXPECT_FALSE(redisState(*limiter, reply + " 1", r));
  EXPECT_FALSE(redisState(*limiter, "1 2", r));
  EXPECT_FALSE(redisState(*limiter, "", r));
  EXPECT_FALSE(redisState(*limiter, std::to_string(kNewYearsEve) + " -2 3 30000 0 0 1 0 0 0 0", r));
  // The command carries the admission's arguments (every window and budget).
  std::vector<std::string> command = peekCommand(*limiter);
  ASSERT_GE(command.size(), 4u);
  EXPECT_EQ(command[0], "EVAL");
  EXPECT_EQ(command[3], "fwd:{k9}");

  fwd::v1::KeyLimitsState none = memoryState(nullptr, kNewYearsEve);
  EXPECT_TRUE(none.unlimited());
  EXPECT_EQ(none.requests_size(), 0);
}

}  // namespace
}  // namespace fwd::dataplane::ratelimit
