#include "common/match/glob.h"

#include <gtest/gtest.h>

#include <string>

namespace fwd::common::match {
namespace {

TEST(GlobTest, MatchesLiteralsAndWildcards) {
  // '*' matches any run, including empty and including '/'; everything else is literal.
  EXPECT_TRUE(globMatch("gpt-4o", "gpt-4o"));
  EXPECT_FALSE(globMatch("gpt-4o", "gpt-4o-mini"));
  EXPECT_TRUE(globMatch("gpt-4*", "gpt-4o-mini"));
  EXPECT_TRUE(globMatch("gpt-4*", "gpt-4"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("*", "anything/at/all"));
  EXPECT_TRUE(globMatch("*qwen*", "Qwen/qwen2.5-7b"));
  EXPECT_TRUE(globMatch("/v1/audio/*", "/v1/audio/transcriptions"));
  EXPECT_FALSE(globMatch("/v1/audio/*", "/v1/chat/completions"));
  EXPECT_TRUE(globMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(globMatch("a*b*c", "aXXbYY"));
  EXPECT_FALSE(globMatch("GPT-4", "gpt-4"));
  EXPECT_FALSE(globMatch("", "x"));
  EXPECT_TRUE(globMatch("", ""));
}

TEST(GlobTest, HostileInputStaysFast) {
  // A pattern with many stars against a long non-matching text ends (no exponential backtrack).
  std::string text(20000, 'a');
  EXPECT_FALSE(globMatch("*a*a*a*a*a*a*a*a*a*b", text));
}

TEST(GlobTest, ValidatesPatterns) {
  // Empty, over-long and whitespace/control patterns are rejected.
  EXPECT_TRUE(isValidGlob("gpt-*"));
  EXPECT_FALSE(isValidGlob(""));
  EXPECT_FALSE(isValidGlob("gpt 4"));
  EXPECT_FALSE(isValidGlob(std::string(257, 'a')));
  EXPECT_FALSE(isValidGlob("a\nb"));
}

}  // namespace
}  // namespace fwd::common::match
