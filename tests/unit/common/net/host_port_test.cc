#include "common/net/host_port.h"

#include <gtest/gtest.h>

namespace fwd::common::net {
namespace {

TEST(HostPortTest, ParsesV4NamesAndBracketedV6) {
  // Every form the flags accept, and back to text.
  auto a = parseHostPort("127.0.0.1:7070");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7070);
  auto b = parseHostPort("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->toString(), "[::1]:0");
  EXPECT_EQ(parseHostPort("localhost:8000")->toString(), "localhost:8000");
}

TEST(HostPortTest, RejectsMissingOrBadParts) {
  // Each malformed address is an error naming the expected form.
  for (const char* bad : {"", "127.0.0.1", ":80", "host:", "host:65536", "host:x", "::1:80",
                          "[::1]80"}) {
    auto r = parseHostPort(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(std::string(r.status().message()).find("host:port"), std::string::npos);
  }
}

}  // namespace
}  // namespace fwd::common::net
