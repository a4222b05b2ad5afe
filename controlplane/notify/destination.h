// Where a notifier's messages may go (issue 17). A webhook URL an admin gives is fetched by the
// control plane, inside the operator's network: pointed at loopback, link-local (cloud metadata
// at 169.254.169.254) or a private network, it would let whoever can add a notifier make the
// control plane call internal services. Such addresses are refused unless the notifier allows
// them (--allow-private-address), when it is added and again each time a message is sent, and
// the connection goes only to the addresses that were checked (a name that resolves elsewhere
// the second time gains nothing).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/cidr.h"

namespace fwd::controlplane::notify {

/// Loopback, unspecified, link-local, private (RFC 1918, RFC 4193), shared (RFC 6598),
/// benchmarking, multicast and broadcast addresses, IPv4 and IPv6.
bool isPrivateAddress(const common::net::IpAddress& address);

/// A webhook URL taken apart: http or https, a host, a port (default 80 or 443), the target
/// (path and query, "/" when empty).
struct WebhookUrl {
  bool tls = false;
  std::string host;  // without brackets
  std::uint16_t port = 0;
  std::string target;
};

/// INVALID_ARGUMENT naming what is wrong: not an absolute http(s) URL, user info in it, no host.
absl::StatusOr<WebhookUrl> parseWebhookUrl(const std::string& url);

/// "https://hooks.slack.com/…": scheme and host only, as fwdctl shows a stored URL (the path of a
/// Slack or Feishu webhook is its secret).
std::string redactedUrl(const std::string& url);

/// The addresses `url`'s host resolves to (getaddrinfo, blocking: an admin call's or the
/// sender's thread, never a data plane's), refused when any is
/// private and `allow_private` is false (FAILED_PRECONDITION naming the address), or when it
/// resolves to none (FAILED_PRECONDITION).
absl::StatusOr<std::vector<common::net::IpAddress>> vetDestination(const WebhookUrl& url,
                                                                   bool allow_private);

}  // namespace fwd::controlplane::notify
