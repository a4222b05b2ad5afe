#include "dataplane/proxy/chunked_scanner.h"

#include <algorithm>
#include <cstring>

#include "common/net/hex.h"

namespace fwd::dataplane::proxy {

size_t ChunkedScanner::findLf(std::string_view in, size_t from) {
  const void* lf = std::memchr(in.data() + from, '\n', in.size() - from);
  return lf == nullptr ? std::string_view::npos
                       : static_cast<size_t>(static_cast<const char*>(lf) - in.data());
}

size_t ChunkedScanner::sizeLineFastPath(std::string_view in, size_t pos) {
  constexpr size_t kMaxDigits = 8;
  std::uint64_t size = 0;
  size_t i = pos;
  const size_t stop = std::min(in.size(), pos + kMaxDigits + 1);
  for (; i < stop; ++i) {
    int v = common::net::hexDigitValue(in[i]);
    if (v < 0) {
      break;
    }
    size = size * 16 + static_cast<std::uint64_t>(v);
  }
  if (i == pos || i - pos > kMaxDigits || in.size() - i < 2 || in[i] != '\r' || in[i + 1] != '\n') {
    return 0;
  }
  if (size == 0) {
    state_ = State::kTrailer;
  } else {
    remaining_ = size;
    state_ = State::kData;
  }
  return i + 2;
}

const char* ChunkedScanner::parseSizeLine(std::string_view line) {
  // chunk-size [ chunk-ext ] CRLF. Strict on purpose: the bytes go to the client unchanged, so
  // fwd must read them exactly as any client would (no bare LF, no stray control characters).
  if (line.empty() || line.back() != '\r') {
    return "chunk-size line not ended by CRLF";
  }
  line.remove_suffix(1);
  std::uint64_t size = 0;
  size_t i = 0;
  for (; i < line.size(); ++i) {
    int v = common::net::hexDigitValue(line[i]);
    if (v < 0) {
      break;
    }
    if (size > (std::uint64_t{1} << 59)) {
      return "chunk size too large";
    }
    size = size * 16 + static_cast<std::uint64_t>(v);
  }
  if (i == 0) {
    return "chunk size is not a hexadecimal number";
  }
  // Extensions: optional whitespace, then ';' and visible characters (RFC 9112 §7.1.1). Their
  // meaning is the endpoints' business; fwd checks only that they cannot break the framing.
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
    ++i;
  }
  if (i < line.size()) {
    if (line[i] != ';') {
      return "chunk size followed by something other than an extension";
    }
    for (; i < line.size(); ++i) {
      auto c = static_cast<unsigned char>(line[i]);
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return "control character in a chunk extension";
      }
    }
  }
  if (size == 0) {
    state_ = State::kTrailer;
  } else {
    remaining_ = size;
    state_ = State::kData;
  }
  return nullptr;
}

}  // namespace fwd::dataplane::proxy
