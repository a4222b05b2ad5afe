// Routes applied by the data plane: path prefixes, exact/keyword/glob model matches ordered by
// priority then specificity, the route's ordered upstream group, model rewrite and fallbacks.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

class RoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    for (const char* name : {"a", "b", "local"}) {
      ASSERT_TRUE(cluster_.startUpstream(name));
    }
    ASSERT_TRUE(cluster_.startUpstream("broken", {"--fail-status", "503"}));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    fwdctl({"upstream", "add", "a", "--base-url", cluster_.upstream("a").baseUrl(), "--model",
            "gpt-*"});
    fwdctl({"upstream", "add", "b", "--base-url", cluster_.upstream("b").baseUrl(), "--model",
            "none-*"});
    fwdctl({"upstream", "add", "local", "--base-url", cluster_.upstream("local").baseUrl(),
            "--model", "none-*"});
    fwdctl({"upstream", "add", "broken", "--base-url", cluster_.upstream("broken").baseUrl(),
            "--model", "none-*"});
    key_ = cluster_.createKey("k");
  }

  void fwdctl(std::vector<std::string> args) {
    auto r = cluster_.fwdctl(args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  Response chat(const std::string& model, const std::string& path = "/v1/chat/completions") {
    return cluster_.call("dp1", "POST", path, key_, R"({"model":")" + model + R"("})");
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(RoutesTest, AModelRouteOverridesUpstreamPatterns) {
  // gpt-4o is routed to b by the route; other gpt-* models keep following upstream patterns.
  fwdctl({"route", "add", "r1", "--model", "gpt-4o", "--upstream", "b"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto routed = chat("gpt-4o");
  ASSERT_EQ(routed.status, 200) << routed.body;
  EXPECT_EQ(routed.header("x-fake-upstream"), "b");
  EXPECT_EQ(chat("gpt-4o-mini").header("x-fake-upstream"), "a");
  auto m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
  EXPECT_TRUE(waitFor(
      [&] {
        m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
        return m.body.find(R"(route="r1",model="gpt-4o",upstream="b",status="200")") !=
               std::string::npos;
      },
      std::chrono::seconds(2), "the route label in metrics"))
      << m.body;
}

TEST_F(RoutesTest, APrefixRouteServesItsPathAndStripsThePrefix) {
  // /localai/v1/... goes to the route's upstream as /v1/...; an unknown prefix is a 404.
  fwdctl({"route", "add", "localai", "--prefix", "/localai", "--upstream", "local"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("anything", "/localai/v1/chat/completions?x=1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-upstream"), "local");
  EXPECT_EQ(r.header("x-fake-path"), "/v1/chat/completions?x=1");
  EXPECT_EQ(chat("gpt-4o", "/elsewhere/v1/chat/completions").status, 404);
  EXPECT_EQ(chat("gpt-4o").header("x-fake-upstream"), "a");  // no prefix: unaffected
}

TEST_F(RoutesTest, PriorityFirstThenExactBeatsKeywordBeatsGlob) {
  // At equal priority the more specific match wins; a lower priority number wins over all.
  fwdctl({"route", "add", "glob", "--model", "claude-*", "--upstream", "a"});
  fwdctl({"route", "add", "exact", "--model", "claude-3", "--upstream", "b"});
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat("claude-3").header("x-fake-upstream"), "b");
  EXPECT_EQ(chat("claude-2").header("x-fake-upstream"), "a");
  fwdctl({"route", "add", "top", "--model-keyword", "claude", "--upstream", "local", "--priority",
          "-1"});
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat("claude-3").header("x-fake-upstream"), "local");
}

TEST_F(RoutesTest, TheRouteGroupIsTriedInOrder) {
  // The first upstream of the group answers 503, so the second one serves the request.
  fwdctl({"route", "add", "group", "--model", "m", "--upstream", "broken", "--upstream", "a"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("m");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-upstream"), "a");
}

TEST_F(RoutesTest, RewriteSendsAnotherModelNameUpstream) {
  // Clients ask for the alias (and keys are checked against it); the upstream gets the real name.
  fwdctl({"route", "add", "alias", "--model", "gpt-4", "--upstream", "b", "--rewrite-model",
          "qwen-max"});
  std::string limited = cluster_.createKey("limited", {"gpt-4"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = cluster_.call("dp1", "POST", "/v1/chat/completions", limited,
                         R"({"model":"gpt-4","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["model"], "qwen-max");
  EXPECT_EQ(r.header("x-fake-upstream"), "b");
}

TEST_F(RoutesTest, FallbackModelsAreTriedWhenTheRouteFails) {
  // gpt-4's only upstream is down; its fallback gpt-4o-mini is routed normally (to a by its
  // model pattern) and that upstream receives the fallback's name.
  fwdctl({"route", "add", "primary", "--model", "gpt-4", "--upstream", "broken", "--fallback",
          "gpt-4o-mini"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("gpt-4");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-upstream"), "a");
  EXPECT_EQ(nlohmann::json::parse(r.body)["model"], "gpt-4o-mini");
}

TEST_F(RoutesTest, FallbacksThatPointAtEachOtherEndInsteadOfLooping) {
  // m1 falls back to m2 and m2 to m1: each is tried once, then the client gets the 502.
  fwdctl({"route", "add", "one", "--model", "m1", "--upstream", "broken", "--fallback", "m2"});
  fwdctl({"route", "add", "two", "--model", "m2", "--upstream", "broken", "--fallback", "m1"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("m1");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("all 2 upstream attempts failed"), std::string::npos) << r.body;
  auto stats = httpRequest(cluster_.upstream("broken").endpoint, "GET", "/_fake/stats");
  EXPECT_EQ(nlohmann::json::parse(stats.body)["requests"], 2);
}

TEST_F(RoutesTest, WeightedStrategySplitsTrafficByUpstreamWeight) {
  // Weights 3:1 give a 3:1 split (smooth weighted round robin per worker, so within a few
  // requests of exact), and a failing pick still falls through to the rest of the group.
  fwdctl({"upstream", "update", "a", "--weight", "3"});
  fwdctl({"upstream", "update", "b", "--weight", "1"});
  fwdctl({"route", "add", "split", "--model", "w", "--upstream", "a", "--upstream", "b",
          "--strategy", "weighted"});
  ASSERT_TRUE(cluster_.waitInSync());
  std::map<std::string, int> served;
  for (int i = 0; i < 400; ++i) {
    auto r = chat("w");
    ASSERT_EQ(r.status, 200) << r.body;
    ++served[r.header("x-fake-upstream")];
  }
  EXPECT_NEAR(served["a"], 300, 10) << served["a"] << " / " << served["b"];
  EXPECT_NEAR(served["b"], 100, 10);

  fwdctl({"route", "update", "split", "--upstream", "broken", "--upstream", "b"});
  fwdctl({"upstream", "update", "broken", "--weight", "5"});
  ASSERT_TRUE(cluster_.waitInSync());
  for (int i = 0; i < 12; ++i) {
    auto r = chat("w");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-fake-upstream"), "b");
  }
}

// A loopback port that completes TCP handshakes (kernel backlog) but never answers.
class BlackHole {
 public:
  BlackHole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 128);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~BlackHole() { ::close(fd_); }
  std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST_F(RoutesTest, LeastBusySteersAwayFromAnUpstreamThatHangs) {
  // The hanging upstream is first in the group, so ordered routing would send all 48 requests
  // there first. With least-busy it gets a request only while it has no more attempts in
  // flight than the healthy one, so its share stays well under half (ejecting it entirely is
  // outlier detection's job, not the balancer's).
  BlackHole hole;
  fwdctl({"upstream", "add", "hang", "--base-url", hole.baseUrl(), "--model", "none-*", "--timeout",
          "1500ms"});
  fwdctl({"route", "add", "lb", "--model", "lb", "--upstream", "hang", "--upstream", "a",
          "--strategy", "least-busy"});
  ASSERT_TRUE(cluster_.waitInSync());
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {
        if (chat("lb").status == 200) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  auto m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
  // Requests whose hanging attempt timed out together may exceed the retry budget (at least
  // 3 retries in flight): those fail instead of failing over; every other one succeeds.
  double refused =
      std::max(0.0, metricValue(m.body, R"(fwd_retry_budget_exhausted_total{route="lb"})"));
  EXPECT_EQ(ok.load() + static_cast<int>(refused), 48);
  double to_hang = metricValue(
      m.body, R"(fwd_upstream_attempts_total{upstream="hang",outcome="total_timeout"})");
  EXPECT_GE(to_hang, 1);
  // Measured 12-16 here; ordered routing sends all 48, alternating would send 24.
  EXPECT_LE(to_hang, 24) << "least-busy kept sending to the busy upstream";
}

TEST_F(RoutesTest, LatencyStrategyPrefersTheFasterUpstream) {
  // A 200 ms upstream first in the group gets probed (once or twice per worker), then the
  // fast one takes the traffic; ordered routing would send all 30 to the slow one.
  ASSERT_TRUE(cluster_.startUpstream("slow", {"--stall-ms", "200"}));
  fwdctl({"upstream", "add", "slow", "--base-url", cluster_.upstream("slow").baseUrl(), "--model",
          "none-*"});
  fwdctl({"route", "add", "fastest", "--model", "lat", "--upstream", "slow", "--upstream", "a",
          "--strategy", "latency"});
  ASSERT_TRUE(cluster_.waitInSync());
  int to_a = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = chat("lat");
    ASSERT_EQ(r.status, 200) << r.body;
    to_a += r.header("x-fake-upstream") == "a" ? 1 : 0;
  }
  auto stats = httpRequest(cluster_.upstream("slow").endpoint, "GET", "/_fake/stats");
  int to_slow = nlohmann::json::parse(stats.body)["requests"];
  EXPECT_LE(to_slow, 6);
  EXPECT_GE(to_a, 24);
}

}  // namespace
}  // namespace fwd::harness
