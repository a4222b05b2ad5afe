// One hexadecimal digit's value, for the parsers that read hex by hand (chunk sizes,
// percent-encoding).
#pragma once

#include <array>
#include <cstdint>

namespace fwd::common::net {

namespace detail {
// -1 except at '0'-'9', 'a'-'f', 'A'-'F': one load per digit on the relay's hot path.
constexpr std::array<std::int8_t, 256> kHexValues = [] {
  std::array<std::int8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = c >= '0' && c <= '9'   ? static_cast<std::int8_t>(c - '0')
           : c >= 'a' && c <= 'f' ? static_cast<std::int8_t>(c - 'a' + 10)
           : c >= 'A' && c <= 'F' ? static_cast<std::int8_t>(c - 'A' + 10)
                                  : std::int8_t{-1};
  }
  return t;
}();
}  // namespace detail

/// 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for anything else.
constexpr int hexDigitValue(char c) { return detail::kHexValues[static_cast<unsigned char>(c)]; }

}  // namespace fwd::common::net
