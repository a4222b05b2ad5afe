#include "common/config/budget.h"

#include <gtest/gtest.h>

namespace fwd::common::config {
namespace {

TEST(BudgetTest, AmountsPerDayMonthOrTotalParseAndFormatBack) {
  auto usd = parseBudgets("10/month", true);
  ASSERT_TRUE(usd.ok()) << usd.status();
  EXPECT_EQ(*usd, (std::vector<Budget>{{10'000'000, BudgetPeriod::kMonth}}));
  usd = parseBudgets(" $1.50/day ; 40/month", true);
  ASSERT_TRUE(usd.ok()) << usd.status();
  EXPECT_EQ(formatBudgets(*usd, true), "1.5/day;40/month");
  auto tokens = parseBudgets("5000000/month;100000000/total", false);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(formatBudgets(*tokens, false), "5000000/month;100000000/total");
  EXPECT_EQ(parseBudgets("1/daily", false)->front().period, BudgetPeriod::kDay);
}

TEST(BudgetTest, BadBudgetsAreRefusedNamingThePart) {
  auto msg = [](std::string_view text, bool money) {
    auto b = parseBudgets(text, money);
    EXPECT_FALSE(b.ok()) << text;
    return std::string(b.status().message());
  };
  EXPECT_EQ(msg("10/fortnight", true),
            "budget \"10/fortnight\": unknown period \"fortnight\": use day, month or total (a "
            "budget renews at 00:00 UTC each day, or on the 1st of each month; a total one never "
            "does)");
  EXPECT_EQ(msg("0/month", true), "budget \"0/month\": a budget must be more than $0");
  EXPECT_EQ(msg("10", false), "budget \"10\": expected AMOUNT/PERIOD, e.g. 5000000/month");
  EXPECT_EQ(msg("1.5/day", false), "budget \"1.5/day\": \"1.5\" is not a whole number of tokens");
  EXPECT_EQ(msg("5/day;6/day", false), "budget \"6/day\": a day budget is given twice");
  EXPECT_NE(msg("-1/month", true).find("expected US dollars"), std::string::npos);
  EXPECT_NE(msg("2000000/month", true).find("at most 1000000"), std::string::npos);
  msg("", true);
  msg("10/month;", true);
}

TEST(BudgetTest, PeriodsAreUtcCalendarDaysAndMonths) {
  // 2026-12-31T23:59:59.999Z, then 2027-01-01T00:00:00Z.
  const std::int64_t last_ms = 1'798'761'599'999;
  const std::int64_t first_ms = last_ms + 1;
  EXPECT_EQ(budgetPeriodIndex(BudgetPeriod::kDay, last_ms) + 1,
            budgetPeriodIndex(BudgetPeriod::kDay, first_ms));
  EXPECT_EQ(budgetPeriodIndex(BudgetPeriod::kMonth, last_ms), (2026 - 1970) * 12 + 11);
  EXPECT_EQ(budgetPeriodIndex(BudgetPeriod::kMonth, first_ms), (2027 - 1970) * 12);
  EXPECT_EQ(budgetPeriodEnd(BudgetPeriod::kDay, last_ms), first_ms);
  EXPECT_EQ(budgetPeriodEnd(BudgetPeriod::kMonth, last_ms), first_ms);
  // February of a leap year ends on the 29th: 2028-02-16 -> 2028-03-01T00:00:00Z.
  EXPECT_EQ(budgetPeriodEnd(BudgetPeriod::kMonth, 1'834'272'000'000), 1'835'481'600'000);
  EXPECT_EQ(budgetPeriodIndex(BudgetPeriod::kTotal, first_ms), 0);
  EXPECT_EQ(budgetPeriodEnd(BudgetPeriod::kTotal, first_ms), -1);
}

}  // namespace
}  // namespace fwd::common::config
