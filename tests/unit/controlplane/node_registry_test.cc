// NodeRegistry: what GetStatus reports per data plane across hello, ack, nack, reconnect and
// disconnect.
#include "controlplane/service/node_registry.h"

#include <gtest/gtest.h>

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
  registry_.connect(hello("dp-1", 4), "ipv4:127.0.0.1:5555");
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
  auto c = registry_.connect(hello("dp-1", 4), "peer");
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
  auto old_conn = registry_.connect(hello("dp-1", 1), "peer-a");
  auto new_conn = registry_.connect(hello("dp-1", 2), "peer-b");
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

TEST_F(NodeRegistryTest, ListsNodesSortedById) {
  // GetStatus shows nodes in node_id order whatever order they connected in.
  registry_.connect(hello("dp-c", 0), "p");
  registry_.connect(hello("dp-a", 0), "p");
  registry_.connect(hello("dp-b", 0), "p");
  std::vector<fwd::v1::DataPlaneStatus> all = registry_.list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].node_id(), "dp-a");
  EXPECT_EQ(all[1].node_id(), "dp-b");
  EXPECT_EQ(all[2].node_id(), "dp-c");
}

}  // namespace
}  // namespace fwd::controlplane::service
