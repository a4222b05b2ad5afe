#include "common/config/rate.h"

#include <gtest/gtest.h>

namespace fwd::common::config {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(RateTest, ParsesTheLimitsSyntaxWithSeveralWindows) {
  auto r = parseRates("60/minute;600/hour");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<Rate>{{60, minutes(1)}, {600, hours(1)}}));
  EXPECT_EQ(*parseRates("100/2minutes"), (std::vector<Rate>{{100, minutes(2)}}));
  EXPECT_EQ(*parseRates(" 10 / second "), (std::vector<Rate>{{10, seconds(1)}}));
  EXPECT_EQ(*parseRates("5/3 days"), (std::vector<Rate>{{5, hours(72)}}));
  EXPECT_EQ(*parseRates("1000/days"), (std::vector<Rate>{{1000, hours(24)}}));
}

TEST(RateTest, FormatsCanonicallyAndRoundTrips) {
  for (const char* text : {"60/minute;600/hour", "100/2minutes", "10/second", "7/90seconds",
                           "1000/day", "3/36hours"}) {
    auto r = parseRates(text);
    ASSERT_TRUE(r.ok()) << text;
    EXPECT_EQ(formatRates(*r), text);
  }
  EXPECT_EQ(formatRates(*parseRates("1/120seconds")), "1/2minutes");
}

TEST(RateTest, BadRatesNameWhatIsWrong) {
  const std::string shape =
      "expected COUNT/[N]UNIT such as 60/minute or 100/2minutes, UNIT one of second, minute, "
      "hour, day; several joined by ';'";
  const std::pair<const char*, std::string> cases[] = {
      {"", "invalid rate \"\": " + shape},
      {"60", "invalid rate \"60\": " + shape},
      {"60/fortnight", "invalid rate \"60/fortnight\": " + shape},
      {"x/minute", "invalid rate \"x/minute\": " + shape},
      {"-1/minute",
       "invalid rate \"-1/minute\": the count must be a whole number from 1 to 1000000000000"},
      {"60/minute;", "invalid rate \"\": " + shape},
      {"0/minute", "invalid rate \"0/minute\": the count must be 1 to 1000000000000"},
      {"10000000000000/second",
       "invalid rate \"10000000000000/second\": the count must be 1 to 1000000000000"},
      {"1/0minutes", "invalid rate \"1/0minutes\": the window's multiplier must be 1 or more"},
      {"1/367days", "invalid rate \"1/367days\": the window may be at most 366 days"},
      {"60/minute;70/60seconds",
       "invalid rate \"70/60seconds\": a window of that length is given twice; keep one"},
  };
  for (const auto& [text, message] : cases) {
    auto r = parseRates(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(r.status().message()), message) << text;
  }
}

TEST(RateTest, StrategiesByName) {
  for (RateStrategy s : {RateStrategy::kFixedWindow, RateStrategy::kSlidingWindow,
                         RateStrategy::kFixedWindowElasticExpiry}) {
    auto parsed = parseRateStrategy(rateStrategyName(s));
    ASSERT_TRUE(parsed.ok()) << rateStrategyName(s);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(parseRateStrategy("moving-window").value(), RateStrategy::kSlidingWindow);
  auto bad = parseRateStrategy("leaky-bucket");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()),
            "invalid rate strategy \"leaky-bucket\": expected fixed-window, sliding-window or "
            "fixed-window-elastic-expiry");
}

}  // namespace
}  // namespace fwd::common::config
