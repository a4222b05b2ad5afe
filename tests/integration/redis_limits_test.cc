// Limits counted in Redis with the real binaries: three data planes share one redis-server (the
// test's own, on a free port) through `fwdctl settings set redis_url`. A burst of 1,000
// concurrent requests over the three admits exactly the limit; tokens and in-flight slots taken
// on one data plane count on the others; Redis killed mid-test fails open (memory counts) or
// closed (503) per key, and once Redis is back every data plane counts there again, exactly,
// without a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/cluster/fwd_cluster.h"
#include "tests/integration/harness/burst.h"
#include "tests/integration/harness/redis_server.h"

namespace fwd::harness {
namespace redis_limits_test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kChatBody[] = R"({"model":"gpt-4o","messages":[]})";
const std::vector<std::string> kPlanes = {"dp1", "dp2", "dp3"};

class RedisLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.start());
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    for (const std::string& dp : kPlanes) {
      ASSERT_TRUE(cluster_.startDataPlane(dp));
    }
    fwdctlOk({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(),
              "--model", "gpt-*"});
    fwdctlOk({"settings", "set", "redis_url", redis_.url()});
  }

  void fwdctlOk(std::vector<std::string> args) {
    ASSERT_TRUE(cluster_.fwdctlInSync(std::move(args)));
  }

  // A key with the given `fwdctl key create` flags.
  std::string key(const std::string& name, std::vector<std::string> flags) {
    return cluster_.createKeyInSync(name, std::move(flags));
  }

  Response chat(const std::string& dp, const std::string& secret, Headers headers = {}) {
    return cluster_.call(dp, "POST", "/v1/chat/completions", secret, kChatBody, headers);
  }

  int upstreamRequests() {
    Response stats = httpRequest(cluster_.upstream("up1").endpoint, "GET", "/_fake/stats");
    auto j = Json::parse(stats.body, nullptr, false);
    return j.is_object() ? j.value("requests", -1) : -1;
  }

  std::string metrics(const std::string& dp) {
    return httpRequest(cluster_.dataPlane(dp).admin, "GET", "/metrics").body;
  }

  // fwd_redis_connections of `dp`: its workers connected to Redis.
  int redisConnections(const std::string& dp) {
    std::string m = metrics(dp);
    size_t at = m.find("\nfwd_redis_connections ");
    return at == std::string::npos ? -1 : std::atoi(m.c_str() + at + 23);
  }

  // Waits until every worker of every data plane is connected to Redis (`workers` each).
  bool waitConnected(int workers) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (const std::string& dp : kPlanes) {
        all = all && redisConnections(dp) == workers;
      }
      if (all) {
        return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  TempDir redis_dir_;
  RedisServer redis_{redis_dir_.path()};
  FwdCluster cluster_;
};

TEST_F(RedisLimitsTest, ThreeDataPlanesAdmitExactlyTheLimitOfAThousandConcurrentRequests) {
  std::string k = key("race", {"--rate", "100/minute"});
  // A fixed minute window: keep the burst clear of a boundary.
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto into_minute = now % std::chrono::minutes(1);
  if (into_minute > 45s) {
    std::this_thread::sleep_for(std::chrono::minutes(1) - into_minute + 500ms);
  }
  std::vector<Endpoint> targets;
  for (const std::string& dp : kPlanes) {
    targets.push_back(cluster_.dataPlane(dp).http);
  }
  BurstRequest request;
  request.target = "/v1/chat/completions";
  request.headers = {{"Authorization", "Bearer " + k}, {"Content-Type", "application/json"}};
  request.body = kChatBody;
  // Under a sanitizer build this takes ~20 s on 2 cores; the deadline leaves room for a slower CI.
  std::vector<BurstAnswer> answers = burst(targets, request, 1000, std::chrono::seconds(60));
  int ok = 0, limited = 0;
  for (const BurstAnswer& a : answers) {
    if (a.status == 200) {
      ++ok;
    } else if (a.status == 429) {
      ++limited;
      EXPECT_FALSE(a.retry_after.empty());
      EXPECT_NE(a.body.find("rate_limit_exceeded"), std::string::npos) << a.body;
    } else {
      ADD_FAILURE() << "status " << a.status << " " << a.error << " " << a.body;
    }
  }
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(limited, 900);
  EXPECT_EQ(upstreamRequests(), 100);
  // Every data plane asked Redis.
  for (const std::string& dp : kPlanes) {
    EXPECT_NE(metrics(dp).find("fwd_redis_duration_seconds_count{script=\"admit\"}"),
              std::string::npos)
        << dp;
  }
}

TEST_F(RedisLimitsTest, TokensAndInFlightSlotsTakenOnOneDataPlaneCountOnTheOthers) {
  std::string k = key("shared", {"--tokens", "60/hour", "--max-parallel", "2"});
  const int estimate = (static_cast<int>(std::string(kChatBody).size()) + 3) / 4;
  Response r = chat("dp1", k);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-ratelimit-remaining-tokens"), std::to_string(60 - estimate));
  std::this_thread::sleep_for(100ms);  // the settle goes to Redis after the answer
  // The fake's answer reported 13 tokens: dp2 sees them.
  r = chat("dp2", k);
  EXPECT_EQ(r.header("x-ratelimit-remaining-tokens"), std::to_string(60 - 13 - estimate));
  std::this_thread::sleep_for(100ms);
  // A stream whose client did not ask for usage: counted (10 + 5) without the usage chunk.
  Response s = cluster_.call("dp3", "POST", "/v1/chat/completions", k,
                             R"({"model":"gpt-4o","stream":true,"messages":[]})");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.body.find("\"choices\":[]"), std::string::npos) << s.body;
  std::this_thread::sleep_for(100ms);
  r = chat("dp1", k);
  EXPECT_EQ(r.header("x-ratelimit-remaining-tokens"), std::to_string(60 - 26 - 15 - estimate));
  std::this_thread::sleep_for(100ms);

  // Two requests in flight on two data planes take both slots; a third, on the third, is
  // refused; the slots come back when they finish.
  std::string slow = key("slow", {"--max-parallel", "2"});
  std::thread a([&] { EXPECT_EQ(chat("dp1", slow, {{"x-fake-stall-ms", "1500"}}).status, 200); });
  std::thread b([&] { EXPECT_EQ(chat("dp2", slow, {{"x-fake-stall-ms", "1500"}}).status, 200); });
  std::this_thread::sleep_for(500ms);
  Response third = chat("dp3", slow);
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_NE(third.body.find("too many requests in flight"), std::string::npos) << third.body;
  a.join();
  b.join();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(chat("dp3", slow).status, 200);
  EXPECT_EQ(chat("dp3", slow, {{"x-fake-status", "500"}}).status, 502);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(chat("dp1", slow).status, 200);
}

TEST_F(RedisLimitsTest, BudgetsAreSharedByTheDataPlanesAndOutliveTheirRestarts) {
  // 30 tokens in total; each JSON answer reports 13.
  std::string k = key("shared", {"--budget-tokens", "30/total"});
  EXPECT_EQ(chat("dp1", k).status, 200);
  EXPECT_EQ(chat("dp2", k).status, 200);
  EXPECT_EQ(chat("dp3", k).status, 200);  // 26 < 30: admitted; 39 now
  // Spent, for every data plane, and still after one restarts: it is counted in Redis.
  for (const std::string& dp : kPlanes) {
    Response r = chat(dp, k);
    EXPECT_EQ(r.status, 429) << dp;
    EXPECT_NE(r.body.find("insufficient_quota"), std::string::npos) << r.body;
  }
  ASSERT_TRUE(cluster_.restartDataPlane("dp1"));
  ASSERT_TRUE(cluster_.waitInSync());
  Response after = chat("dp1", k);
  EXPECT_EQ(after.status, 429) << after.body;
  EXPECT_NE(after.body.find("(39 used)"), std::string::npos) << after.body;
  EXPECT_EQ(upstreamRequests(), 3);
}

TEST_F(RedisLimitsTest, ASharedRouteLimitIsExactAcrossDataPlanesAndKeys) {
  fwdctlOk({"route", "add", "chat", "--model", "gpt-4o", "--upstream", "local", "--rate", "5/hour",
            "--rate-strategy", "fixed-window-elastic-expiry", "--shared"});
  std::string a = key("a", {});
  std::string b = key("b", {});
  int ok = 0;
  for (int i = 0; i < 12; ++i) {
    ok += chat(kPlanes[static_cast<size_t>(i % 3)], i % 2 == 0 ? a : b).status == 200 ? 1 : 0;
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(upstreamRequests(), 5);
}

TEST_F(RedisLimitsTest, KeyGetShowsTheFleetsCountsReadFromRedis) {
  std::string k =
      key("seen", {"--rate", "10/hour", "--rate-strategy", "fixed-window-elastic-expiry",
                   "--budget-tokens", "500/total", "--max-parallel", "5"});
  for (const std::string& dp : kPlanes) {
    ASSERT_EQ(chat(dp, k).status, 200) << dp;
  }
  std::this_thread::sleep_for(100ms);  // the settles reach Redis with the answers' last bytes
  Json shown = cluster_.fwdctlJson({"key", "get", "seen"});
  ASSERT_EQ(shown["counts"]["nodes"].size(), 3u) << shown.dump();
  for (const Json& node : shown["counts"]["nodes"]) {
    const Json& state = node["state"];
    EXPECT_EQ(state["source"], "redis") << node.dump();
    EXPECT_TRUE(state["redis_error"].is_null()) << node.dump();
    EXPECT_EQ(state["requests"][0]["used"], 3) << node.dump();
    EXPECT_EQ(state["requests"][0]["remaining"], 7);
    EXPECT_GT(state["requests"][0]["reset_ms"].get<std::int64_t>(), 3500000);
    EXPECT_EQ(state["in_flight"], 0);
    EXPECT_EQ(state["budgets"][0]["spent"], 39);  // 13 tokens per answer
    EXPECT_EQ(state["budgets"][0]["left"], 461);
  }
  CommandResult text = cluster_.fwdctl({"key", "get", "seen"});
  ASSERT_EQ(text.exit_code, 0) << text.stderr_text;
  EXPECT_NE(text.stdout_text.find("in Redis, for the fleet (read by 3 data planes)\n"
                                  "  requests 10/hour: 3 used, 7 left, resets in "),
            std::string::npos)
      << text.stdout_text;
  // Reading counted nothing.
  EXPECT_EQ(chat("dp2", k).header("x-ratelimit-remaining-requests"), "6");
}

TEST_F(RedisLimitsTest, RedisDownFailsOpenOrClosedPerKeyAndExactAgainWhenBack) {
  fwdctlOk({"settings", "set", "default_rate_strategy", "fixed-window-elastic-expiry"});
  std::string open = key("open", {"--rate", "3/hour"});
  std::string closed = key("closed", {"--rate", "3/hour", "--redis-down", "fail-closed"});
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(chat(kPlanes[static_cast<size_t>(i)], open).status, 200);
  }
  EXPECT_EQ(chat("dp1", open).status, 429);
  EXPECT_EQ(chat("dp2", closed).status, 200);
  const int workers = redisConnections("dp1");
  ASSERT_GT(workers, 0);
  ASSERT_TRUE(waitConnected(workers));

  redis_.kill();
  // Fail open: each data plane counts in its own memory meanwhile (3 per data plane).
  for (int i = 0; i < 3; ++i) {
    Response r = chat("dp1", open);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(chat("dp1", open).status, 429);
  EXPECT_EQ(chat("dp2", open).status, 200);
  // Fail closed: 503, OpenAI-shaped, with Retry-After.
  Response refused = chat("dp2", closed);
  EXPECT_EQ(refused.status, 503);
  Json error = Json::parse(refused.body, nullptr, false);
  EXPECT_EQ(error["error"]["code"], "limits_unavailable") << refused.body;
  EXPECT_EQ(error["error"]["type"], "api_error");
  EXPECT_EQ(refused.header("retry-after"), "1");
  EXPECT_NE(metrics("dp2").find("fwd_limited_requests_total{reason=\"redis_down\",scope=\"key\"}"),
            std::string::npos);
  EXPECT_NE(metrics("dp2").find("fwd_redis_errors_total{reason=\"down\"}"), std::string::npos);
  // Meanwhile each data plane shows the counts it serves from: its own memory.
  Json nodes = cluster_.fwdctlJson({"key", "get", "open"})["counts"]["nodes"];
  ASSERT_EQ(nodes.size(), 3u) << nodes.dump();
  for (const Json& node : nodes) {
    EXPECT_EQ(node["state"]["source"], "memory") << node.dump();
    EXPECT_TRUE(node["state"]["redis_error"].is_string()) << node.dump();
  }
  // dp1 took 3 and refused 1 (elastic expiry counts refusals too); dp2 took 1.
  EXPECT_EQ(nodes[0]["state"]["requests"][0]["used"], 4) << nodes.dump();
  EXPECT_EQ(nodes[0]["state"]["requests"][0]["remaining"], 0);
  EXPECT_EQ(nodes[1]["state"]["requests"][0]["used"], 1);
  EXPECT_EQ(nodes[1]["state"]["requests"][0]["remaining"], 2);

  // Redis back (empty: it kept nothing): every data plane reconnects by itself and counts
  // there, exactly, again.
  ASSERT_TRUE(redis_.start());
  ASSERT_TRUE(waitConnected(workers));
  for (const std::string& dp : kPlanes) {
    EXPECT_EQ(chat(dp, closed).status, 200) << dp;
  }
  for (const std::string& dp : kPlanes) {
    EXPECT_EQ(chat(dp, closed).status, 429) << dp;
  }
  std::string fresh = key("fresh", {"--rate", "4/hour"});
  int ok = 0;
  for (int i = 0; i < 9; ++i) {
    ok += chat(kPlanes[static_cast<size_t>(i % 3)], fresh).status == 200 ? 1 : 0;
  }
  EXPECT_EQ(ok, 4);
}

}  // namespace redis_limits_test
}  // namespace fwd::harness
