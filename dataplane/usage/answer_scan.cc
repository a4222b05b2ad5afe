#include "dataplane/usage/answer_scan.h"

#include <algorithm>
#include <cstring>

namespace fwd::dataplane::usage {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

size_t skipSpace(std::string_view t, size_t at) {
  while (at < t.size() && isSpace(t[at])) {
    ++at;
  }
  return at;
}

// Where the JSON object starting at `at` ends (just past its '}'), or npos when it does not end
// in `t`.
size_t objectEnd(std::string_view t, size_t at) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = at; i < t.size(); ++i) {
    char c = t[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
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

AnswerScanner::End AnswerScanner::end() const {
  End out;
  std::string_view t = tail_;
  size_t usage_at = std::string_view::npos;
  // Keys and values are found at their opening quote; a quote inside a string is escaped
  // (\"usage\"), so text that mentions them does not match.
  for (size_t q = t.find('"'); q != std::string_view::npos; q = t.find('"', q + 1)) {
    std::string_view rest = t.substr(q + 1);
    if (rest.starts_with("usage\"")) {
      size_t v = skipSpace(t, q + 7);
      if (v < t.size() && t[v] == ':') {
        v = skipSpace(t, v + 1);
        if (v < t.size() && t[v] == '{') {
          usage_at = v;
        }
      }
    } else if (rest.starts_with("tool_calls\"")) {
      size_t v = skipSpace(t, q + 12);
      if (v < t.size() && t[v] == ':') {
        v = skipSpace(t, v + 1);
        if (v < t.size() && t[v] == '[') {
          v = skipSpace(t, v + 1);
          out.tool_calls = out.tool_calls || (v < t.size() && t[v] != ']');
        }
      } else {
        out.tool_calls = true;  // the value "tool_calls": finish_reason
      }
    } else if (rest.starts_with("function_call\"")) {
      out.tool_calls = true;
    }
  }
  if (usage_at != std::string_view::npos) {
    size_t end = objectEnd(t, usage_at);
    if (end != std::string_view::npos) {
      out.usage = t.substr(usage_at, end - usage_at);
    }
  }
  return out;
}

}  // namespace fwd::dataplane::usage
