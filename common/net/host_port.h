// "host:port" as written in --listen / --server flags: "127.0.0.1:7070", "[::1]:0",
// "localhost:8000", "0.0.0.0:8000".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fwd::common::net {

struct HostPort {
  std::string host;  // without IPv6 brackets
  std::uint16_t port = 0;

  /// Back to "host:port", bracketing IPv6 literals.
  std::string toString() const;
};

absl::StatusOr<HostPort> parseHostPort(std::string_view text);

}  // namespace fwd::common::net
