#include "common/crypto/token.h"

#include <gtest/gtest.h>

#include <set>

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
