#include "common/net/cidr.h"

#include <gtest/gtest.h>

namespace fwd::common::net {
namespace {

Cidr cidr(std::string_view text) {
  auto c = parseCidr(text);
  EXPECT_TRUE(c.ok()) << text << ": " << c.status();
  return c.ok() ? *c : Cidr{};
}

IpAddress ip(std::string_view text) {
  auto a = parseIp(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

TEST(CidrTest, IPv4AndIPv6BlocksContainTheirAddressesOnly) {
  // /8, /32 (a bare address), /0, and v6 /32, /128: inside and just outside each.
  EXPECT_TRUE(cidr("10.0.0.0/8").contains(ip("10.255.1.2")));
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("11.0.0.0")));
  EXPECT_TRUE(cidr("192.168.1.7").contains(ip("192.168.1.7")));
  EXPECT_FALSE(cidr("192.168.1.7").contains(ip("192.168.1.8")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
  EXPECT_TRUE(cidr("172.16.0.0/12").contains(ip("172.31.255.255")));
  EXPECT_FALSE(cidr("172.16.0.0/12").contains(ip("172.32.0.0")));
  EXPECT_TRUE(cidr("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(cidr("2001:db8::/32").contains(ip("2001:db9::1")));
  EXPECT_TRUE(cidr("::1").contains(ip("::1")));
  EXPECT_FALSE(cidr("::1").contains(ip("::2")));
  EXPECT_TRUE(cidr("::/0").contains(ip("2001:db8::1")));
}

TEST(CidrTest, AnIPv4MappedAddressIsTheIPv4Address) {
  // ::ffff:10.0.0.1 (how a dual-stack socket shows a v4 peer) matches 10.0.0.0/8, prints as v4,
  // and a mapped block is the same block as its v4 form.
  EXPECT_EQ(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
  EXPECT_TRUE(ip("::ffff:10.0.0.1").isV4());
  EXPECT_EQ(ip("::ffff:10.0.0.1").toString(), "10.0.0.1");
  EXPECT_TRUE(cidr("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
  EXPECT_EQ(cidr("::ffff:10.0.0.0/104"), cidr("10.0.0.0/8"));
  EXPECT_EQ(ipv4(127, 0, 0, 1), ip("127.0.0.1"));
  EXPECT_FALSE(ip("::1").isV4());
}

TEST(CidrTest, BlocksPrintInCanonicalForm) {
  // The control plane stores this form, so "2001:DB8:0::/32" and "2001:db8::/32" are one rule.
  EXPECT_EQ(cidr("10.0.0.0/8").toString(), "10.0.0.0/8");
  EXPECT_EQ(cidr("192.168.1.7").toString(), "192.168.1.7/32");
  EXPECT_EQ(cidr("2001:DB8:0::/32").toString(), "2001:db8::/32");
  EXPECT_EQ(cidr("::ffff:10.0.0.0/104").toString(), "10.0.0.0/8");
}

TEST(CidrTest, MalformedBlocksSayWhatIsWrong) {
  // Not an address, a bad or out-of-range length, host bits set (with the block meant).
  auto message = [](std::string_view text) {
    auto c = parseCidr(text);
    EXPECT_FALSE(c.ok()) << text;
    return std::string(c.status().message());
  };
  EXPECT_EQ(message("10.0.0.0/33"), "\"10.0.0.0/33\": the prefix length must be 0 to 32");
  EXPECT_EQ(message("2001:db8::/129"), "\"2001:db8::/129\": the prefix length must be 0 to 128");
  EXPECT_EQ(message("10.0.0.1/8"), "\"10.0.0.1/8\": host bits are set; the block is 10.0.0.0/8");
  EXPECT_EQ(message("10.0.0.0/x"), "\"10.0.0.0/x\": the prefix length after '/' is not a number");
  EXPECT_EQ(message("10.0.0.0/"), "\"10.0.0.0/\": the prefix length after '/' is not a number");
  EXPECT_EQ(message("example.com"),
            "\"example.com\" is not an IP address or CIDR block (e.g. 10.0.0.0/8, 192.168.1.7, "
            "2001:db8::/32)");
  EXPECT_FALSE(parseCidr("").ok());
  EXPECT_FALSE(parseCidr("10.0.0.256").ok());
  EXPECT_FALSE(parseCidr("[::1]").ok());
  EXPECT_FALSE(parseCidr("fe80::1%eth0").ok());
  EXPECT_FALSE(parseCidr(" 10.0.0.1").ok());
  EXPECT_FALSE(parseCidr("::ffff:10.0.0.0/8").ok());
}

}  // namespace
}  // namespace fwd::common::net
