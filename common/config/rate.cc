#include "common/config/rate.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "common/text/trim.h"

namespace fwd::common::config {
namespace {

constexpr std::uint64_t kMaxCount = 1'000'000'000'000ull;
constexpr std::chrono::seconds kMaxWindow = std::chrono::hours(24 * 366);
constexpr char kShape[] =
    "expected COUNT/[N]UNIT such as 60/minute or 100/2minutes, UNIT one of second, minute, hour, "
    "day; several joined by ';'";

struct Unit {
  std::string_view name;
  std::chrono::seconds length;
};
constexpr Unit kUnits[] = {{"second", std::chrono::seconds(1)},
                           {"minute", std::chrono::minutes(1)},
                           {"hour", std::chrono::hours(1)},
                           {"day", std::chrono::hours(24)}};

using text::trimBlanks;

// Leading decimal digits of `s` as a number (consumed); nullopt when there are none or too many.
std::optional<std::uint64_t> number(std::string_view& s) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') {
    ++digits;
  }
  std::uint64_t value = 0;
  if (digits == 0 || digits > 19 ||
      std::from_chars(s.data(), s.data() + digits, value).ec != std::errc()) {
    return std::nullopt;
  }
  s.remove_prefix(digits);
  return value;
}

absl::Status invalid(std::string_view part, std::string_view why) {
  return absl::InvalidArgumentError("invalid rate \"" + std::string(part) +
                                    "\": " + std::string(why));
}

absl::StatusOr<Rate> parseOne(std::string_view part) {
  std::string_view s = trimBlanks(part);
  if (!s.empty() && s.front() == '-') {
    return invalid(part, "the count must be a whole number from 1 to 1000000000000");
  }
  std::optional<std::uint64_t> count = number(s);
  s = trimBlanks(s);
  if (!count || s.empty() || s.front() != '/') {
    return invalid(part, kShape);
  }
  s = trimBlanks(s.substr(1));
  std::uint64_t multiplier = 1;
  if (!s.empty() && s.front() >= '0' && s.front() <= '9') {
    std::optional<std::uint64_t> n = number(s);
    if (!n || *n == 0) {
      return invalid(part, "the window's multiplier must be 1 or more");
    }
    multiplier = *n;
    s = trimBlanks(s);
  }
  if (s.size() > 1 && s.back() == 's') {
    s.remove_suffix(1);
  }
  auto unit = std::find_if(std::begin(kUnits), std::end(kUnits),
                           [s](const Unit& u) { return u.name == s; });
  if (unit == std::end(kUnits)) {
    return invalid(part, kShape);
  }
  if (*count == 0 || *count > kMaxCount) {
    return invalid(part, "the count must be 1 to 1000000000000");
  }
  if (multiplier > static_cast<std::uint64_t>(kMaxWindow / unit->length)) {
    return invalid(part, "the window may be at most 366 days");
  }
  return Rate{*count, unit->length * static_cast<std::int64_t>(multiplier)};
}

}  // namespace

absl::StatusOr<std::vector<Rate>> parseRates(std::string_view text) {
  std::vector<Rate> rates;
  if (trimBlanks(text).empty()) {
    return invalid(text, kShape);
  }
  while (true) {
    size_t semicolon = text.find(';');
    absl::StatusOr<Rate> rate = parseOne(text.substr(0, semicolon));
    if (!rate.ok()) {
      return rate.status();
    }
    for (const Rate& seen : rates) {
      if (seen.window == rate->window) {
        return invalid(trimBlanks(text.substr(0, semicolon)),
                       "a window of that length is given twice; keep one");
      }
    }
    rates.push_back(*rate);
    if (semicolon == std::string_view::npos) {
      return rates;
    }
    text.remove_prefix(semicolon + 1);
  }
}

std::string formatRates(const std::vector<Rate>& rates) {
  std::string out;
  for (const Rate& r : rates) {
    const Unit* unit = &kUnits[0];
    for (const Unit& u : kUnits) {
      if (r.window % u.length == std::chrono::seconds(0)) {
        unit = &u;  // the largest unit that divides the window
      }
    }
    std::int64_t n = r.window / unit->length;
    out += (out.empty() ? "" : ";") + std::to_string(r.count) + "/" +
           (n == 1 ? std::string(unit->name) : std::to_string(n) + std::string(unit->name) + "s");
  }
  return out;
}

absl::StatusOr<RateStrategy> parseRateStrategy(std::string_view text) {
  std::string_view t = trimBlanks(text);
  for (RateStrategy s : {RateStrategy::kFixedWindow, RateStrategy::kSlidingWindow,
                         RateStrategy::kFixedWindowElasticExpiry}) {
    if (t == rateStrategyName(s)) {
      return s;
    }
  }
  if (t == "moving-window") {
    return RateStrategy::kSlidingWindow;
  }
  return absl::InvalidArgumentError(
      "invalid rate strategy \"" + std::string(text) +
      "\": expected fixed-window, sliding-window or fixed-window-elastic-expiry");
}

std::string_view rateStrategyName(RateStrategy strategy) {
  switch (strategy) {
    case RateStrategy::kSlidingWindow:
      return "sliding-window";
    case RateStrategy::kFixedWindowElasticExpiry:
      return "fixed-window-elastic-expiry";
    case RateStrategy::kFixedWindow:
      break;
  }
  return "fixed-window";
}

absl::StatusOr<RedisDown> parseRedisDown(std::string_view text) {
  std::string_view t = trimBlanks(text);
  for (RedisDown m : {RedisDown::kFailOpen, RedisDown::kFailClosed}) {
    if (t == redisDownName(m)) {
      return m;
    }
  }
  return absl::InvalidArgumentError("invalid Redis-down mode \"" + std::string(text) +
                                    "\": expected fail-open or fail-closed");
}

std::string_view redisDownName(RedisDown mode) {
  return mode == RedisDown::kFailClosed ? "fail-closed" : "fail-open";
}

}  // namespace fwd::common::config
