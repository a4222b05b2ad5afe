#include "common/config/budget.h"

#include <charconv>
#include <chrono>

#include "common/config/money.h"

namespace fwd::common::config {
namespace {

absl::Status bad(std::string_view part, const std::string& why) {
  return absl::InvalidArgumentError("budget \"" + std::string(part) + "\": " + why);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

absl::StatusOr<BudgetPeriod> parsePeriod(std::string_view part, std::string_view text) {
  if (text == "day" || text == "daily") {
    return BudgetPeriod::kDay;
  }
  if (text == "month" || text == "monthly") {
    return BudgetPeriod::kMonth;
  }
  if (text == "total") {
    return BudgetPeriod::kTotal;
  }
  return bad(part, "unknown period \"" + std::string(text) +
                       "\": use day, month or total (a budget renews at 00:00 UTC each day, or "
                       "on the 1st of each month; a total one never does)");
}

absl::StatusOr<std::uint64_t> parseAmount(std::string_view part, std::string_view text,
                                          bool money) {
  if (money) {
    auto micros = parseUsdMicros(text, kMaxBudgetMicros);
    if (!micros.ok()) {
      return bad(part, std::string(micros.status().message()));
    }
    if (*micros == 0) {
      return bad(part, "a budget must be more than $0");
    }
    return *micros;
  }
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return bad(part, "\"" + std::string(text) + "\" is not a whole number of tokens");
  }
  if (n == 0 || n > kMaxBudgetTokens) {
    return bad(part, "a token budget must be 1.." + std::to_string(kMaxBudgetTokens));
  }
  return n;
}

std::chrono::sys_days dayOf(std::int64_t unix_ms) {
  std::int64_t days = unix_ms / 86'400'000;
  if (unix_ms < 0 && unix_ms % 86'400'000 != 0) {
    --days;
  }
  return std::chrono::sys_days(std::chrono::days(days));
}

}  // namespace

absl::StatusOr<std::vector<Budget>> parseBudgets(std::string_view text, bool money) {
  std::vector<Budget> out;
  if (trim(text).empty()) {
    return absl::InvalidArgumentError(
        "budget: empty; expected AMOUNT/PERIOD, e.g. " +
        std::string(money ? "10/month or 1.50/day;40/month" : "5000000/month"));
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    std::string_view part = trim(
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    size_t slash = part.find('/');
    if (slash == std::string_view::npos) {
      return bad(part, std::string("expected AMOUNT/PERIOD, e.g. ") +
                           (money ? "10/month" : "5000000/month"));
    }
    auto amount = parseAmount(part, trim(part.substr(0, slash)), money);
    if (!amount.ok()) {
      return amount.status();
    }
    auto period = parsePeriod(part, trim(part.substr(slash + 1)));
    if (!period.ok()) {
      return period.status();
    }
    for (const Budget& b : out) {
      if (b.period == *period) {
        return bad(part, "a " + std::string(budgetPeriodName(*period)) + " budget is given twice");
      }
    }
    out.push_back({*amount, *period});
  }
  return out;
}

std::string formatBudgets(const std::vector<Budget>& budgets, bool money) {
  std::string out;
  for (const Budget& b : budgets) {
    if (!out.empty()) {
      out += ';';
    }
    out += money ? formatUsdMicros(b.amount) : std::to_string(b.amount);
    out += '/';
    out += budgetPeriodName(b.period);
  }
  return out;
}

std::string_view budgetPeriodName(BudgetPeriod period) {
  switch (period) {
    case BudgetPeriod::kDay:
      return "day";
    case BudgetPeriod::kMonth:
      return "month";
    case BudgetPeriod::kTotal:
      return "total";
  }
  return "month";
}

std::int64_t budgetPeriodIndex(BudgetPeriod period, std::int64_t unix_ms) {
  using namespace std::chrono;
  switch (period) {
    case BudgetPeriod::kDay:
      return dayOf(unix_ms).time_since_epoch().count();
    case BudgetPeriod::kMonth: {
      year_month_day ymd(dayOf(unix_ms));
      return (static_cast<int>(ymd.year()) - 1970) * 12 +
             static_cast<int>(static_cast<unsigned>(ymd.month())) - 1;
    }
    case BudgetPeriod::kTotal:
      return 0;
  }
  return 0;
}

std::int64_t budgetPeriodEnd(BudgetPeriod period, std::int64_t unix_ms) {
  using namespace std::chrono;
  switch (period) {
    case BudgetPeriod::kDay:
      return (dayOf(unix_ms) + days(1)).time_since_epoch().count() * 86'400'000;
    case BudgetPeriod::kMonth: {
      year_month_day ymd(dayOf(unix_ms));
      year_month next = year_month(ymd.year(), ymd.month()) + months(1);
      return sys_days(next / 1).time_since_epoch().count() * 86'400'000;
    }
    case BudgetPeriod::kTotal:
      return -1;
  }
  return -1;
}

}  // namespace fwd::common::config
