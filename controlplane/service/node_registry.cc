#include "controlplane/service/node_registry.h"

#include <unordered_set>

#include "controlplane/validate/validate.h"

namespace fwd::controlplane::service {
namespace {

void setTimestamp(std::chrono::system_clock::time_point t, google::protobuf::Timestamp* out) {
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<std::int32_t>(nanos % 1000000000));
}

/// A countdown as a node may send it, made safe to compute with: beyond a year is a year (no
/// overflow in nanoseconds). Returns false when it does not run (zero, negative, malformed).
bool sanitize(google::protobuf::Duration* d) {
  constexpr std::int64_t kYear = 365 * 24 * 3600;
  if (d->seconds() < 0 || d->nanos() < 0 || d->nanos() > 999999999 ||
      (d->seconds() == 0 && d->nanos() == 0)) {
    return false;
  }
  if (d->seconds() >= kYear) {
    d->set_seconds(kYear);
    d->set_nanos(0);
  }
  return true;
}

/// `d` minus `elapsed`; returns false when nothing is left.
bool shorten(google::protobuf::Duration* d, std::chrono::nanoseconds elapsed) {
  auto left = std::chrono::seconds(d->seconds()) + std::chrono::nanoseconds(d->nanos()) - elapsed;
  if (left.count() <= 0) {
    return false;
  }
  d->set_seconds(left.count() / 1000000000);
  d->set_nanos(static_cast<std::int32_t>(left.count() % 1000000000));
  return true;
}

bool running(const google::protobuf::Duration& d) { return d.seconds() > 0 || d.nanos() > 0; }

}  // namespace

NodeRegistry::NodeRegistry(Clock clock)
    : clock_(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }) {}

absl::StatusOr<NodeRegistry::ConnectionId> NodeRegistry::connect(const fwd::v1::NodeHello& hello,
                                                                 const std::string& peer) {
  const auto now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_[hello.node_id()];
  if (node.connected && !node.instance_id.empty() && !hello.instance_id().empty() &&
      node.instance_id != hello.instance_id()) {
    return absl::AlreadyExistsError(
        "node id \"" + hello.node_id() + "\" is already connected from " + node.peer +
        " (another data plane process); give every data plane its own --node-id");
  }
  node.instance_id = hello.instance_id();
  node.connection = next_connection_++;
  node.connected = true;
  node.applied_version = hello.applied_version();
  node.peer = peer;
  node.build_version = hello.build_version();
  node.last_seen = now;
  node.upstreams.clear();  // the new connection's report follows its hello
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

size_t NodeRegistry::report(const std::string& node_id, ConnectionId connection,
                            const fwd::v1::NodeReport& report) {
  // Bounded and deduplicated outside the lock, so GetStatus never waits on a big report.
  std::vector<fwd::v1::UpstreamState> kept;
  kept.reserve(std::min<size_t>(report.upstreams_size(), kMaxReportedUpstreams));
  std::unordered_set<std::string> seen;
  for (const fwd::v1::UpstreamState& state : report.upstreams()) {
    if (kept.size() == kMaxReportedUpstreams) {
      break;
    }
    if (!validate::checkName("name", state.name()).ok() || !seen.insert(state.name()).second) {
      continue;
    }
    fwd::v1::UpstreamState& k = kept.emplace_back(state);
    k.DiscardUnknownFields();
    if (k.has_ejection_left() && !sanitize(k.mutable_ejection_left())) {
      k.clear_ejection_left();
    }
    if (k.has_cooling_left() && !sanitize(k.mutable_cooling_left())) {
      k.clear_cooling_left();
    }
  }
  const size_t dropped = static_cast<size_t>(report.upstreams_size()) - kept.size();
  const auto now = clock_();
  std::vector<std::string> ejected;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Node* node = current(node_id, connection);
    if (node == nullptr) {
      return dropped;
    }
    for (const fwd::v1::UpstreamState& state : kept) {
      auto before = std::find_if(
          node->upstreams.begin(), node->upstreams.end(),
          [&](const fwd::v1::UpstreamState& old) { return old.name() == state.name(); });
      if (before == node->upstreams.end() ? state.ejected()
                                          : state.ejections() > before->ejections()) {
        ejected.push_back(state.name());
      }
    }
    node->upstreams = std::move(kept);
    node->reported = now;
    node->last_seen = now;
  }
  if (on_ejected_) {
    for (const std::string& upstream : ejected) {
      on_ejected_(node_id, upstream);
    }
  }
  return dropped;
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
  // A report describes a live node; once it is gone its upstreams are nobody's view.
  node->upstreams.clear();
  node->upstreams.shrink_to_fit();
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
    const auto age = std::chrono::duration_cast<std::chrono::nanoseconds>(now - node.reported);
    for (const fwd::v1::UpstreamState& state : node.upstreams) {
      fwd::v1::UpstreamState& shown = *s.add_upstreams() = state;
      if (shown.has_ejection_left() && !shorten(shown.mutable_ejection_left(), age)) {
        shown.clear_ejection_left();
      }
      if (shown.has_cooling_left() && !shorten(shown.mutable_cooling_left(), age)) {
        shown.clear_cooling_left();
      }
    }
  }
  return out;
}

std::unordered_map<std::string, fwd::v1::UpstreamHealthSummary> NodeRegistry::healthSummaries()
    const {
  std::unordered_map<std::string, fwd::v1::UpstreamHealthSummary> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, node] : nodes_) {
    if (!node.connected) {
      continue;
    }
    // A report names each upstream at most once (report() deduplicates). Whether a countdown
    // runs is taken as reported, not guessed from its age: a node resends within a second when
    // that changes, and a cooling restarted between two of its checks is no change to it.
    for (const fwd::v1::UpstreamState& state : node.upstreams) {
      fwd::v1::UpstreamHealthSummary& sum = out[state.name()];
      sum.set_nodes_reporting(sum.nodes_reporting() + 1);
      sum.set_nodes_ejected(sum.nodes_ejected() + (state.ejected() ? 1 : 0));
      sum.set_nodes_unhealthy(sum.nodes_unhealthy() +
                              (state.health() == fwd::v1::UpstreamState::HEALTH_UNHEALTHY ? 1 : 0));
      sum.set_nodes_cooling(sum.nodes_cooling() + (running(state.cooling_left()) ? 1 : 0));
      sum.set_ejections(sum.ejections() + state.ejections());
    }
  }
  return out;
}

}  // namespace fwd::controlplane::service
