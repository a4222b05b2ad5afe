// The control loop: fwdctl writes reach every data plane quickly, without disturbing traffic;
// data planes survive the control plane's absence; bad snapshots are refused and reported.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class ConfigLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    auto r = cluster_.fwdctl({"upstream", "add", "local", "--base-url",
                              cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    key_ = cluster_.createKey("k");
    ASSERT_TRUE(cluster_.waitInSync());
  }

  int chat(const std::string& node, const std::string& model = "gpt-4o") {
    return cluster_
        .call(node, "POST", "/v1/chat/completions", key_, R"({"model":")" + model + R"("})")
        .status;
  }

  // A 2-second stream, read on another thread.
  std::future<std::pair<Response, std::string>> startLongStream(std::promise<void>& first) {
    return std::async(std::launch::async, [this, &first] {
      std::string all;
      bool signalled = false;
      auto r = streamRequest(
          cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
          {{"Authorization", "Bearer " + key_},
           {"Content-Type", "application/json"},
           {"x-fake-chunks", "20"},
           {"x-fake-chunk-delay-ms", "100"}},
          R"({"model":"gpt-4o","stream":true})",
          [&](std::string_view piece, auto) {
            all.append(piece);
            if (!signalled) {
              signalled = true;
              first.set_value();
            }
            return true;
          },
          seconds(15));
      if (!signalled) {
        first.set_value();
      }
      return std::make_pair(r, all);
    });
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(ConfigLifecycleTest, AChangeIsAppliedWithinASecondWhileAStreamIsInFlight) {
  // The write lands on the data plane in < 1 s and the stream that started before it still
  // completes normally.
  std::promise<void> first;
  auto stream = startLongStream(first);
  first.get_future().wait();

  ASSERT_TRUE(cluster_.startUpstream("up2"));
  auto r = cluster_.fwdctl({"upstream", "add", "second", "--base-url",
                            cluster_.upstream("up2").baseUrl(), "--model", "other-*"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  auto written = std::chrono::steady_clock::now();
  std::uint64_t version = cluster_.configVersion();
  ASSERT_TRUE(waitFor([&] { return cluster_.appliedVersion("dp1") == version; }, seconds(1),
                      "data plane to apply the write"));
  auto took = std::chrono::steady_clock::now() - written;
  RecordProperty("propagation_ms",
                 static_cast<int>(std::chrono::duration_cast<milliseconds>(took).count()));
  EXPECT_EQ(chat("dp1", "other-model"), 200);

  auto [response, body] = stream.get();
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(response.complete) << response.error;
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos);
}

TEST_F(ConfigLifecycleTest, EveryDataPlaneIsListedInSyncByStatus) {
  // Two replicas both apply the current version and fwdctl status says so.
  ASSERT_TRUE(cluster_.startDataPlane("dp2"));
  ASSERT_TRUE(cluster_.waitInSync());
  ASSERT_TRUE(waitFor(
      [&] {
        auto s = cluster_.fwdctlJson({"status"});
        int in_sync = 0;
        for (const auto& dp : s["dataplanes"]) {
          in_sync += dp["in_sync"].get<bool>() && dp["connected"].get<bool>() ? 1 : 0;
        }
        return in_sync == 2;
      },
      seconds(5), "both data planes in sync in fwdctl status"));
  EXPECT_EQ(chat("dp2"), 200);
}

TEST_F(ConfigLifecycleTest, DataPlaneKeepsServingWhenTheControlPlaneDies) {
  // SIGKILL the control plane: traffic is unaffected and the disconnect is visible in metrics.
  cluster_.killControlPlane();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(chat("dp1"), 200);
  }
  ASSERT_TRUE(waitFor(
      [&] {
        auto m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
        return metricValue(m.body, "fwd_control_plane_connected") == 0;
      },
      seconds(20), "fwd_control_plane_connected to drop to 0"));
  EXPECT_EQ(chat("dp1"), 200);
}

TEST_F(ConfigLifecycleTest, RestartedDataPlaneServesFromItsStateDirWhileTheControlPlaneIsDown) {
  // No control plane at all, yet a fresh data plane process serves the last config it saw,
  // and catches up once the control plane returns.
  cluster_.killControlPlane();
  ASSERT_TRUE(cluster_.restartDataPlane("dp1"));
  ASSERT_TRUE(waitFor(
      [&] { return httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/readyz").status == 200; },
      seconds(5), "readyz from the saved snapshot"));
  EXPECT_EQ(chat("dp1"), 200);

  ASSERT_TRUE(cluster_.restartControlPlaneOnSamePort());
  ASSERT_EQ(
      cluster_.fwdctl({"upstream", "update", "local", "--model", "gpt-*", "--model", "llama-*"})
          .exit_code,
      0);
  ASSERT_TRUE(cluster_.waitInSync(seconds(15)));
  EXPECT_EQ(chat("dp1", "llama-3"), 200);
}

TEST_F(ConfigLifecycleTest, AControlPlaneBackAfterAnOutageHasItsDataPlanesInSyncWithinASecond) {
  // Down long enough for any backoff to reach its maximum, then back on the same port: the
  // data plane does not sit out a long backoff or fail on a stale connect error, it is back in
  // sync with a change made at once about a second after the control plane serves again.
  cluster_.killControlPlane();
  ASSERT_TRUE(waitFor(
      [&] {
        auto m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
        return metricValue(m.body, "fwd_control_plane_connected") == 0;
      },
      seconds(20), "the data plane to notice"));
  std::this_thread::sleep_for(seconds(6));  // the outage
  ASSERT_TRUE(cluster_.restartControlPlaneOnSamePort());
  auto serving = std::chrono::steady_clock::now();
  ASSERT_EQ(
      cluster_.fwdctl({"upstream", "update", "local", "--model", "gpt-*", "--model", "llama-*"})
          .exit_code,
      0);
  ASSERT_TRUE(cluster_.waitInSync(seconds(15)));
  auto took = std::chrono::steady_clock::now() - serving;
  EXPECT_LT(took, milliseconds(2000))
      << std::chrono::duration_cast<milliseconds>(took).count() << " ms";
  EXPECT_EQ(chat("dp1", "llama-3"), 200);
}

TEST_F(ConfigLifecycleTest, ASecondDataPlaneWithTheSameNodeIdIsRefused) {
  // Two processes started with the same --node-id do not merge into one row of fwdctl status:
  // the second is refused with an error that says what to do, and keeps retrying.
  ASSERT_TRUE(cluster_.startDataPlane("dup", {}, {"--node-id", "dp1"}));
  ASSERT_TRUE(waitFor(
      [&] {
        return cluster_.dataPlane("dup").process->stderrText().find(
                   "control plane refused this data plane: node id \"dp1\" is already "
                   "connected from") != std::string::npos;
      },
      seconds(5), "the refusal in the second data plane's log"))
      << cluster_.dataPlane("dup").process->stderrText();
  EXPECT_NE(cluster_.dataPlane("dup").process->stderrText().find(
                "give every data plane its own --node-id"),
            std::string::npos);
  auto m = httpRequest(cluster_.dataPlane("dup").admin, "GET", "/metrics");
  EXPECT_EQ(metricValue(m.body, "fwd_control_plane_connected"), 0);
  auto s = cluster_.fwdctlJson({"status"});
  ASSERT_EQ(s["dataplanes"].size(), 1u) << s.dump();
  EXPECT_EQ(s["dataplanes"][0]["node_id"], "dp1");
  EXPECT_TRUE(s["dataplanes"][0]["connected"].get<bool>());
  // The first one is undisturbed.
  EXPECT_EQ(chat("dp1"), 200);
}

TEST_F(ConfigLifecycleTest, ABadSnapshotIsNackedAndTheOldConfigStays) {
  // An upstream whose credential env var is missing on the data-plane host cannot be applied:
  // the node NACKs, fwdctl status shows why, and traffic keeps flowing on the old version.
  std::uint64_t good = cluster_.configVersion();
  auto r = cluster_.fwdctl({"upstream", "add", "needs-env", "--base-url",
                            cluster_.upstream("up1").baseUrl(), "--api-key-env",
                            "FWD_TEST_SURELY_UNSET_VAR", "--model", "x-*"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  nlohmann::json node;
  ASSERT_TRUE(waitFor(
      [&] {
        auto s = cluster_.fwdctlJson({"status"});
        for (const auto& dp : s["dataplanes"]) {
          if (dp["node_id"] == "dp1" && !dp["last_error"].get<std::string>().empty()) {
            node = dp;
            return true;
          }
        }
        return false;
      },
      seconds(5), "the NACK to show in fwdctl status"));
  EXPECT_NE(node["last_error"].get<std::string>().find("FWD_TEST_SURELY_UNSET_VAR"),
            std::string::npos)
      << node.dump();
  EXPECT_EQ(node["applied_version"], good);
  EXPECT_FALSE(node["in_sync"].get<bool>());
  EXPECT_EQ(cluster_.appliedVersion("dp1"), good);
  EXPECT_EQ(chat("dp1"), 200);
  auto table = cluster_.fwdctl({"status"});
  EXPECT_NE(table.stdout_text.find("FWD_TEST_SURELY_UNSET_VAR"), std::string::npos)
      << table.stdout_text;

  // Removing the bad upstream makes the next snapshot acceptable and clears the error.
  ASSERT_EQ(cluster_.fwdctl({"upstream", "remove", "needs-env"}).exit_code, 0);
  ASSERT_TRUE(cluster_.waitInSync());
  ASSERT_TRUE(waitFor(
      [&] {
        auto s = cluster_.fwdctlJson({"status"});
        return s["dataplanes"][0]["last_error"] == "" && s["dataplanes"][0]["in_sync"] == true;
      },
      seconds(5), "the error to clear"));
}

TEST_F(ConfigLifecycleTest, SigtermDrainsTheStreamInFlight) {
  // A stream that is mid-way when SIGTERM arrives completes (readiness already failing);
  // then the process exits 0.
  std::promise<void> first;
  auto stream = startLongStream(first);
  first.get_future().wait();
  ::kill(cluster_.dataPlane("dp1").process->pid(), SIGTERM);
  // Readiness fails at once so a load balancer stops sending, while the stream goes on.
  EXPECT_TRUE(waitFor(
      [&] { return httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/readyz").status == 503; },
      seconds(1), "/readyz to report 503 during the drain"));
  auto [response, body] = stream.get();
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(response.complete) << response.error;
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos);
  auto code = cluster_.dataPlane("dp1").process->waitForExit(seconds(10));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
}

TEST_F(ConfigLifecycleTest, DuringTheDrainGraceTheListenerServesWithConnectionClose) {
  // SIGTERM with --drain-grace: /readyz fails at once, but for the grace the listener still
  // accepts and serves, every answer says Connection: close; then the port closes and the
  // process exits 0. A second SIGTERM ends the grace early.
  ASSERT_TRUE(cluster_.startDataPlane("dp2", {}, {"--drain-grace", "30s"}));
  ASSERT_TRUE(cluster_.waitInSync());
  const Endpoint http = cluster_.dataPlane("dp2").http;
  const Headers headers = {{"Authorization", "Bearer " + key_},
                           {"Content-Type", "application/json"}};
  HttpConnection kept(http);
  ASSERT_EQ(kept.request("POST", "/v1/chat/completions", headers, R"({"model":"gpt-4o"})").status,
            200);
  ::kill(cluster_.dataPlane("dp2").process->pid(), SIGTERM);
  ASSERT_TRUE(waitFor(
      [&] { return httpRequest(cluster_.dataPlane("dp2").admin, "GET", "/readyz").status == 503; },
      seconds(2), "/readyz to report 503"));
  Response on_kept = kept.request("POST", "/v1/chat/completions", headers, R"({"model":"gpt-4o"})");
  EXPECT_EQ(on_kept.status, 200) << on_kept.error;
  EXPECT_EQ(on_kept.header("connection"), "close");
  for (int i = 0; i < 3; ++i) {
    Response fresh =
        httpRequest(http, "POST", "/v1/chat/completions", headers, R"({"model":"gpt-4o"})");
    EXPECT_EQ(fresh.status, 200) << fresh.error;
    EXPECT_EQ(fresh.header("connection"), "close");
  }
  EXPECT_FALSE(cluster_.dataPlane("dp2").process->waitForExit(milliseconds(300)).has_value())
      << "the grace is 30 s";
  ::kill(cluster_.dataPlane("dp2").process->pid(), SIGTERM);
  auto code = cluster_.dataPlane("dp2").process->waitForExit(seconds(5));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_NE(httpRequest(http, "GET", "/v1/models", headers, "", seconds(1)).error, "");
}

}  // namespace
}  // namespace fwd::harness
