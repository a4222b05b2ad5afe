// Budgets as operators write them (issue 16): an amount per calendar period, in US dollars or in
// tokens. "10/month", "1.50/day;40/month", "5000000/total". A period is a UTC calendar day or
// month (a budget renews at 00:00 UTC, on the 1st for a month), or the key's whole life.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fwd::common::config {

/// Numbered as fwd.v1.BudgetPeriod.
enum class BudgetPeriod {
  kDay = 1,
  kMonth = 2,
  kTotal = 3,
};

struct Budget {
  std::uint64_t amount = 0;  // micro-USD (money) or tokens
  BudgetPeriod period = BudgetPeriod::kMonth;
  bool operator==(const Budget&) const = default;
};

/// The most a money budget may be: US$1,000,000 (in micro-USD); a token budget: 10^15.
inline constexpr std::uint64_t kMaxBudgetMicros = 1'000'000'000'000;
inline constexpr std::uint64_t kMaxBudgetTokens = 1'000'000'000'000'000;

/// Parses one or more ';'-separated AMOUNT/PERIOD, PERIOD one of day, month, total. For money
/// the amount is dollars ("10", "2.50", "$10"), exact to the millionth; for tokens a whole
/// number. Refuses 0, an amount over the maximum, a period given twice and anything else, with
/// a message naming the part that is wrong.
absl::StatusOr<std::vector<Budget>> parseBudgets(std::string_view text, bool money);

/// The canonical spelling: "10/month", "1.5/day;40/month".
std::string formatBudgets(const std::vector<Budget>& budgets, bool money);

std::string_view budgetPeriodName(BudgetPeriod period);

/// The period `unix_ms` falls in: days since 1970-01-01 for kDay, months since 1970-01 for
/// kMonth, 0 for kTotal. UTC.
std::int64_t budgetPeriodIndex(BudgetPeriod period, std::int64_t unix_ms);
/// When that period ends (unix ms); -1 for kTotal, which never does.
std::int64_t budgetPeriodEnd(BudgetPeriod period, std::int64_t unix_ms);

}  // namespace fwd::common::config
