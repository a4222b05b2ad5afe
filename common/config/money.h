// US dollars as fwd counts them: whole millionths of a dollar (micro-USD), so prices and sums
// of costs are exact. Operators write dollars as decimals ("2.50", "0.075", "10").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fwd::common::config {

/// "2.50" -> 2500000: a non-negative decimal with at most 6 digits after the point and at most
/// `max_micros`; anything else is refused with a message saying what is expected.
absl::StatusOr<std::uint64_t> parseUsdMicros(std::string_view text, std::uint64_t max_micros);

/// 2500000 -> "2.5", 75000 -> "0.075", 10000000 -> "10": the shortest exact decimal.
std::string formatUsdMicros(std::uint64_t micros);

}  // namespace fwd::common::config
