// Stream modes as operators write them (fwdctl --stream-mode, the store's edits column):
// "passthrough", "stream", "non-stream", numbered as fwd.v1.StreamMode.
#pragma once

#include <optional>
#include <string_view>

namespace fwd::common::config {

/// fwd.v1.StreamMode's number for `name`, or nullopt for a name that is none.
inline std::optional<int> parseStreamMode(std::string_view name) {
  if (name == "passthrough") {
    return 1;
  }
  if (name == "stream") {
    return 2;
  }
  if (name == "non-stream") {
    return 3;
  }
  return std::nullopt;
}

/// The name of fwd.v1.StreamMode `mode`; "" for STREAM_MODE_UNSPECIFIED or a number that is none.
inline std::string_view streamModeName(int mode) {
  switch (mode) {
    case 1:
      return "passthrough";
    case 2:
      return "stream";
    case 3:
      return "non-stream";
    default:
      return "";
  }
}

}  // namespace fwd::common::config
