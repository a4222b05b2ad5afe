#include "common/config/money.h"

#include "common/text/trim.h"

namespace fwd::common::config {

absl::StatusOr<std::uint64_t> parseUsdMicros(std::string_view text, std::uint64_t max_micros) {
  std::string_view t = text::trimBlanks(text);
  if (!t.empty() && t.front() == '$') {
    t.remove_prefix(1);
  }
  auto bad = [&] {
    return absl::InvalidArgumentError(
        "invalid amount \"" + std::string(text) +
        "\": expected US dollars as a decimal such as 2.50 or 0.075 (at most 6 decimals, at most " +
        formatUsdMicros(max_micros) + ")");
  };
  size_t point = t.find('.');
  std::string_view whole = t.substr(0, point);
  std::string_view frac =
      point == std::string_view::npos ? std::string_view() : t.substr(point + 1);
  if ((whole.empty() && frac.empty()) || frac.size() > 6 || whole.size() > 13 ||
      (point != std::string_view::npos && frac.empty())) {
    return bad();
  }
  std::uint64_t micros = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') {
      return bad();
    }
    micros = micros * 10 + static_cast<std::uint64_t>(c - '0');
  }
  std::uint64_t scale = 1'000'000;
  micros *= scale;
  for (char c : frac) {
    if (c < '0' || c > '9') {
      return bad();
    }
    scale /= 10;
    micros += static_cast<std::uint64_t>(c - '0') * scale;
  }
  if (micros > max_micros) {
    return bad();
  }
  return micros;
}

std::string formatUsdMicros(std::uint64_t micros) {
  std::string out = std::to_string(micros / 1'000'000);
  std::uint64_t frac = micros % 1'000'000;
  if (frac != 0) {
    std::string digits = std::to_string(frac);
    digits.insert(0, 6 - digits.size(), '0');
    while (digits.back() == '0') {
      digits.pop_back();
    }
    out += '.';
    out += digits;
  }
  return out;
}

}  // namespace fwd::common::config
