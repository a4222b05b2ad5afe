#include "common/net/cidr.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace fwd::common::net {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// The first `bits` bits of `a` and `b` agree.
bool samePrefix(const IpAddress& a, const IpAddress& b, int bits) {
  int whole = bits / 8;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), static_cast<size_t>(whole)) != 0) {
    return false;
  }
  int rest = bits % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a.bytes[static_cast<size_t>(whole)] & mask) ==
         (b.bytes[static_cast<size_t>(whole)] & mask);
}

IpAddress masked(IpAddress a, int bits) {
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(bits - i * 8, 0, 8);
    a.bytes[static_cast<size_t>(i)] &=
        static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  return a;
}

}  // namespace

bool IpAddress::isV4() const {
  return std::memcmp(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
}

std::string IpAddress::toString() const {
  char text[INET6_ADDRSTRLEN];
  if (isV4()) {
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

std::optional<IpAddress> parseIp(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress out;
  if (inet_pton(AF_INET, buf, out.bytes.data() + 12) == 1) {
    std::memcpy(out.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size());
    return out;
  }
  if (inet_pton(AF_INET6, buf, out.bytes.data()) == 1) {
    return out;
  }
  return std::nullopt;
}

IpAddress ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress out;
  std::memcpy(out.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size());
  out.bytes[12] = a;
  out.bytes[13] = b;
  out.bytes[14] = c;
  out.bytes[15] = d;
  return out;
}

bool Cidr::contains(const IpAddress& address) const {
  return samePrefix(base, address, prefix_bits);
}

std::string Cidr::toString() const {
  int bits = base.isV4() ? prefix_bits - 96 : prefix_bits;
  return base.toString() + "/" + std::to_string(bits);
}

absl::StatusOr<Cidr> parseCidr(std::string_view text) {
  std::string_view address_text = text;
  std::optional<int> length;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    address_text = text.substr(0, slash);
    std::string_view digits = text.substr(slash + 1);
    int n = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      return absl::InvalidArgumentError("\"" + std::string(text) +
                                        "\": the prefix length after '/' is not a number");
    }
    length = n;
  }
  std::optional<IpAddress> address = parseIp(address_text);
  if (!address) {
    return absl::InvalidArgumentError("\"" + std::string(text) +
                                      "\" is not an IP address or CIDR block (e.g. 10.0.0.0/8, "
                                      "192.168.1.7, 2001:db8::/32)");
  }
  // A v4 address written in its mapped v6 form takes a v6 prefix length (::ffff:10.0.0.0/104).
  bool v4_syntax = address_text.find(':') == std::string_view::npos;
  int max = v4_syntax ? 32 : 128;
  int bits = length.value_or(max);
  if (bits < 0 || bits > max) {
    return absl::InvalidArgumentError("\"" + std::string(text) +
                                      "\": the prefix length must be 0 to " + std::to_string(max));
  }
  Cidr out;
  out.prefix_bits = v4_syntax ? bits + 96 : bits;
  if (!v4_syntax && address->isV4() && out.prefix_bits < 96) {
    return absl::InvalidArgumentError(
        "\"" + std::string(text) + "\": an IPv4-mapped block needs a prefix length of 96 or more");
  }
  out.base = masked(*address, out.prefix_bits);
  if (!(out.base == *address)) {
    return absl::InvalidArgumentError("\"" + std::string(text) +
                                      "\": host bits are set; the block is " + out.toString());
  }
  return out;
}

}  // namespace fwd::common::net
