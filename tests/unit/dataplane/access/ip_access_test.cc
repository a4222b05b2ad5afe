#include "dataplane/access/ip_access.h"

#include <gtest/gtest.h>

#include "tests/unit/dataplane/test_request.h"

namespace fwd::dataplane::access {
namespace {

using common::net::Cidr;
using common::net::IpAddress;

Cidr block(std::string_view text) { return *common::net::parseCidr(text); }
IpAddress ip(std::string_view text) { return *common::net::parseIp(text); }

TEST(IpAccessTest, DenyBeatsAllowAndAnAllowListAdmitsOnlyItsBlocks) {
  // No rules: everyone. Allow 10/8: only 10/8. Deny 10.1/16 inside it: refused even so. IPv6
  // and v4-mapped addresses follow the same rules.
  EXPECT_TRUE(admitted({}, {}, ip("203.0.113.9")));
  std::vector<Cidr> allow = {block("10.0.0.0/8"), block("2001:db8::/32")};
  std::vector<Cidr> deny = {block("10.1.0.0/16")};
  EXPECT_TRUE(admitted(allow, deny, ip("10.2.3.4")));
  EXPECT_TRUE(admitted(allow, deny, ip("::ffff:10.2.3.4")));
  EXPECT_FALSE(admitted(allow, deny, ip("10.1.3.4")));
  EXPECT_FALSE(admitted(allow, deny, ip("203.0.113.9")));
  EXPECT_TRUE(admitted(allow, deny, ip("2001:db8::5")));
  EXPECT_FALSE(admitted({}, deny, ip("::ffff:10.1.0.1")));
}

TEST(IpAccessTest, XForwardedForIsBelievedOnlyFromTrustedProxiesWalkingFromTheRight) {
  // The first untrusted address from the right is the client; what goes upstream is that
  // address, the trusted hops after it, and the peer. An untrusted peer's header is ignored.
  std::vector<Cidr> trusted = {block("10.0.0.0/8")};
  const IpAddress proxy = ip("10.0.0.2");

  ClientAddress spoofed = clientBehind(ip("198.51.100.7"), "198.51.100.7", "1.2.3.4", trusted);
  EXPECT_EQ(spoofed.ip, ip("198.51.100.7"));
  EXPECT_EQ(spoofed.forwarded_for, "");

  ClientAddress one = clientBehind(proxy, "10.0.0.2", "203.0.113.9", trusted);
  EXPECT_EQ(one.ip, ip("203.0.113.9"));
  EXPECT_EQ(one.forwarded_for, "203.0.113.9, 10.0.0.2");

  // The client wrote "6.6.6.6" itself; the trusted hop 10.0.0.3 reported 203.0.113.9.
  ClientAddress chain = clientBehind(proxy, "10.0.0.2", "6.6.6.6, 203.0.113.9 ,10.0.0.3", trusted);
  EXPECT_EQ(chain.ip, ip("203.0.113.9"));
  EXPECT_EQ(chain.forwarded_for, "203.0.113.9 ,10.0.0.3, 10.0.0.2");

  // Every hop trusted: the leftmost is the client. Garbage stops the walk at the last good hop.
  ClientAddress all = clientBehind(proxy, "10.0.0.2", "10.9.9.9, 10.0.0.3", trusted);
  EXPECT_EQ(all.ip, ip("10.9.9.9"));
  ClientAddress junk = clientBehind(proxy, "10.0.0.2", "203.0.113.9, not-an-ip, 10.0.0.3", trusted);
  EXPECT_EQ(junk.ip, ip("10.0.0.3"));
  EXPECT_EQ(junk.forwarded_for, "10.0.0.3, 10.0.0.2");
  ClientAddress ipv6 = clientBehind(proxy, "10.0.0.2", "2001:db8::7", trusted);
  EXPECT_EQ(ipv6.ip, ip("2001:db8::7"));
}

TEST(IpAccessTest, RefusalsAre403IpNotAllowedForGlobalAndKeyRules) {
  // Global rules refuse at the client hook, a key's at the key hook; each names the address.
  testing::TestRequest request;
  pipeline::RequestContext& ctx = request.ctx();
  ctx.client.ip = ip("203.0.113.9");
  ctx.client.address = "203.0.113.9";
  config::IpRules rules;
  rules.deny.push_back(block("203.0.113.0/24"));
  IpAccess global(rules, false);
  EXPECT_EQ(global.hooks(), unsigned{policy::kOnClient});
  auto refused = global.onClient(ctx, nullptr);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(refused->code, "ip_not_allowed");
  EXPECT_EQ(refused->message, "Requests from 203.0.113.9 are not allowed.");

  IpAccess per_key(config::IpRules{}, true);
  EXPECT_FALSE(per_key.onClient(ctx, nullptr).has_value());
  config::KeyEntry key;
  key.allow_ips.push_back(block("10.0.0.0/8"));
  ctx.key = &key;
  auto by_key = per_key.onKey(ctx, nullptr);
  ASSERT_TRUE(by_key.has_value());
  EXPECT_EQ(by_key->message, "Requests from 203.0.113.9 are not allowed for this API key.");
  ctx.client_ip = ip("10.0.0.1");
  EXPECT_FALSE(per_key.onKey(ctx, nullptr).has_value());
}

}  // namespace
}  // namespace fwd::dataplane::access
