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

namespace {

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return c != '\0' && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), a name being a
// token and a value a token or a quoted-string. Found by fuzz_chunked_scanner: checking only for
// control characters let "5;x=\xff..." through, which fwd then relayed and clients refuse.
const char* checkChunkExtensions(std::string_view ext) {
  size_t i = 0;
  auto skipBlanks = [&] {
    while (i < ext.size() && (ext[i] == ' ' || ext[i] == '\t')) {
      ++i;
    }
  };
  auto skipToken = [&] {
    size_t start = i;
    while (i < ext.size() && isTokenChar(ext[i])) {
      ++i;
    }
    return i > start;
  };
  // Blanks may stand around ';' and '=', nowhere else: "3 \r\n" is not a size line.
  while (i < ext.size()) {
    skipBlanks();
    if (i == ext.size() || ext[i] != ';') {
      return "chunk size followed by something other than an extension";
    }
    ++i;
    skipBlanks();
    if (!skipToken()) {
      return "malformed chunk extension name";
    }
    const size_t after_name = i;
    skipBlanks();
    if (i == ext.size() || ext[i] != '=') {
      i = after_name;  // no value: what follows must be the next ';'
      continue;
    }
    ++i;
    skipBlanks();
    if (i < ext.size() && ext[i] == '"') {
      // quoted-string: qdtext or quoted-pair, obs-text allowed, no control characters.
      for (++i;; ++i) {
        if (i == ext.size()) {
          return "unterminated quoted chunk extension value";
        }
        auto c = static_cast<unsigned char>(ext[i]);
        if (c == '"') {
          ++i;
          break;
        }
        if (c == '\\') {
          if (++i == ext.size()) {
            return "unterminated quoted chunk extension value";
          }
          c = static_cast<unsigned char>(ext[i]);
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
          return "control character in a chunk extension";
        }
      }
    } else if (!skipToken()) {
      return "malformed chunk extension value";
    }
  }
  return nullptr;
}

}  // namespace

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
  // Extensions (RFC 9112 §7.1.1): their meaning is the endpoints' business, but they reach the
  // client as they are, so they must be exactly what a client's parser accepts.
  if (const char* error = checkChunkExtensions(line.substr(i))) {
    return error;
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
