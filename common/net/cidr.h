// IP addresses and CIDR blocks for access rules and trusted proxies. IPv4 is held as its
// IPv4-mapped IPv6 form (::ffff:a.b.c.d), so a v4 client that reaches a dual-stack listener as
// ::ffff:10.0.0.1 matches 10.0.0.0/8, and one comparison serves both families. No sockets or
// resolution here: text in, bytes out.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fwd::common::net {

struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};

  /// An IPv4 address (or an IPv4-mapped IPv6 one).
  bool isV4() const;
  /// "10.0.0.1" for IPv4 (also when mapped), "2001:db8::1" for IPv6.
  std::string toString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

/// "10.0.0.1", "2001:db8::1", "::ffff:10.0.0.1" (the same as 10.0.0.1). No brackets, ports or
/// zone ids; surrounding spaces are not trimmed. nullopt when it is not an address.
std::optional<IpAddress> parseIp(std::string_view text);

/// An IPv4 address from its four bytes in network order.
IpAddress ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);

struct Cidr {
  IpAddress base;       // host bits zero
  int prefix_bits = 0;  // over the 128-bit form: an IPv4 /8 is 104

  bool contains(const IpAddress& address) const;
  /// Canonical text: "10.0.0.0/8", "2001:db8::/32", "10.0.0.1/32".
  std::string toString() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

/// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). INVALID_ARGUMENT saying
/// what is wrong: not an address, a prefix length out of range, or host bits set ("10.0.0.1/8:
/// host bits are set; the block is 10.0.0.0/8").
absl::StatusOr<Cidr> parseCidr(std::string_view text);

}  // namespace fwd::common::net
