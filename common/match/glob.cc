#include "common/match/glob.h"

namespace fwd::common::match {

bool globMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;  // position of the last '*' seen in pattern
  size_t star_t = 0;                     // text position that '*' currently swallows up to
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

bool isValidGlob(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 256) {
    return false;
  }
  for (char c : pattern) {
    if (c <= ' ' || c > '~') {
      return false;
    }
  }
  return true;
}

}  // namespace fwd::common::match
