// Upstream state as the data planes report it on their Watch streams, seen through fwdctl, with
// the real binaries: cooling after a 429 with Retry-After, outlier ejections and failed health
// checks.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using std::chrono::seconds;

class NodeReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp2"));
    auto r = cluster_.fwdctl(
        {"upstream", "add", "up", "--base-url", cluster_.upstream("up").baseUrl(), "--model", "*"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    key_ = cluster_.createKey("k");
    ASSERT_TRUE(cluster_.waitInSync());
  }

  /// The HEALTH cell (the last column) of upstream `name` in `fwdctl upstream list`.
  std::string healthCell(const std::string& name) {
    std::istringstream lines(cluster_.fwdctl({"upstream", "list"}).stdout_text);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(name + " ", 0) == 0) {
        auto gap = line.rfind("  ");
        return gap == std::string::npos ? "" : line.substr(line.find_first_not_of(' ', gap));
      }
    }
    return "(no row)";
  }

  /// The node's entry of `fwdctl -o json status`.
  nlohmann::json node(const std::string& node_id) {
    const nlohmann::json status = cluster_.fwdctlJson({"status"});
    for (const auto& n : status["dataplanes"]) {
      if (n["node_id"] == node_id) {
        return n;
      }
    }
    return nullptr;
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(NodeReportTest, UpstreamListShowsWhatTheConnectedDataPlanesReport) {
  // Both nodes report the upstream fine ("ok"); while dp1 cools it after a 429 with
  // Retry-After, `upstream list` says "cooling 1/2" and dp1's status entry says for how long;
  // a killed node stops counting, and with no node left the cell is "-".
  ASSERT_TRUE(waitFor(
      [&] {
        return healthCell("up") == "ok" &&
               cluster_.fwdctlJson({"upstream", "get", "up"})["health"]["nodes_reporting"] == 2;
      },
      seconds(5), "both data planes to report the upstream fine"));

  auto limited = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m"})",
                               {{"x-fake-status", "429"}, {"x-fake-retry-after", "120"}});
  ASSERT_EQ(limited.status, 429) << limited.body;
  std::string cell;
  EXPECT_TRUE(waitFor([&] { return (cell = healthCell("up")) == "cooling 1/2"; }, seconds(5),
                      "\"cooling 1/2\""))
      << "last HEALTH cell: " << cell;
  nlohmann::json dp1 = node("dp1");
  ASSERT_EQ(dp1["upstreams"].size(), 1u) << dp1.dump();
  EXPECT_EQ(dp1["upstreams"][0]["name"], "up");
  EXPECT_EQ(dp1["upstreams"][0]["ejected"], false);
  EXPECT_TRUE(dp1["upstreams"][0]["cooling_left"].is_string()) << dp1.dump();
  EXPECT_TRUE(node("dp2")["upstreams"][0]["cooling_left"].is_null());
  const std::string status = cluster_.fwdctl({"status"}).stdout_text;
  EXPECT_NE(status.find("EJECTED  UNHEALTHY"), std::string::npos) << status;

  cluster_.dataPlane("dp1").process->kill();
  EXPECT_TRUE(waitFor([&] { return (cell = healthCell("up")) == "ok"; }, seconds(5),
                      "dp1's report to be forgotten"))
      << "last HEALTH cell: " << cell;
  EXPECT_TRUE(node("dp1")["upstreams"].empty());
  cluster_.dataPlane("dp2").process->stop();
  EXPECT_TRUE(
      waitFor([&] { return (cell = healthCell("up")) == "-"; }, seconds(5), "no node to report"))
      << "last HEALTH cell: " << cell;
}

TEST_F(NodeReportTest, EjectionsAndFailedHealthChecksShowInUpstreamListAndStatus) {
  // dp1 ejects "flaky" after 2 failures (dp2 sees no traffic): `upstream list` says
  // "ejected 1/2" and `upstream get` counts the ejection; a failing health check on both nodes
  // says "unhealthy 2/2", and both go back to "ok" once the upstream heals.
  ASSERT_TRUE(cluster_.startUpstream("flaky", {"--fail-status", "503"}));
  auto add = cluster_.fwdctl({"upstream", "add", "flaky", "--base-url",
                              cluster_.upstream("flaky").baseUrl(), "--model", "fl", "--priority",
                              "-1", "--eject-after", "2", "--eject-time", "1m"});
  ASSERT_EQ(add.exit_code, 0) << add.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(
        cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"fl"})").status,
        200);
  }
  std::string cell;
  EXPECT_TRUE(waitFor([&] { return (cell = healthCell("flaky")) == "ejected 1/2"; }, seconds(5),
                      "\"ejected 1/2\""))
      << "last HEALTH cell: " << cell;
  auto got = cluster_.fwdctlJson({"upstream", "get", "flaky"});
  EXPECT_EQ(got["health"]["ejections"], 1) << got.dump();
  EXPECT_EQ(got["health"]["nodes_ejected"], 1) << got.dump();
  EXPECT_EQ(node("dp1")["upstreams"][0]["name"], "flaky") << node("dp1").dump();
  EXPECT_EQ(node("dp1")["upstreams"][0]["ejected"], true) << node("dp1").dump();

  auto check = cluster_.fwdctl({"upstream", "update", "flaky", "--eject-after", "0",
                                "--health-check-interval", "1s", "--unhealthy-threshold", "1",
                                "--healthy-threshold", "1", "--health-check-timeout", "500ms"});
  ASSERT_EQ(check.exit_code, 0) << check.stderr_text;
  EXPECT_TRUE(waitFor(
      [&] { return (cell = healthCell("flaky")).find("unhealthy 2/2") != std::string::npos; },
      seconds(6), "\"unhealthy 2/2\""))
      << "last HEALTH cell: " << cell;
  ASSERT_EQ(httpRequest(cluster_.upstream("flaky").endpoint, "POST", "/_fake/fail-status?status=0")
                .status,
            200);
  EXPECT_TRUE(
      waitFor([&] { return (cell = healthCell("flaky")).find("unhealthy") == std::string::npos; },
              seconds(6), "the health checks to pass again"))
      << "last HEALTH cell: " << cell;
}

}  // namespace
}  // namespace fwd::harness
