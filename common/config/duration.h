// Human durations as operators write them on the command line and see them in output:
// "500ms", "30s", "2m", "1h", and sums such as "1m30s".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fwd::common::config {

/// Parses "<number><unit>" runs, unit one of ms, s, m, h ("1m30s" = 90s). Rejects a bare
/// number, an unknown unit, a negative value and anything above ~292 years.
absl::StatusOr<std::chrono::milliseconds> parseDuration(std::string_view text);

/// The shortest exact spelling in the largest whole unit: 1500ms -> "1500ms", 90000ms -> "90s",
/// 120000ms -> "2m", 0 -> "0s".
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace fwd::common::config
