// NodeRegistry: what GetStatus reports per data plane across hello, ack, nack, report,
// reconnect and disconnect, and the per-upstream health summed over connected nodes.
#include "controlplane/service/node_registry.h"

#include <gtest/gtest.h>

#include <limits>

namespace fwd::controlplane::service {
namespace {

class NodeRegistryTest : public ::testing::Test {
 protected:
  fwd::v1::NodeHello hello(const std::string& id, std::uint64_t applied) {
    fwd::v1::NodeHello h;
    h.set_node_id(id);
    h.set_applied_version(applied);
    h.set_build_version("0.1.0");
    h.mutable_start_time()->set_seconds(1000);
    return h;
  }

  static fwd::v1::UpstreamState state(const std::string& name, bool ejected = false,
                                      std::uint64_t ejections = 0) {
    fwd::v1::UpstreamState s;
    s.set_name(name);
    s.set_ejected(ejected);
    s.set_ejections(ejections);
    return s;
  }

  static fwd::v1::NodeReport reportOf(std::initializer_list<fwd::v1::UpstreamState> states) {
    fwd::v1::NodeReport r;
    for (const auto& s : states) {
      *r.add_upstreams() = s;
    }
    return r;
  }

  fwd::v1::DataPlaneStatus only() {
    std::vector<fwd::v1::DataPlaneStatus> all = registry_.list();
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? fwd::v1::DataPlaneStatus() : all[0];
  }

  std::chrono::system_clock::time_point now_{std::chrono::seconds(1060)};
  NodeRegistry registry_{[this] { return now_; }};
};

TEST_F(NodeRegistryTest, HelloRegistersConnectedNodeWithUptime) {
  // A hello makes the node connected with its version, peer, build and uptime = now - start.
  *registry_.connect(hello("dp-1", 4), "ipv4:127.0.0.1:5555");
  fwd::v1::DataPlaneStatus s = only();
  EXPECT_EQ(s.node_id(), "dp-1");
  EXPECT_TRUE(s.connected());
  EXPECT_EQ(s.applied_version(), 4u);
  EXPECT_EQ(s.peer(), "ipv4:127.0.0.1:5555");
  EXPECT_EQ(s.build_version(), "0.1.0");
  EXPECT_EQ(s.start_time().seconds(), 1000);
  EXPECT_EQ(s.uptime().seconds(), 60);
  EXPECT_EQ(s.last_seen().seconds(), 1060);
}

TEST_F(NodeRegistryTest, NackIsClearedOnlyByAckOfThatVersionOrNewer) {
  // last_error stays through acks of older versions and clears on an ack >= the nacked one.
  auto c = *registry_.connect(hello("dp-1", 4), "peer");
  registry_.nack("dp-1", c, 6, "env OPENAI_KEY is not set");
  EXPECT_EQ(only().last_error(), "env OPENAI_KEY is not set");
  EXPECT_EQ(only().last_nack_version(), 6u);
  EXPECT_EQ(only().applied_version(), 4u);
  registry_.ack("dp-1", c, 5);
  EXPECT_EQ(only().last_error(), "env OPENAI_KEY is not set");
  EXPECT_EQ(only().applied_version(), 5u);
  registry_.ack("dp-1", c, 7);
  EXPECT_EQ(only().last_error(), "");
  EXPECT_EQ(only().last_nack_version(), 0u);
  EXPECT_EQ(only().applied_version(), 7u);
}

TEST_F(NodeRegistryTest, ReconnectReplacesTheOldStream) {
  // After a reconnect, the old stream's late disconnect and acks no longer change the entry.
  auto old_conn = *registry_.connect(hello("dp-1", 1), "peer-a");
  auto new_conn = *registry_.connect(hello("dp-1", 2), "peer-b");
  EXPECT_NE(old_conn, new_conn);
  registry_.disconnect("dp-1", old_conn);
  registry_.ack("dp-1", old_conn, 9);
  fwd::v1::DataPlaneStatus s = only();
  EXPECT_TRUE(s.connected());
  EXPECT_EQ(s.peer(), "peer-b");
  EXPECT_EQ(s.applied_version(), 2u);
  registry_.disconnect("dp-1", new_conn);
  EXPECT_FALSE(only().connected());
}

TEST_F(NodeRegistryTest, ASecondProcessWithAConnectedNodeIdIsRefused) {
  // Two data planes given the same --node-id would merge into one row: while the first one's
  // stream is open, another process (another instance_id) is refused and the first stays; the
  // same process reconnecting replaces its stream; once the first is gone the other may come.
  auto first = hello("dp-1", 1);
  first.set_instance_id("aaaa");
  auto other = hello("dp-1", 1);
  other.set_instance_id("bbbb");
  auto c1 = registry_.connect(first, "ipv4:10.0.0.1:5000");
  ASSERT_TRUE(c1.ok());
  auto refused = registry_.connect(other, "ipv4:10.0.0.2:6000");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(refused.status().message(),
            "node id \"dp-1\" is already connected from ipv4:10.0.0.1:5000 (another data plane "
            "process); give every data plane its own --node-id");
  EXPECT_EQ(only().peer(), "ipv4:10.0.0.1:5000");
  EXPECT_TRUE(only().connected());

  auto again = registry_.connect(first, "ipv4:10.0.0.1:5001");
  ASSERT_TRUE(again.ok());
  registry_.disconnect("dp-1", *again);
  auto now_other = registry_.connect(other, "ipv4:10.0.0.2:6000");
  ASSERT_TRUE(now_other.ok());
  EXPECT_EQ(only().peer(), "ipv4:10.0.0.2:6000");
}

TEST_F(NodeRegistryTest, ListsNodesSortedById) {
  // GetStatus shows nodes in node_id order whatever order they connected in.
  *registry_.connect(hello("dp-c", 0), "p");
  *registry_.connect(hello("dp-a", 0), "p");
  *registry_.connect(hello("dp-b", 0), "p");
  std::vector<fwd::v1::DataPlaneStatus> all = registry_.list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].node_id(), "dp-a");
  EXPECT_EQ(all[1].node_id(), "dp-b");
  EXPECT_EQ(all[2].node_id(), "dp-c");
}

TEST_F(NodeRegistryTest, ReportShowsInStatusAndEachReportReplacesTheLast) {
  // GetStatus carries the node's last report, in its order; a newer report replaces it whole.
  auto c = *registry_.connect(hello("dp-1", 1), "peer");
  EXPECT_EQ(only().upstreams_size(), 0);
  EXPECT_EQ(registry_.report("dp-1", c, reportOf({state("b", true, 2), state("a")})), 0u);
  fwd::v1::DataPlaneStatus s = only();
  ASSERT_EQ(s.upstreams_size(), 2);
  EXPECT_EQ(s.upstreams(0).name(), "b");
  EXPECT_TRUE(s.upstreams(0).ejected());
  EXPECT_EQ(s.upstreams(0).ejections(), 2u);
  EXPECT_EQ(s.upstreams(1).name(), "a");
  registry_.report("dp-1", c, reportOf({state("a", true, 1)}));
  s = only();
  ASSERT_EQ(s.upstreams_size(), 1);
  EXPECT_EQ(s.upstreams(0).name(), "a");
  EXPECT_TRUE(s.upstreams(0).ejected());
}

TEST_F(NodeRegistryTest, AnUpstreamEjectedAnewIsToldOnce) {
  std::vector<std::string> told;
  registry_.setOnEjected([&](const std::string& node, const std::string& upstream) {
    told.push_back(node + "/" + upstream);
  });
  auto c = *registry_.connect(hello("dp-1", 1), "peer");
  registry_.report("dp-1", c, reportOf({state("a"), state("b")}));
  EXPECT_TRUE(told.empty());
  registry_.report("dp-1", c, reportOf({state("a", true, 1), state("b")}));
  EXPECT_EQ(told, (std::vector<std::string>{"dp-1/a"}));
  // The same ejection reported again (something else changed) is not news.
  registry_.report("dp-1", c, reportOf({state("a", true, 1), state("b", false, 0)}));
  EXPECT_EQ(told.size(), 1u);
  // Back, then ejected again: a second ejection.
  registry_.report("dp-1", c, reportOf({state("a", false, 1), state("b")}));
  registry_.report("dp-1", c, reportOf({state("a", true, 2), state("b")}));
  EXPECT_EQ(told, (std::vector<std::string>{"dp-1/a", "dp-1/a"}));
  // A reconnected node's first report tells what is ejected now.
  registry_.disconnect("dp-1", c);
  auto c2 = *registry_.connect(hello("dp-1", 1), "peer");
  registry_.report("dp-1", c2, reportOf({state("a"), state("b", true, 1)}));
  EXPECT_EQ(told.back(), "dp-1/b");
  EXPECT_EQ(told.size(), 3u);
}

TEST_F(NodeRegistryTest, SummariesCountConnectedNodesPerUpstream) {
  // Each upstream sums the connected nodes that name it: reporting, ejected, unhealthy,
  // cooling, ejections; a disconnected node's report is forgotten.
  auto c1 = *registry_.connect(hello("dp-1", 1), "p");
  auto c2 = *registry_.connect(hello("dp-2", 1), "p");
  auto c3 = *registry_.connect(hello("dp-3", 1), "p");
  fwd::v1::UpstreamState unhealthy = state("a", false, 1);
  unhealthy.set_health(fwd::v1::UpstreamState::HEALTH_UNHEALTHY);
  fwd::v1::UpstreamState cooling = state("b");
  cooling.mutable_cooling_left()->set_seconds(30);
  registry_.report("dp-1", c1, reportOf({state("a", true, 3), state("b")}));
  registry_.report("dp-2", c2, reportOf({unhealthy, cooling}));
  registry_.report("dp-3", c3, reportOf({state("a", false, 2)}));

  auto sums = registry_.healthSummaries();
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums["a"].nodes_reporting(), 3u);
  EXPECT_EQ(sums["a"].nodes_ejected(), 1u);
  EXPECT_EQ(sums["a"].nodes_unhealthy(), 1u);
  EXPECT_EQ(sums["a"].nodes_cooling(), 0u);
  EXPECT_EQ(sums["a"].ejections(), 6u);
  EXPECT_EQ(sums["b"].nodes_reporting(), 2u);
  EXPECT_EQ(sums["b"].nodes_ejected(), 0u);
  EXPECT_EQ(sums["b"].nodes_cooling(), 1u);

  registry_.disconnect("dp-1", c1);
  sums = registry_.healthSummaries();
  EXPECT_EQ(sums["a"].nodes_reporting(), 2u);
  EXPECT_EQ(sums["a"].nodes_ejected(), 0u);
  EXPECT_EQ(sums["a"].ejections(), 3u);
  EXPECT_EQ(sums["b"].nodes_reporting(), 1u);
  for (const auto& node : registry_.list()) {
    if (node.node_id() == "dp-1") {
      EXPECT_EQ(node.upstreams_size(), 0);
    }
  }
}

TEST_F(NodeRegistryTest, ReportsOfAReplacedOrEndedStreamAreIgnored) {
  // A report from an old connection does not overwrite the new one's; a reconnect starts
  // without a report until the new stream sends one.
  auto old_conn = *registry_.connect(hello("dp-1", 1), "p");
  registry_.report("dp-1", old_conn, reportOf({state("a", true)}));
  auto new_conn = *registry_.connect(hello("dp-1", 1), "p");
  EXPECT_EQ(only().upstreams_size(), 0);
  EXPECT_TRUE(registry_.healthSummaries().empty());
  registry_.report("dp-1", old_conn, reportOf({state("a", true)}));
  EXPECT_EQ(only().upstreams_size(), 0);
  registry_.report("dp-1", new_conn, reportOf({state("a")}));
  EXPECT_EQ(registry_.healthSummaries()["a"].nodes_ejected(), 0u);
  registry_.disconnect("dp-1", new_conn);
  registry_.report("dp-1", new_conn, reportOf({state("a")}));
  EXPECT_TRUE(registry_.healthSummaries().empty());
}

TEST_F(NodeRegistryTest, ReportsAreBounded) {
  // A report keeps at most kMaxReportedUpstreams entries and drops names that could not be an
  // upstream's (too long, empty, control bytes) and repeats; the count of dropped entries is
  // returned.
  auto c = *registry_.connect(hello("dp-1", 1), "p");
  fwd::v1::NodeReport big;
  for (size_t i = 0; i < NodeRegistry::kMaxReportedUpstreams + 5; ++i) {
    big.add_upstreams()->set_name("u" + std::to_string(i));
  }
  EXPECT_EQ(registry_.report("dp-1", c, big), 5u);
  fwd::v1::DataPlaneStatus s = only();
  ASSERT_EQ(s.upstreams_size(), static_cast<int>(NodeRegistry::kMaxReportedUpstreams));
  EXPECT_EQ(s.upstreams(s.upstreams_size() - 1).name(),
            "u" + std::to_string(NodeRegistry::kMaxReportedUpstreams - 1));

  const std::string longest(NodeRegistry::kMaxUpstreamName, 'a');
  fwd::v1::NodeReport odd = reportOf({state(longest), state(longest + "a"), state(""),
                                      state("bad\x1b[2Jname"), state("a"), state("a", true)});
  EXPECT_EQ(registry_.report("dp-1", c, odd), 4u);
  s = only();
  ASSERT_EQ(s.upstreams_size(), 2);
  EXPECT_EQ(s.upstreams(0).name(), longest);
  EXPECT_EQ(s.upstreams(1).name(), "a");
  EXPECT_FALSE(s.upstreams(1).ejected());  // the first of the repeats counts
  EXPECT_EQ(registry_.healthSummaries()["a"].nodes_reporting(), 1u);
}

TEST_F(NodeRegistryTest, CountdownsShrinkWithTheReportsAge) {
  // ejection_left and cooling_left are shown as of now, not as of the report, while the
  // summary keeps what the node said until it says otherwise; absurd values a node may send
  // are clamped instead of overflowing.
  auto c = *registry_.connect(hello("dp-1", 1), "p");
  fwd::v1::UpstreamState a = state("a", true);
  a.mutable_ejection_left()->set_seconds(30);
  a.mutable_cooling_left()->set_seconds(5);
  fwd::v1::UpstreamState huge = state("b", true);
  huge.mutable_ejection_left()->set_seconds(std::numeric_limits<std::int64_t>::max());
  huge.mutable_cooling_left()->set_seconds(-3);
  registry_.report("dp-1", c, reportOf({a, huge}));
  now_ += std::chrono::seconds(10);
  fwd::v1::DataPlaneStatus s = only();
  ASSERT_EQ(s.upstreams_size(), 2);
  EXPECT_EQ(s.upstreams(0).ejection_left().seconds(), 20);
  EXPECT_FALSE(s.upstreams(0).has_cooling_left());
  EXPECT_GT(s.upstreams(1).ejection_left().seconds(), 300 * 24 * 3600);
  EXPECT_FALSE(s.upstreams(1).has_cooling_left());
  auto sums = registry_.healthSummaries();
  EXPECT_EQ(sums["a"].nodes_cooling(), 1u);
  EXPECT_EQ(sums["b"].nodes_cooling(), 0u);
}

}  // namespace
}  // namespace fwd::controlplane::service
