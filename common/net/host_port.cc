#include "common/net/host_port.h"

#include <charconv>


namespace fwd::common::net {

std::string HostPort::toString() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

absl::StatusOr<HostPort> parseHostPort(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError("invalid address \"" + std::string(text) + "\": " +
                                      std::string(why) + " (write host:port, e.g. 127.0.0.1:7070)");
  };
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("bad IPv6 literal");
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return bad("missing port");
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return bad("IPv6 addresses need brackets");
    }
  }
  if (out.host.empty()) {
    return bad("missing host");
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535) {
    return bad("port must be 0..65535");
  }
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

}  // namespace fwd::common::net
