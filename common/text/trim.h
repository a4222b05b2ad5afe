// Trimming the blanks (spaces and tabs) around a field of text: header values, list items.
#pragma once

#include <string_view>

namespace fwd::common::text {

/// `s` without the spaces and tabs at either end.
inline std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace fwd::common::text
