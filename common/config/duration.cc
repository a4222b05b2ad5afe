#include "common/config/duration.h"

#include <cstdint>
#include <limits>
#include <string>

namespace fwd::common::config {

absl::StatusOr<std::chrono::milliseconds> parseDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError("invalid duration \"" + std::string(text) + "\": " +
                                      std::string(why) + " (write e.g. 500ms, 30s, 2m, 1h, 1m30s)");
  };
  if (text.empty()) {
    return bad("empty");
  }
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 2;
  std::int64_t total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      return bad("expected a number");
    }
    std::int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const int digit = text[i] - '0';
      if (n > (kMax - digit) / 10) {
        return bad("too large");
      }
      n = n * 10 + digit;
      ++i;
    }
    size_t unit_start = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) {
      ++i;
    }
    std::string_view unit = text.substr(unit_start, i - unit_start);
    std::int64_t scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else if (unit.empty()) {
      return bad("missing unit");
    } else {
      return bad("unknown unit \"" + std::string(unit) + "\"");
    }
    // The bound is on the total in milliseconds, whatever the unit: formatDuration's spelling
    // of any accepted value (in its largest exact unit) must parse again.
    if (n > (kMax - total_ms) / scale) {
      return bad("too large");
    }
    total_ms += n * scale;
  }
  return std::chrono::milliseconds(total_ms);
}

std::string formatDuration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) {
    return "0s";
  }
  if (ms % 3'600'000 == 0) {
    return std::to_string(ms / 3'600'000) + "h";
  }
  if (ms % 60'000 == 0) {
    return std::to_string(ms / 60'000) + "m";
  }
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

}  // namespace fwd::common::config
