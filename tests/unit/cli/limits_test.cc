// fwdctl's limit flags: what they set and which mask paths they name, how limits render, and
// the precise usage errors for values that do not parse.
#include "cli/commands/limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/commands/run.h"
#include "tests/unit/cli/cli_test_util.h"

namespace fwd::cli::commands {
namespace {

using testing::with;

using ::testing::ElementsAre;

TEST(CliLimitsTest, LimitFlagsSetTheirFieldsAndNameTheirPaths) {
  FlagValues flags;
  flags.add("rate", "600/hour; 60/minute");
  flags.add("rate-strategy", "sliding-window");
  flags.add("max-parallel", "4");
  flags.add("tpm", "100000");
  flags.add("tokens", "1000000/day");
  flags.add("redis-down", "fail-closed");
  flags.add("budget-usd", "10/month; 1.50/day");
  flags.add("budget-tokens", "5000000/total");
  flags.add("stream-pace", "50/second");
  fwd::v1::Limits limits;
  std::vector<std::string> paths;
  ASSERT_TRUE(applyLimitsFlags(
                  flags, [&]() -> fwd::v1::Limits& { return limits; }, paths)
                  .ok());
  EXPECT_THAT(paths,
              ElementsAre("limits.rate", "limits.tokens", "limits.budget_usd",
                          "limits.budget_tokens", "limits.stream_pace", "limits.tpm",
                          "limits.rate_strategy", "limits.redis_down", "limits.max_parallel"));
  ASSERT_EQ(limits.budget_usd_size(), 2);
  EXPECT_EQ(limits.budget_usd(0).amount(), 10'000'000u);
  EXPECT_EQ(limits.budget_usd(0).period(), fwd::v1::BUDGET_PERIOD_MONTH);
  EXPECT_EQ(limits.budget_usd(1).amount(), 1'500'000u);
  ASSERT_EQ(limits.budget_tokens_size(), 1);
  EXPECT_EQ(limits.budget_tokens(0).period(), fwd::v1::BUDGET_PERIOD_TOTAL);
  EXPECT_EQ(limits.tpm(), 100000u);
  ASSERT_EQ(limits.tokens_size(), 1);
  EXPECT_EQ(limits.tokens(0).seconds(), 86400u);
  ASSERT_EQ(limits.rate_size(), 2);
  EXPECT_EQ(limits.rate(0).count(), 600u);
  EXPECT_EQ(limits.rate(0).seconds(), 3600u);
  EXPECT_EQ(limits.rate(1).seconds(), 60u);
  EXPECT_EQ(limits.rate_strategy(), fwd::v1::RATE_STRATEGY_SLIDING_WINDOW);
  EXPECT_EQ(limits.max_parallel(), 4u);
  EXPECT_EQ(limitsCell(limits),
            "rate 600/hour;60/minute, sliding-window, max_parallel 4, tpm 100000, tokens "
            "1000000/day, budget_usd 10/month;1.5/day, budget_tokens 5000000/total, stream_pace "
            "50/second, redis_down fail-closed");
  EXPECT_EQ(limitsJson(limits).dump(),
            R"({"rate":"600/hour;60/minute","rate_strategy":"sliding-window","max_parallel":4,)"
            R"("tpm":100000,"tokens":"1000000/day","budget_usd":"10/month;1.5/day",)"
            R"("budget_tokens":"5000000/total","stream_pace":"50/second",)"
            R"("redis_down":"fail-closed"})");
  EXPECT_EQ(limitsCell(fwd::v1::Limits()), "-");

  FlagValues clear;
  clear.add("clear-rate", "true");
  clear.add("clear-max-parallel", "true");
  clear.add("clear-redis-down", "true");
  clear.add("clear-budget-usd", "true");
  fwd::v1::Limits cleared;
  bool touched = false;
  paths.clear();
  ASSERT_TRUE(applyLimitsFlags(
                  clear,
                  [&]() -> fwd::v1::Limits& {
                    touched = true;
                    return cleared;
                  },
                  paths)
                  .ok());
  EXPECT_TRUE(touched);
  EXPECT_THAT(paths, ElementsAre("limits.rate", "limits.max_parallel", "limits.redis_down",
                                 "limits.budget_usd"));
  EXPECT_EQ(cleared.rate_size(), 0);
}

TEST(CliLimitsTest, MalformedLimitFlagsAreUsageErrors) {
  const std::vector<std::string> create = {"key", "create", "k"};
  const std::vector<std::string> update = {"key", "update", "k"};

  const std::string shape =
      "expected COUNT/[N]UNIT such as 60/minute or 100/2minutes, UNIT one of second, minute, "
      "hour, day; several joined by ';'";
  testing::expectUsageErrors({
      {with(create, {"--rate", "10/fortnight"}), "--rate: invalid rate \"10/fortnight\": " + shape},
      {with(create, {"--rate", "-1/minute"}),
       "--rate: invalid rate \"-1/minute\": the count must be a whole number from 1 to "
       "1000000000000"},
      {with(create, {"--rate-strategy", "leaky-bucket"}),
       "--rate-strategy: invalid rate strategy \"leaky-bucket\": expected fixed-window, "
       "sliding-window or fixed-window-elastic-expiry"},
      {with(create, {"--redis-down", "panic"}),
       "--redis-down: invalid Redis-down mode \"panic\": expected fail-open or fail-closed"},
      {with(create, {"--max-parallel", "0"}),
       "--max-parallel must be at least 1 (to remove the limit, use --clear-max-parallel)"},
      {with(create, {"--tpm", "0"}),
       "--tpm \"0\": expected a whole number of tokens per minute, at least 1 (to remove the "
       "limit, use --clear-tpm)"},
      {with(create, {"--tokens", "5/fortnight"}),
       "--tokens: invalid rate \"5/fortnight\": " + shape},
      {with(create, {"--budget-usd", "10/fortnight"}),
       "--budget-usd: budget \"10/fortnight\": unknown period \"fortnight\": use day, month or "
       "total (a budget renews at 00:00 UTC each day, or on the 1st of each month; a total one "
       "never does)"},
      {with(create, {"--budget-usd", "0/month"}),
       "--budget-usd: budget \"0/month\": a budget must be more than $0"},
      {with(create, {"--budget-tokens", "1.5/day"}),
       "--budget-tokens: budget \"1.5/day\": \"1.5\" is not a whole number of tokens"},
      {with(create, {"--stream-pace", "fast"}),
       "--stream-pace \"fast\": expected one rate of tokens such as 50/second (invalid rate "
       "\"fast\": " +
           shape + ")"},
      {with(create, {"--clear-rate"}),
       "unknown flag --clear-rate for \"key create\" (see fwdctl key --help)"},
      {with(update, {"--clear-rate", "--rate", "1/second"}),
       "--clear-rate and --rate cannot be used together"},
  });
}

}  // namespace
}  // namespace fwd::cli::commands
