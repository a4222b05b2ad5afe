// Failover across upstreams in priority order, before any byte reached the client.
#include <gtest/gtest.h>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

int requestsServed(FakeUpstream& up) {
  auto r = httpRequest(up.endpoint, "GET", "/_fake/stats");
  return r.status == 200 ? nlohmann::json::parse(r.body)["requests"].get<int>() : -1;
}

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("broken", {"--fail-status", "503"}));
    ASSERT_TRUE(cluster_.startUpstream("healthy"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    key_ = cluster_.createKey("k");
  }

  void add(const std::string& name, const std::string& url, int priority) {
    auto r = cluster_.fwdctl({"upstream", "add", name, "--base-url", url, "--model", "*",
                              "--priority", std::to_string(priority), "--timeout", "3s"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(FailoverTest, A5xxFromTheFirstUpstreamFallsThroughToTheNext) {
  // priority 0 answers 503, so the request is retried on priority 1 and succeeds.
  add("first", cluster_.upstream("broken").baseUrl(), 0);
  add("second", cluster_.upstream("healthy").baseUrl(), 1);
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-upstream"), "healthy");
  EXPECT_EQ(requestsServed(cluster_.upstream("broken")), 1);
  EXPECT_EQ(requestsServed(cluster_.upstream("healthy")), 1);
}

TEST_F(FailoverTest, AConnectionRefusedFallsThroughToTheNext) {
  // An upstream nobody listens on counts as a failure, not as the answer.
  add("dead", "http://127.0.0.1:1/v1", 0);
  add("alive", cluster_.upstream("healthy").baseUrl(), 5);
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fwd-upstream"), "alive");
}

TEST_F(FailoverTest, PriorityOrderIsRespectedWhenAllAreHealthy) {
  // The lower priority number is used; the other one sees no traffic.
  add("backup", cluster_.upstream("broken").baseUrl(), 10);
  add("primary", cluster_.upstream("healthy").baseUrl(), 1);
  ASSERT_TRUE(cluster_.waitInSync());
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})").status,
              200);
  }
  EXPECT_EQ(requestsServed(cluster_.upstream("healthy")), 5);
  EXPECT_EQ(requestsServed(cluster_.upstream("broken")), 0);
}

TEST_F(FailoverTest, WhenEveryUpstreamFailsTheClientGets502WithTheLastError) {
  // Both candidates fail; the 502 says how many were tried and what the last one said.
  add("a", "http://127.0.0.1:1/v1", 0);
  add("b", cluster_.upstream("broken").baseUrl(), 1);
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})");
  EXPECT_EQ(r.status, 502);
  auto e = nlohmann::json::parse(r.body)["error"];
  EXPECT_EQ(e["code"], "upstream_error");
  std::string msg = e["message"];
  EXPECT_NE(msg.find("all 2 upstream attempts failed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("503"), std::string::npos) << msg;
}

TEST_F(FailoverTest, FourHundredsAreTheAnswerNotAFailure) {
  // A 4xx (here 429) from the first upstream is relayed as-is with its headers.
  add("first", cluster_.upstream("healthy").baseUrl(), 0);
  add("second", cluster_.upstream("broken").baseUrl(), 1);
  ASSERT_TRUE(cluster_.waitInSync());
  auto r =
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"fake-status-429"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_EQ(requestsServed(cluster_.upstream("broken")), 0);
}

TEST_F(FailoverTest, A429WithRetryAfterCoolsThatUpstream) {
  // The 429 itself is relayed; for its Retry-After (1 s) the upstream is skipped, so traffic
  // goes to the next one; when every candidate is cooling fwd answers 429 itself, with the
  // shortest Retry-After, without calling anyone; afterwards the first upstream is back.
  add("first", cluster_.upstream("healthy").baseUrl(), 0);
  ASSERT_TRUE(cluster_.startUpstream("second"));
  add("second", cluster_.upstream("second").baseUrl(), 1);
  ASSERT_TRUE(cluster_.waitInSync());
  auto limited = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})",
                               {{"x-fake-status", "429"}});
  ASSERT_EQ(limited.status, 429);
  EXPECT_EQ(limited.header("x-fwd-upstream"), "first");
  auto next = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})");
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(next.header("x-fwd-upstream"), "second");
  ASSERT_EQ(cluster_
                .call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})",
                      {{"x-fake-status", "429"}})
                .status,
            429);
  int before =
      requestsServed(cluster_.upstream("healthy")) + requestsServed(cluster_.upstream("second"));
  auto cooling = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})");
  EXPECT_EQ(cooling.status, 429) << cooling.body;
  EXPECT_EQ(cooling.header("retry-after"), "1");
  EXPECT_EQ(nlohmann::json::parse(cooling.body)["error"]["code"], "upstreams_cooling");
  EXPECT_EQ(
      requestsServed(cluster_.upstream("healthy")) + requestsServed(cluster_.upstream("second")),
      before);
  EXPECT_TRUE(waitFor(
      [&] {
        auto r = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})");
        return r.status == 200 && r.header("x-fwd-upstream") == "first";
      },
      std::chrono::seconds(3), "the first upstream to be back after its Retry-After"));
}

}  // namespace
}  // namespace fwd::harness
