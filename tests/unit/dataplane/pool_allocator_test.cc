#include "dataplane/proxy/pool_allocator.h"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <thread>

namespace fwd::dataplane::proxy {
namespace {

TEST(PoolAllocatorTest, FreedBlocksAreReusedPerSizeClass) {
  // A block freed into a size class comes back for the next request of that class; very large
  // blocks are not cached.
  size_t before = pool::cachedBlocks();
  void* a = pool::allocate(40);
  pool::deallocate(a, 40);
  EXPECT_EQ(pool::cachedBlocks(), before + 1);
  void* b = pool::allocate(60);  // same 64-byte class
  EXPECT_EQ(a, b);
  EXPECT_EQ(pool::cachedBlocks(), before);
  pool::deallocate(b, 60);
  void* big = pool::allocate(100000);
  pool::deallocate(big, 100000);
  EXPECT_EQ(pool::cachedBlocks(), before + 1);
}

TEST(PoolAllocatorTest, BeastFieldsWorkAndReleaseEveryNode) {
  // A Beast message using the allocator stores and finds headers as usual, and after it is
  // destroyed every node sits in the cache for the next message (no malloc on the warm path).
  using Fields = boost::beast::http::basic_fields<PoolAllocator<char>>;
  std::thread([] {
    size_t start = pool::cachedBlocks();
    {
      boost::beast::http::request<boost::beast::http::string_body, Fields> req;
      req.set("content-type", "application/json");
      req.set("authorization", "Bearer x");
      req.insert("x-long", std::string(700, 'v'));
      EXPECT_EQ(req["content-type"], "application/json");
      EXPECT_EQ(req["x-long"].size(), 700u);
    }
    size_t cached = pool::cachedBlocks();
    EXPECT_GE(cached, start + 3);
    {
      boost::beast::http::request<boost::beast::http::string_body, Fields> again;
      again.set("content-type", "text/plain");
      again.set("authorization", "Bearer y");
      again.insert("x-long", std::string(700, 'w'));
      EXPECT_EQ(pool::cachedBlocks(), cached - 3);  // served from the cache
    }
  }).join();
}

}  // namespace
}  // namespace fwd::dataplane::proxy
