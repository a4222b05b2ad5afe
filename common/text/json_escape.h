// Text inside a JSON string: quotes, backslashes and control characters escaped (\n, \r, \t, the
// rest as \u00XX); every other byte as it is (the text is UTF-8 already). Header-only: the data
// plane's answer writers and the fuzz targets use it without linking anything else.
#pragma once

#include <string>
#include <string_view>

namespace fwd::common::text {

inline void appendJsonEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
}

}  // namespace fwd::common::text
