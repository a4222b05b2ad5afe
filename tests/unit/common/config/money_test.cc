#include "common/config/money.h"

#include <gtest/gtest.h>

namespace fwd::common::config {
namespace {

constexpr std::uint64_t kMax = 1'000'000'000'000ull;

TEST(MoneyTest, DollarsParseExactlyIntoMillionths) {
  EXPECT_EQ(parseUsdMicros("2.50", kMax).value(), 2'500'000u);
  EXPECT_EQ(parseUsdMicros("0.075", kMax).value(), 75'000u);
  EXPECT_EQ(parseUsdMicros("10", kMax).value(), 10'000'000u);
  EXPECT_EQ(parseUsdMicros(" $0.000001 ", kMax).value(), 1u);
  EXPECT_EQ(parseUsdMicros(".5", kMax).value(), 500'000u);
  EXPECT_EQ(parseUsdMicros("0", kMax).value(), 0u);
  EXPECT_EQ(parseUsdMicros("1000000", kMax).value(), kMax);
  for (const char* bad : {"", "abc", "-1", "1.", "1.0000001", "1,50", "1e3", "1000000.01",
                          "99999999999999", "2.5.0"}) {
    EXPECT_FALSE(parseUsdMicros(bad, kMax).ok()) << bad;
  }
  EXPECT_EQ(std::string(parseUsdMicros("1.0000001", kMax).status().message()),
            "invalid amount \"1.0000001\": expected US dollars as a decimal such as 2.50 or "
            "0.075 (at most 6 decimals, at most 1000000)");
}

TEST(MoneyTest, MillionthsFormatAsTheShortestExactDecimal) {
  EXPECT_EQ(formatUsdMicros(2'500'000), "2.5");
  EXPECT_EQ(formatUsdMicros(75'000), "0.075");
  EXPECT_EQ(formatUsdMicros(10'000'000), "10");
  EXPECT_EQ(formatUsdMicros(1), "0.000001");
  EXPECT_EQ(formatUsdMicros(0), "0");
  for (std::uint64_t m :
       {std::uint64_t{1}, std::uint64_t{75'000}, std::uint64_t{123'456'789}, kMax}) {
    EXPECT_EQ(parseUsdMicros(formatUsdMicros(m), kMax).value(), m);
  }
}

}  // namespace
}  // namespace fwd::common::config
