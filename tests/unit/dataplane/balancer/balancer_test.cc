#include "dataplane/balancer/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace fwd::dataplane::balancer {
namespace {

using config::CandidateList;
using config::CompiledRoute;
using config::UpstreamTarget;

// A group of upstreams named a, b, c, ... with the given weights and fresh health state.
class BalancerTest : public ::testing::Test {
 protected:
  void group(std::vector<std::uint32_t> weights) {
    targets_.clear();
    targets_.reserve(weights.size());
    for (size_t i = 0; i < weights.size(); ++i) {
      UpstreamTarget t;
      t.name = std::string(1, static_cast<char>('a' + i));
      t.weight = weights[i];
      t.health = std::make_shared<config::UpstreamHealth>();
      targets_.push_back(std::move(t));
    }
  }
  CandidateList candidates() const {
    CandidateList out;
    for (const auto& t : targets_) {
      out.push_back(&t);
    }
    return out;
  }
  static std::string order(const CandidateList& list) {
    std::string out;
    for (const auto* t : list) {
      out += t->name;
    }
    return out;
  }
  std::string firstPick(Balancer& b, const CompiledRoute& route) {
    CandidateList c = candidates();
    b.pickFirst(route, c, [this](const UpstreamTarget& t) { return in_flight_[t.name]; });
    return order(c);
  }

  std::vector<UpstreamTarget> targets_;
  std::map<std::string, std::int64_t> in_flight_;
};

TEST_F(BalancerTest, OrderedKeepsTheGroupOrder) {
  // The ordered strategy never reorders: the first upstream is the primary, the rest failover.
  group({1, 5, 9});
  CompiledRoute route;
  Balancer b(1);
  EXPECT_EQ(firstPick(b, route), "abc");
  EXPECT_EQ(firstPick(b, route), "abc");
}

TEST_F(BalancerTest, WeightedFollowsTheWeightsSmoothlyAndKeepsTheRestInOrder) {
  // Weights 3:1:1 give a b a c a (nginx's smooth round robin); the others stay behind the pick.
  group({3, 1, 1});
  CompiledRoute route;
  route.strategy = CompiledRoute::Strategy::kWeighted;
  Balancer b(1);
  std::string firsts;
  for (int i = 0; i < 10; ++i) {
    std::string o = firstPick(b, route);
    firsts += o.front();
    EXPECT_EQ(o.size(), 3u);
  }
  // Two rounds of 5: a six times, b and c twice each, and never three a's in a row.
  EXPECT_EQ(std::count(firsts.begin(), firsts.end(), 'a'), 6) << firsts;
  EXPECT_EQ(std::count(firsts.begin(), firsts.end(), 'b'), 2) << firsts;
  EXPECT_EQ(std::count(firsts.begin(), firsts.end(), 'c'), 2) << firsts;
  EXPECT_EQ(firsts.find("aaa"), std::string::npos) << firsts;
}

TEST_F(BalancerTest, ANewConfigForgetsTheWeightsOfTheOldRoutes) {
  // After forgetRoutes the smooth round robin starts again from the first upstream.
  group({1, 1});
  CompiledRoute route;
  route.strategy = CompiledRoute::Strategy::kWeighted;
  Balancer b(1);
  EXPECT_EQ(firstPick(b, route), "ab");
  EXPECT_EQ(firstPick(b, route), "ba");
  b.forgetRoutes();
  EXPECT_EQ(firstPick(b, route), "ab");
}

TEST_F(BalancerTest, LeastBusyPutsTheUpstreamWithFewerAttemptsFirst) {
  // With two upstreams both are drawn, so the idle one always goes first.
  group({1, 1});
  CompiledRoute route;
  route.strategy = CompiledRoute::Strategy::kLeastBusy;
  Balancer b(7);
  in_flight_ = {{"a", 5}, {"b", 0}};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(firstPick(b, route), "ba");
  }
  in_flight_ = {{"a", 0}, {"b", 2}};
  EXPECT_EQ(firstPick(b, route), "ab");
}

TEST_F(BalancerTest, LatencyPrefersTheFasterUpstreamAndReactsAtOnceToASlowdown) {
  // Peak-EWMA: the faster upstream goes first; one slow sample makes it the slower one at once.
  group({1, 1});
  CompiledRoute route;
  route.strategy = CompiledRoute::Strategy::kLatency;
  Balancer b(3);
  b.recordHeadLatency("a", 1.0);
  b.recordHeadLatency("b", 0.1);
  EXPECT_EQ(firstPick(b, route), "ba");
  b.recordHeadLatency("b", 2.0);
  EXPECT_EQ(firstPick(b, route), "ab");
  // A fast sample only pulls the estimate down by a fifth of the difference.
  b.recordHeadLatency("b", 0.0);  // 0.8 × 2.0 = 1.6, still slower than a's 1.0
  EXPECT_EQ(firstPick(b, route), "ab");
}

TEST_F(BalancerTest, TheSameSeedMakesTheSameChoices) {
  // Randomness is seeded: two balancers with one seed draw alike over a group of five.
  group({1, 1, 1, 1, 1});
  CompiledRoute route;
  route.strategy = CompiledRoute::Strategy::kLeastBusy;
  in_flight_ = {{"a", 4}, {"b", 3}, {"c", 2}, {"d", 1}, {"e", 0}};
  Balancer one(42);
  Balancer two(42);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(firstPick(one, route), firstPick(two, route));
  }
}

TEST_F(BalancerTest, BackoffIsJitteredDoublingAndCapped) {
  // Round n waits between half and all of base × 2^(n-1), never more than the max.
  CompiledRoute::Retry policy;
  policy.backoff_base = std::chrono::milliseconds(100);
  policy.backoff_max = std::chrono::milliseconds(500);
  Balancer b(5);
  for (int i = 0; i < 50; ++i) {
    auto first = b.backoff(policy, 1).count();
    EXPECT_GE(first, 50);
    EXPECT_LE(first, 100);
    auto third = b.backoff(policy, 3).count();
    EXPECT_GE(third, 200);
    EXPECT_LE(third, 400);
    auto tenth = b.backoff(policy, 10).count();
    EXPECT_GE(tenth, 250);
    EXPECT_LE(tenth, 500);
  }
}

TEST_F(BalancerTest, EjectedUpstreamsAreSetAsideButNeverMoreThanHalfTheGroup) {
  // Two of four ejected: both are set aside. Three of four: one of them stays, as last resort.
  group({1, 1, 1, 1});
  auto now = Clock::now();
  config::OutlierPolicy outlier;
  outlier.enabled = true;
  outlier.consecutive_failures = 1;
  ASSERT_TRUE(targets_[0].health->recordFailure(now, outlier));
  ASSERT_TRUE(targets_[2].health->recordFailure(now, outlier));
  CandidateList c = candidates();
  skipUnavailable(c, now);
  EXPECT_EQ(order(c), "bd");
  ASSERT_TRUE(targets_[1].health->recordFailure(now, outlier));
  c = candidates();
  skipUnavailable(c, now);
  EXPECT_EQ(order(c), "da");
  // Later, once the ejections are over, everyone is back in group order.
  c = candidates();
  skipUnavailable(c, now + std::chrono::hours(1));
  EXPECT_EQ(order(c), "abcd");
}

TEST_F(BalancerTest, CoolingUpstreamsAreDroppedAndTheSoonestReturnIsReported) {
  // Upstreams cooling after a 429 leave the list; the shortest wait left is returned.
  group({1, 1, 1});
  auto now = Clock::now();
  targets_[0].health->coolUntil(now + std::chrono::seconds(30));
  targets_[1].health->coolUntil(now + std::chrono::seconds(5));
  CandidateList c = candidates();
  auto soonest = dropCooling(c, now);
  EXPECT_EQ(order(c), "c");
  ASSERT_TRUE(soonest.has_value());
  EXPECT_EQ(*soonest, std::chrono::seconds(5));
  c = candidates();
  EXPECT_FALSE(dropCooling(c, now + std::chrono::minutes(1)).has_value());
  EXPECT_EQ(order(c), "abc");
}

}  // namespace
}  // namespace fwd::dataplane::balancer
