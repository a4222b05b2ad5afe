#include "dataplane/usage/answer_scan.h"

#include <simdjson.h>
#include <string.h>

#include <algorithm>
#include <array>

namespace fwd::dataplane::usage {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

size_t skipSpace(std::string_view t, size_t at) {
  while (at < t.size() && isSpace(t[at])) {
    ++at;
  }
  return at;
}

// The bytes objectEnd stops at: quotes and backslashes, brackets and braces. Everything else
// (digits, names, spaces) is skipped a byte at a time without a branch per kind.
constexpr std::array<bool, 256> kStructural = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : {'"', '\\', '{', '}', '[', ']'}) {
    t[c] = true;
  }
  return t;
}();

// Where the JSON object starting at `at` ends (just past its '}'), or npos when it does not end
// in `t`.
size_t objectEnd(std::string_view t, size_t at) {
  int depth = 0;
  bool in_string = false;
  const size_t n = t.size();
  for (size_t i = at; i < n; ++i) {
    while (i < n && !kStructural[static_cast<unsigned char>(t[i])]) {
      ++i;
    }
    if (i == n) {
      break;
    }
    const char c = t[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped byte, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

AnswerScanner::AnswerScanner(std::string& tail) : tail_(tail) {
  tail_.clear();
  tail_.reserve(2 * kTailBytes + simdjson::SIMDJSON_PADDING);
}

void AnswerScanner::feed(std::string_view b) {
  bytes_ += b.size();
  if (b.size() >= kTailBytes) {
    tail_.assign(b.substr(b.size() - kTailBytes));
    return;
  }
  // Grows to twice the tail, then drops all but the last kTailBytes at once: each byte fed is
  // moved at most once.
  if (tail_.size() + b.size() > 2 * kTailBytes) {
    tail_.erase(0, tail_.size() + b.size() - kTailBytes);
  }
  tail_.append(b);
}

namespace {

// After a key at `at` (its closing quote passed): where its value starts, or npos when no ':'
// follows (the string was a value, not a key).
size_t valueOf(std::string_view t, size_t at) {
  at = skipSpace(t, at);
  if (at >= t.size() || t[at] != ':') {
    return std::string_view::npos;
  }
  return skipSpace(t, at + 1);
}

}  // namespace

namespace {

// Calls `found(at)` for each position of `c` in `t`, last first, until it returns true.
// memrchr: the few candidates are found without a loop over the bytes.
template <typename Found>
void eachFromEnd(std::string_view t, char c, Found&& found) {
  for (size_t n = t.size(); n > 0;) {
    const void* p = ::memrchr(t.data(), c, n);
    if (p == nullptr) {
      return;
    }
    size_t at = static_cast<size_t>(static_cast<const char*>(p) - t.data());
    if (found(at)) {
      return;
    }
    n = at;
  }
}

}  // namespace

AnswerScanner::End AnswerScanner::end() const {
  End out;
  std::string_view t = tail_;
  // Keys and values are matched with their quotes: a quote inside a string is escaped
  // (\"usage\"), so text that mentions them does not match. The last "usage" whose value is an
  // object counts (a stream's chunks before its usage chunk carry "usage":null).
  eachFromEnd(t, 'u', [&](size_t at) {
    if (at == 0 || t[at - 1] != '"' || !t.substr(at).starts_with("usage\"")) {
      return false;
    }
    size_t v = valueOf(t, at + 6);
    if (v >= t.size() || t[v] != '{') {
      return false;
    }
    size_t end = objectEnd(t, v);
    if (end != std::string_view::npos) {
      out.usage = t.substr(v, end - v);
      out.readable = tail_.capacity() - v;
    }
    return true;
  });
  // "tool_calls" (a non-empty array, or the finish_reason value) or "function_call".
  eachFromEnd(t, '_', [&](size_t at) {
    // Most underscores are prompt_tokens, finish_reason and the like: "_ca" rules them out.
    if (at + 3 >= t.size() || t[at + 1] != 'c' || t[at + 2] != 'a') {
      return false;
    }
    std::string_view before = t.substr(0, at);
    std::string_view after = t.substr(at);
    if (after.starts_with("_calls\"") && before.ends_with("\"tool")) {
      size_t v = valueOf(t, at + 7);
      if (v == std::string_view::npos) {
        out.tool_calls = true;  // the value "tool_calls": finish_reason
      } else if (v < t.size() && t[v] == '[') {
        v = skipSpace(t, v + 1);
        out.tool_calls = v < t.size() && t[v] != ']';
      }
    } else if (after.starts_with("_call\"") && before.ends_with("\"function")) {
      out.tool_calls = true;
    }
    return out.tool_calls;
  });
  return out;
}

}  // namespace fwd::dataplane::usage
