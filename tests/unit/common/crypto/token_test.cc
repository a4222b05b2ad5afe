#include "common/crypto/token.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

namespace fwd::common::crypto {
namespace {

TEST(TokenTest, Sha256HexMatchesKnownVector) {
  // SHA-256("abc") from FIPS 180-2, so stored hashes are interoperable.
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256Digest parsed{};
  ASSERT_TRUE(parseSha256Hex(sha256Hex("abc"), parsed));
  EXPECT_TRUE(constantTimeEqual(parsed, sha256("abc")));
  EXPECT_FALSE(parseSha256Hex("zz", parsed));
  EXPECT_FALSE(parseSha256Hex(std::string(64, 'g'), parsed));
}

TEST(TokenTest, Sha256IsCorrectFromManyThreadsAndInputSizes) {
  // Each thread reuses its own digest context: results never mix between threads or calls.
  const std::string expected_abc =
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const std::string expected_empty =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (sha256Hex(i % 2 == 0 ? "abc" : "") != (i % 2 == 0 ? expected_abc : expected_empty)) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  // A 1 MB input (FIPS 180-2 "million a") hashes right with the reused context too.
  EXPECT_EQ(sha256Hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(TokenTest, RandomTokensArePrefixedUniqueAndShellSafe) {
  // Secrets carry their prefix, have full length and never repeat.
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string t = randomToken("fwd-", 32);
    ASSERT_EQ(t.rfind("fwd-", 0), 0u);
    ASSERT_EQ(t.size(), 4u + 32u);
    for (char c : t.substr(4)) {
      ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << t;
    }
    ASSERT_TRUE(seen.insert(t).second);
  }
}

TEST(TokenTest, ConstantTimeEqualComparesContentAndSize) {
  // Equal only for identical bytes; different sizes never compare equal.
  EXPECT_TRUE(constantTimeEqual("secret", "secret"));
  EXPECT_FALSE(constantTimeEqual("secret", "secreT"));
  EXPECT_FALSE(constantTimeEqual("secret", "secret1"));
  EXPECT_FALSE(constantTimeEqual(sha256("a"), sha256("b")));
}

}  // namespace
}  // namespace fwd::common::crypto
