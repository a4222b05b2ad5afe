#include "controlplane/notify/destination.h"

#include <netdb.h>
#include <sys/socket.h>

#include <array>
#include <boost/url/parse.hpp>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace fwd::controlplane::notify {
namespace {

using common::net::Cidr;
using common::net::IpAddress;

const std::vector<Cidr>& privateBlocks() {
  static const std::vector<Cidr> blocks = [] {
    std::vector<Cidr> out;
    for (const char* text :
         {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
          "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
          "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"}) {
      out.push_back(*common::net::parseCidr(text));
    }
    return out;
  }();
  return blocks;
}

}  // namespace

bool isPrivateAddress(const IpAddress& address) {
  for (const Cidr& block : privateBlocks()) {
    if (block.contains(address)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<WebhookUrl> parseWebhookUrl(const std::string& url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    return absl::InvalidArgumentError("url \"" + url + "\": not an absolute URL");
  }
  WebhookUrl out;
  const std::string scheme = absl::AsciiStrToLower(std::string(parsed->scheme()));
  if (scheme != "http" && scheme != "https") {
    return absl::InvalidArgumentError("url: the scheme must be http or https, got \"" + scheme +
                                      "\"");
  }
  out.tls = scheme == "https";
  if (parsed->has_userinfo()) {
    return absl::InvalidArgumentError("url: user info (user:password@) is not allowed");
  }
  out.host = std::string(parsed->encoded_host_address());
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError("url: no host");
  }
  out.port = out.tls ? 443 : 80;
  if (parsed->has_port()) {
    std::uint32_t port = 0;
    if (!absl::SimpleAtoi(std::string(parsed->port()), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError("url: bad port \"" + std::string(parsed->port()) + "\"");
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  out.target = std::string(parsed->encoded_path());
  if (out.target.empty()) {
    out.target = "/";
  }
  if (parsed->has_query()) {
    out.target += "?" + std::string(parsed->encoded_query());
  }
  return out;
}

std::string redactedUrl(const std::string& url) {
  absl::StatusOr<WebhookUrl> parsed = parseWebhookUrl(url);
  if (!parsed.ok()) {
    return "(invalid)";
  }
  const bool v6 = parsed->host.find(':') != std::string::npos;
  std::string out = std::string(parsed->tls ? "https" : "http") + "://" +
                    (v6 ? "[" + parsed->host + "]" : parsed->host);
  if (parsed->port != (parsed->tls ? 443 : 80)) {
    out += ":" + std::to_string(parsed->port);
  }
  return out + (parsed->target == "/" ? "/" : "/…");
}

absl::StatusOr<std::vector<IpAddress>> vetDestination(const WebhookUrl& url, bool allow_private) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(url.host.c_str(), nullptr, &hints, &found); rc != 0) {
    return absl::FailedPreconditionError("url: cannot resolve \"" + url.host +
                                         "\": " + ::gai_strerror(rc));
  }
  std::vector<IpAddress> addresses;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    IpAddress ip;
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      std::array<std::uint8_t, 4> b;
      std::memcpy(b.data(), &in->sin_addr, 4);
      ip = common::net::ipv4(b[0], b[1], b[2], b[3]);
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    } else {
      continue;
    }
    if (std::find(addresses.begin(), addresses.end(), ip) == addresses.end()) {
      addresses.push_back(ip);
    }
  }
  ::freeaddrinfo(found);
  if (addresses.empty()) {
    return absl::FailedPreconditionError("url: \"" + url.host + "\" has no address");
  }
  if (!allow_private) {
    for (const IpAddress& ip : addresses) {
      if (isPrivateAddress(ip)) {
        return absl::FailedPreconditionError(
            "url: \"" + url.host + "\" is " + ip.toString() +
            ", a loopback, link-local or private address: refused unless the notifier allows "
            "it (--allow-private-address)");
      }
    }
  }
  return addresses;
}

}  // namespace fwd::controlplane::notify
