#include "controlplane/service/node_registry.h"

namespace fwd::controlplane::service {
namespace {

void setTimestamp(std::chrono::system_clock::time_point t, google::protobuf::Timestamp* out) {
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<std::int32_t>(nanos % 1000000000));
}

}  // namespace

NodeRegistry::NodeRegistry(Clock clock)
    : clock_(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }) {}

NodeRegistry::ConnectionId NodeRegistry::connect(const fwd::v1::NodeHello& hello,
                                                 const std::string& peer) {
  const auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_[hello.node_id()];
  node.connection = next_connection_++;
  node.connected = true;
  node.applied_version = hello.applied_version();
  node.peer = peer;
  node.build_version = hello.build_version();
  node.last_seen = now;
  if (hello.has_start_time()) {
    node.start_time = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(hello.start_time().seconds()) +
            std::chrono::nanoseconds(hello.start_time().nanos())));
  } else {
    node.start_time = now;
  }
  return node.connection;
}

NodeRegistry::Node* NodeRegistry::current(const std::string& node_id, ConnectionId connection) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || it->second.connection != connection) {
    return nullptr;
  }
  return &it->second;
}

void NodeRegistry::ack(const std::string& node_id, ConnectionId connection, std::uint64_t version) {
  const auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  Node* node = current(node_id, connection);
  if (node == nullptr) {
    return;
  }
  node->applied_version = version;
  node->last_seen = now;
  if (!node->last_error.empty() && version >= node->last_nack_version) {
    node->last_error.clear();
    node->last_nack_version = 0;
  }
}

void NodeRegistry::nack(const std::string& node_id, ConnectionId connection, std::uint64_t version,
                        const std::string& reason) {
  const auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  Node* node = current(node_id, connection);
  if (node == nullptr) {
    return;
  }
  node->last_seen = now;
  node->last_nack_version = version;
  node->last_error = reason.empty() ? "rejected without a reason" : reason;
}

void NodeRegistry::disconnect(const std::string& node_id, ConnectionId connection) {
  const auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  Node* node = current(node_id, connection);
  if (node == nullptr) {
    return;
  }
  node->connected = false;
  node->last_seen = now;
}

std::vector<fwd::v1::DataPlaneStatus> NodeRegistry::list() const {
  const auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<fwd::v1::DataPlaneStatus> out;
  out.reserve(nodes_.size());
  // std::map iterates in node_id order.
  for (const auto& [id, node] : nodes_) {
    fwd::v1::DataPlaneStatus& s = out.emplace_back();
    s.set_node_id(id);
    s.set_applied_version(node.applied_version);
    s.set_connected(node.connected);
    s.set_last_error(node.last_error);
    s.set_last_nack_version(node.last_nack_version);
    setTimestamp(node.start_time, s.mutable_start_time());
    setTimestamp(node.last_seen, s.mutable_last_seen());
    auto uptime = std::chrono::duration_cast<std::chrono::nanoseconds>(now - node.start_time);
    if (uptime.count() < 0) {
      uptime = std::chrono::nanoseconds(0);  // a node clock ahead of ours
    }
    s.mutable_uptime()->set_seconds(uptime.count() / 1000000000);
    s.mutable_uptime()->set_nanos(static_cast<std::int32_t>(uptime.count() % 1000000000));
    s.set_peer(node.peer);
    s.set_build_version(node.build_version);
  }
  return out;
}

}  // namespace fwd::controlplane::service
