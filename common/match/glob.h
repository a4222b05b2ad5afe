// Glob patterns for model names and paths: '*' matches any run of characters (including none
// and including '/'); every other character matches itself, case-sensitively.
#pragma once

#include <string_view>

namespace fwd::common::match {

/// True when `text` matches `pattern` in full. Linear in practice (greedy with one backtrack
/// point), never exponential, so a hostile model name cannot stall a worker.
bool globMatch(std::string_view pattern, std::string_view text);

/// Patterns are restricted to printable ASCII without spaces, 1..256 characters.
bool isValidGlob(std::string_view pattern);

}  // namespace fwd::common::match
