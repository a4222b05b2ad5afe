// Rates as operators write them for limits (issue 16), in the syntax of the `limits` library that
// openai-forward users know: COUNT/[N]UNIT, e.g. "60/minute", "100/2minutes", "10/second",
// "1000/day", several windows joined by ';' ("60/minute;600/hour"), each enforced.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fwd::common::config {

struct Rate {
  std::uint64_t count = 0;      // at most this many ...
  std::chrono::seconds window;  // ... per this long
  bool operator==(const Rate&) const = default;
};

/// Parses one or more ';'-separated rates. UNIT is second, minute, hour or day (singular or
/// plural), optionally after a multiplier ("2minutes", "2 minutes"). Refuses a count of 0 or
/// over 10^12, a window over 366 days, the same window twice, and anything else with a message
/// naming the part that is wrong.
absl::StatusOr<std::vector<Rate>> parseRates(std::string_view text);

/// The canonical spelling: "60/minute;600/hour", "100/2minutes".
std::string formatRates(const std::vector<Rate>& rates);

/// How request-rate windows count, numbered as fwd.v1.RateStrategy.
enum class RateStrategy {
  kFixedWindow = 1,
  kSlidingWindow = 2,
  kFixedWindowElasticExpiry = 3,
};

/// "fixed-window", "sliding-window" (also "moving-window", the seed's name) or
/// "fixed-window-elastic-expiry"; any other text is refused with the list.
absl::StatusOr<RateStrategy> parseRateStrategy(std::string_view text);
/// The name parseRateStrategy takes.
std::string_view rateStrategyName(RateStrategy strategy);

/// What a limited key's requests get while Redis is unreachable, numbered as fwd.v1.RedisDown.
enum class RedisDown {
  kFailOpen = 1,
  kFailClosed = 2,
};

/// "fail-open" or "fail-closed"; any other text is refused with the list.
absl::StatusOr<RedisDown> parseRedisDown(std::string_view text);
std::string_view redisDownName(RedisDown mode);

}  // namespace fwd::common::config
