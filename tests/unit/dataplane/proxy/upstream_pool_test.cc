#include "dataplane/proxy/upstream_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace fwd::dataplane::proxy {
namespace {

std::unique_ptr<UpstreamConn> conn(boost::asio::io_context& ioc) {
  auto c = std::make_unique<UpstreamConn>();
  c->tcp.emplace(ioc);
  return c;
}

TEST(UpstreamPoolTest, ReusesPerKeyMostRecentFirstAndBounded) {
  // Connections come back only for their own key, newest first, at most max per key.
  boost::asio::io_context ioc;
  UpstreamPool pool(2, std::chrono::seconds(60));
  EXPECT_EQ(pool.acquire("http://a"), nullptr);
  auto c1 = conn(ioc);
  auto* p1 = c1.get();
  auto c2 = conn(ioc);
  auto* p2 = c2.get();
  pool.release("http://a", std::move(c1));
  pool.release("http://a", std::move(c2));
  pool.release("http://a", conn(ioc));  // evicts the oldest (p1)
  EXPECT_EQ(pool.idleCount(), 2u);
  EXPECT_EQ(pool.acquire("http://b"), nullptr);
  auto got = pool.acquire("http://a");
  ASSERT_NE(got, nullptr);
  EXPECT_TRUE(got->reused);
  EXPECT_NE(got.get(), p1);
  auto second = pool.acquire("http://a");
  EXPECT_EQ(second.get(), p2);
  EXPECT_EQ(pool.acquire("http://a"), nullptr);
}

TEST(UpstreamPoolTest, ExpiredIdleConnectionsAreNotHandedOut) {
  // A connection idle longer than the idle timeout is closed instead of reused.
  boost::asio::io_context ioc;
  UpstreamPool pool(4, std::chrono::milliseconds(0));
  pool.release("k", conn(ioc));
  EXPECT_EQ(pool.acquire("k"), nullptr);
  EXPECT_EQ(pool.idleCount(), 0u);
}

}  // namespace
}  // namespace fwd::dataplane::proxy
