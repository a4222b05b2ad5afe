// The limits' Lua scripts run by a real redis-server: each strategy admits what the in-memory
// windows admit, every limit must admit before any counts, token reservations are settled to
// what was used, in-flight slots come back, and connections racing for the last slots never
// get more than the limit.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <functional>

#include "common/config/budget.h"
#include "dataplane/ratelimit/key_limiter.h"
#include "dataplane/ratelimit/limits_state.h"
#include "dataplane/ratelimit/redis_script.h"
#include "dataplane/ratelimit/window.h"
#include "dataplane/redis/redis_client.h"
#include "tests/integration/harness/redis_server.h"
#include "tests/integration/harness/wait.h"

namespace fwd::dataplane::ratelimit {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redis::Reply;

class RedisLimitsScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start());
    for (int i = 0; i < 3; ++i) {
      auto client = redis::Client::create(io_, *redis::parseRedisUrl(server_.url()));
      client->start();
      clients_.push_back(client);
    }
    ASSERT_TRUE(runUntil([&] {
      for (auto& c : clients_) {
        if (!c->connected()) {
          return false;
        }
      }
      return true;
    }));
  }

  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(5ms);
      io_.restart();
    }
    return done();
  }

  // admitScript() for prefix "fwd:{k<key>}" with these ARGV, `budgets` going before the last
  // two (the amount and the cap); the reply's integers.
  std::vector<std::int64_t> admit(int key, std::vector<std::string> argv,
                                  std::vector<std::string> budgets = {"0"}) {
    argv.insert(argv.end() - 2, budgets.begin(), budgets.end());
    std::vector<std::string> args = {"EVAL", admitScript(), "1",
                                     "fwd:{k" + std::to_string(key) + "}"};
    args.insert(args.end(), argv.begin(), argv.end());
    std::optional<Reply> got;
    clients_[0]->send(std::move(args), [&](Reply r) { got = std::move(r); });
    runUntil([&] { return got.has_value(); });
    std::vector<std::int64_t> out;
    AdmitReply parsed;
    EXPECT_TRUE(got && got->type == Reply::Type::kString && parseAdmitReply(got->text, parsed))
        << (got ? got->text : "no reply");
    if (got && parseAdmitReply(got->text, parsed)) {
      out.assign(std::begin(parsed.v), std::end(parsed.v));
    }
    return out;
  }

  std::int64_t settle(int key, std::vector<std::string> argv) {
    std::vector<std::string> args = {"EVAL", settleScript(), "1",
                                     "fwd:{k" + std::to_string(key) + "}"};
    args.insert(args.end(), argv.begin(), argv.end());
    std::optional<Reply> got;
    clients_[0]->send(std::move(args), [&](Reply r) { got = std::move(r); });
    runUntil([&] { return got.has_value(); });
    EXPECT_TRUE(got && got->type == Reply::Type::kInteger) << (got ? got->text : "no reply");
    return got ? got->integer : -1;
  }

  harness::TempDir dir_;
  harness::RedisServer server_{dir_.path()};
  asio::io_context io_;
  std::vector<redis::ClientSharedPtr> clients_;
};

TEST_F(RedisLimitsScriptTest, ElasticAndFixedWindowsCountLikeTheMemoryOnes) {
  // 3 per minute, elastic: 3 admitted, remaining 2, 1, 0; the 4th refused for a whole window.
  for (int i = 0; i < 3; ++i) {
    auto r = admit(1, {"1", "3", "60000", "3", "0", "0", "0"});
    ASSERT_EQ(r.size(), 14u);
    EXPECT_EQ(r[0], 1);
    EXPECT_EQ(r[4], 2 - i);
    EXPECT_EQ(r[2], 3);
  }
  auto refused = admit(1, {"1", "3", "60000", "3", "0", "0", "0"});
  EXPECT_EQ(refused[0], 0);
  EXPECT_EQ(refused[1], 1);
  EXPECT_EQ(refused[6], 60000);
  // Two windows, fixed: the hour admits, the minute (2) refuses the third; the hour did not
  // count the refused one.
  std::vector<std::string> two = {"2", "2", "60000", "1", "100", "3600000", "1", "0", "0", "0"};
  EXPECT_EQ(admit(2, two)[0], 1);
  EXPECT_EQ(admit(2, two)[0], 1);
  auto third = admit(2, two);
  EXPECT_EQ(third[0], 0);
  EXPECT_EQ(third[2], 2);  // the minute refused
  auto hour = admit(2, {"1", "100", "3600000", "1", "0", "0", "0"});
  EXPECT_EQ(hour[4], 100 - 3);
}

TEST_F(RedisLimitsScriptTest, ThePeekScriptReadsWhatWasCountedAndCountsNothing) {
  for (auto strategy : {fwd::v1::RATE_STRATEGY_FIXED_WINDOW, fwd::v1::RATE_STRATEGY_SLIDING_WINDOW,
                        fwd::v1::RATE_STRATEGY_FIXED_WINDOW_ELASTIC_EXPIRY}) {
    SCOPED_TRACE(fwd::v1::RateStrategy_Name(strategy));
    fwd::v1::Limits limits;
    fwd::v1::RateWindow* rate = limits.add_rate();
    rate->set_count(4);
    rate->set_seconds(3600);
    limits.set_rate_strategy(strategy);
    fwd::v1::RateWindow* tokens = limits.add_tokens();
    tokens->set_count(1000);
    tokens->set_seconds(3600);
    limits.set_max_parallel(3);
    fwd::v1::Budget* usd = limits.add_budget_usd();
    usd->set_amount(1'000'000);
    usd->set_period(fwd::v1::BUDGET_PERIOD_MONTH);
    fwd::v1::Budget* total = limits.add_budget_tokens();
    total->set_amount(100);
    total->set_period(fwd::v1::BUDGET_PERIOD_TOTAL);
    CounterRegistry counters;
    auto limiter = KeyLimiter::compile(50 + static_cast<int>(strategy), limits, {}, counters);
    ASSERT_NE(limiter, nullptr);
    auto run = [&](std::vector<std::string> args) {
      std::optional<Reply> got;
      clients_[0]->send(std::move(args), [&](Reply r) { got = std::move(r); });
      runUntil([&] { return got.has_value(); });
      return got.value_or(Reply{});
    };

    // Three admissions reserving 20 tokens each; one ends having used 35 tokens and $0.000002.
    ASSERT_EQ(run({"SCRIPT", "LOAD", admitScript()}).text, admitScriptSha());
    std::int64_t admitted_at = 0;
    for (int i = 0; i < 3; ++i) {
      std::string scratch;
      std::string_view command = limiter->admitCommand(true, true, 20, scratch);
      std::optional<Reply> got;
      clients_[0]->sendFormatted(command, [&](Reply r) { got = std::move(r); });
      runUntil([&] { return got.has_value(); });
      AdmitReply parsed;
      ASSERT_TRUE(got && parseAdmitReply(got->text, parsed)) << (got ? got->text : "no reply");
      ASSERT_EQ(parsed.v[0], 1);
      admitted_at = parsed.v[11];
    }
    std::vector<std::string> settle_args = {
        "EVAL", settleScript(), "1", limiter->redisPrefix(), std::to_string(admitted_at),
        "20",   "35",           "1"};
    limiter->appendTokenWindows(settle_args);
    limiter->appendSpendArgs(settle_args, Spend{35, 2'000, true});
    ASSERT_EQ(run(settle_args).integer, 2);

    fwd::v1::KeyLimitsState first;
    fwd::v1::KeyLimitsState state;
    Reply reply = run(peekCommand(*limiter));
    ASSERT_TRUE(redisState(*limiter, reply.text, first)) << reply.text;
    reply = run(peekCommand(*limiter));
    ASSERT_TRUE(redisState(*limiter, reply.text, state)) << reply.text;
    EXPECT_EQ(state.source(), "redis");
    EXPECT_EQ(state.rate_strategy(), strategy);
    ASSERT_EQ(state.requests_size(), 1);
    // An hour boundary between the admissions and the peek (fixed and sliding windows start
    // again there) leaves nothing exact to compare.
    if (strategy == fwd::v1::RATE_STRATEGY_FIXED_WINDOW_ELASTIC_EXPIRY ||
        admitted_at / 3'600'000 == state.read_time().seconds() / 3600) {
      EXPECT_EQ(state.requests(0).used(), 3u);  // peeking twice counted nothing
      EXPECT_EQ(state.requests(0).remaining(), 1u);
      EXPECT_GT(state.requests(0).reset().seconds(), 0);
      EXPECT_LE(state.requests(0).reset().seconds(),
                strategy == fwd::v1::RATE_STRATEGY_SLIDING_WINDOW ? 7200 : 3600);
      EXPECT_EQ(state.tokens(0).used(), 75u);  // 3 × 20 reserved, one corrected to 35
      EXPECT_EQ(state.tokens(0).remaining(), 925u);
    }
    EXPECT_EQ(state.in_flight(), 2);
    EXPECT_EQ(state.max_parallel(), 3u);
    ASSERT_EQ(state.budgets_size(), 2);
    EXPECT_EQ(state.budgets(0).kind(), "usd");
    EXPECT_EQ(state.budgets(0).spent(), 2u);  // micro-USD
    EXPECT_EQ(state.budgets(0).left(), 999'998u);
    EXPECT_TRUE(state.budgets(0).has_reset());
    EXPECT_EQ(state.budgets(1).spent(), 35u);
    EXPECT_EQ(state.budgets(1).left(), 65u);
    EXPECT_FALSE(state.budgets(1).has_reset());
  }
}

TEST_F(RedisLimitsScriptTest, TokensAreReservedThenSettledAndParallelSlotsComeBack) {
  std::vector<std::string> tokens = {"0", "1", "100", "3600000"};
  auto with = [&](const std::string& amount, const std::string& parallel) {
    auto a = tokens;
    a.push_back(amount);
    a.push_back(parallel);
    return a;
  };
  auto first = admit(3, with("60", "2"));
  ASSERT_EQ(first[0], 1);
  EXPECT_EQ(first[7], 100);
  EXPECT_EQ(first[9], 40);
  auto over = admit(3, with("50", "2"));
  EXPECT_EQ(over[0], 0);
  EXPECT_EQ(over[1], 3);
  EXPECT_EQ(over[9], 40);
  auto huge = admit(3, with("101", "2"));
  EXPECT_EQ(huge[1], 4);
  // The first used 10 of its 60: 90 left; a second request in flight fills the cap of 2.
  EXPECT_EQ(settle(3, {std::to_string(first[11]), "60", "10", "0", "1", "3600000"}), 1);
  auto second = admit(3, with("80", "2"));
  EXPECT_EQ(second[0], 1);
  EXPECT_EQ(second[9], 10);
  auto third = admit(3, with("1", "2"));
  EXPECT_EQ(third[0], 0);
  EXPECT_EQ(third[1], 2);
  EXPECT_EQ(settle(3, {std::to_string(second[11]), "80", "80", "1", "1", "3600000"}), 1);
  EXPECT_EQ(admit(3, with("1", "2"))[0], 1);
}

TEST_F(RedisLimitsScriptTest, BudgetsRefuseOnceSpentAndCountInTheUtcDayOrMonthOfRedisNow) {
  // $1 a month (10^9 nano-USD, kind 1) and 100 tokens a day (kind 2); no windows.
  const std::vector<std::string> budgets = {"2", "1", "2", "1000000000", "2", "1", "100"};
  const std::vector<std::string> none = {"0", "0", "0", "0"};
  auto first = admit(5, none, budgets);
  ASSERT_EQ(first.size(), 14u);
  EXPECT_EQ(first[0], 1);
  EXPECT_EQ(first[12], 0);
  Millis now = first[11];
  // It cost $0.60 and used 40 tokens; then $0.50 and 30: the money budget is spent.
  auto spend = [&](const std::string& nano, const std::string& tokens) {
    return settle(5,
                  {std::to_string(now), "0", "0", "0", "0", "2", "1", "2", nano, "2", "1", tokens});
  };
  spend("600000000", "40");
  EXPECT_EQ(admit(5, none, budgets)[0], 1);
  spend("500000000", "30");
  auto refused = admit(5, none, budgets);
  EXPECT_EQ(refused[0], 0);
  EXPECT_EQ(refused[1], 5);
  EXPECT_EQ(refused[12], 1);  // the first budget
  EXPECT_EQ(refused[13], 1'100'000'000);
  // The counts are under the period names the data plane computes for Redis's now: the Lua
  // calendar agrees with common::config's.
  using common::config::BudgetPeriod;
  auto get = [&](const std::string& key) {
    std::optional<Reply> got;
    clients_[0]->send({"GET", key}, [&](Reply r) { got = std::move(r); });
    runUntil([&] { return got.has_value(); });
    return got ? got->text : "";
  };
  EXPECT_EQ(get("fwd:{k5}:b:1:m" +
                std::to_string(common::config::budgetPeriodIndex(BudgetPeriod::kMonth, now))),
            "1100000000");
  EXPECT_EQ(get("fwd:{k5}:b:2:d" +
                std::to_string(common::config::budgetPeriodIndex(BudgetPeriod::kDay, now))),
            "70");
  // Without the budgets (GET /v1/models) the same key is admitted; unpriced tokens (kind 3)
  // count apart from the dollars.
  EXPECT_EQ(admit(5, none)[0], 1);
  settle(5, {std::to_string(now), "0", "0", "0", "0", "1", "3", "2", "25"});
  EXPECT_EQ(get("fwd:{k5}:b:3:m" +
                std::to_string(common::config::budgetPeriodIndex(BudgetPeriod::kMonth, now))),
            "25");
}

TEST_F(RedisLimitsScriptTest, TheLuaCalendarNamesTheSameDaysAndMonthsAsTheDataPlanes) {
  // The scripts' period() with `now` set: month ends, leap days, centuries, the epoch.
  std::string script = scriptPreamble() +
                       "now = tonumber(ARGV[1]) return period(1) .. ' ' .. period(2) .. ' ' .. "
                       "period(3)";
  using common::config::BudgetPeriod;
  std::vector<Millis> times = {0,
                               86'399'999,
                               951'782'400'000 /* 2000-02-29 */,
                               4'107'542'400'000 /* 2100-03-01 */,
                               1'798'761'599'999,
                               1'798'761'600'000};
  for (Millis t = 1'700'000'000'000; t < 1'900'000'000'000; t += 86'400'000LL * 13 + 3'600'123) {
    times.push_back(t);
  }
  for (Millis t : times) {
    std::optional<Reply> got;
    clients_[0]->send({"EVAL", script, "0", std::to_string(t)},
                      [&](Reply r) { got = std::move(r); });
    ASSERT_TRUE(runUntil([&] { return got.has_value(); }));
    EXPECT_EQ(got->text, "d" + std::to_string(budgetPeriodIndex(BudgetPeriod::kDay, t)) + " m" +
                             std::to_string(budgetPeriodIndex(BudgetPeriod::kMonth, t)) + " t")
        << t;
  }
}

TEST_F(RedisLimitsScriptTest, ConnectionsRacingForTheLastSlotsGetExactlyTheLimit) {
  // 3 connections (as 3 data planes) × 40 requests at once against 50 per hour.
  int admitted = 0, answered = 0;
  for (int i = 0; i < 120; ++i) {
    std::vector<std::string> args = {"EVAL",    admitScript(), "1", "fwd:{k4}", "1", "50",
                                     "3600000", "3",           "0", "0",        "0", "0"};
    clients_[i % 3]->send(std::move(args), [&](Reply r) {
      ++answered;
      AdmitReply parsed;
      if (parseAdmitReply(r.text, parsed) && parsed.v[0] == 1) {
        ++admitted;
      }
    });
  }
  ASSERT_TRUE(runUntil([&] { return answered == 120; }));
  EXPECT_EQ(admitted, 50);
}

}  // namespace
}  // namespace fwd::dataplane::ratelimit
