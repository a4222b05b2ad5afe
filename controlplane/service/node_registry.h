// In-memory status of every data plane that has held a Watch stream since this control plane
// started: what it applied, whether it is connected, its last NACK, and while it is connected
// its last report on its upstreams. Data planes reconnect after a control-plane restart, so
// nothing here is persisted.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "fwd/v1/admin.pb.h"
#include "fwd/v1/watch.pb.h"

namespace fwd::controlplane::service {

/// Thread-safe; every method may be called from any thread. Each Watch stream gets a connection
/// id from connect(); updates carrying an id that is no longer the node's current connection
/// (an old stream of a node that reconnected) are ignored.
class NodeRegistry {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  using ConnectionId = std::uint64_t;

  /// Bounds on one report, so a broken node cannot make the control plane hold unbounded
  /// memory: entries beyond the first kMaxReportedUpstreams are dropped, and so are entries
  /// whose name could not be an upstream's (validate::checkName: 1 to kMaxUpstreamName
  /// lowercase letters, digits, '.', '_', '-'), which also keeps control bytes off terminals.
  static constexpr size_t kMaxReportedUpstreams = 10'000;
  static constexpr size_t kMaxUpstreamName = 63;

  explicit NodeRegistry(Clock clock = nullptr);

  /// A stream said hello: the node's entry takes this connection's state, replacing an older
  /// connection of the same node_id from the same process (instance_id) or one that sent none.
  /// While another process's stream of that node_id is open, the hello is refused
  /// (AlreadyExistsError naming where the first one connected from).
  absl::StatusOr<ConnectionId> connect(const fwd::v1::NodeHello& hello, const std::string& peer);
  /// The node serves `version`; clears the last NACK if `version` >= its version.
  void ack(const std::string& node_id, ConnectionId connection, std::uint64_t version);
  /// The node rejected `version` for `reason`.
  void nack(const std::string& node_id, ConnectionId connection, std::uint64_t version,
            const std::string& reason);
  /// The node's report replaces its previous one. Returns how many entries were dropped: over
  /// the bounds above, or naming an upstream already in the report (the first one counts).
  size_t report(const std::string& node_id, ConnectionId connection,
                const fwd::v1::NodeReport& report);
  /// Called (outside the registry's lock) with node and upstream when a report shows an
  /// upstream ejected anew: more ejections than the node's previous report counted, or ejected
  /// in the first report of a connection. Set before the first report.
  void setOnEjected(std::function<void(const std::string& node, const std::string& upstream)> f) {
    on_ejected_ = std::move(f);
  }
  /// The stream ended; its report is forgotten.
  void disconnect(const std::string& node_id, ConnectionId connection);

  /// Every node, sorted by node_id, uptime computed now; a connected node with its last report,
  /// each countdown (ejection_left, cooling_left) shortened by the report's age (a node does not
  /// resend for countdowns alone) and cleared once that leaves nothing.
  std::vector<fwd::v1::DataPlaneStatus> list() const;

  /// Per upstream name, the sum over connected nodes whose last report names it, as reported
  /// (a node resends when something in it changes). Names no connected node reports on are
  /// absent.
  std::unordered_map<std::string, fwd::v1::UpstreamHealthSummary> healthSummaries() const;

 private:
  struct Node {
    ConnectionId connection = 0;
    std::uint64_t applied_version = 0;
    bool connected = false;
    std::string last_error;
    std::uint64_t last_nack_version = 0;
    std::chrono::system_clock::time_point start_time;
    std::chrono::system_clock::time_point last_seen;
    std::string peer;
    std::string build_version;
    std::string instance_id;
    // The last report of the current connection (empty when disconnected), and when it came.
    std::vector<fwd::v1::UpstreamState> upstreams;
    std::chrono::system_clock::time_point reported;
  };

  /// The node's entry if `connection` is its current one, else null.
  Node* current(const std::string& node_id, ConnectionId connection)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock clock_;
  std::function<void(const std::string&, const std::string&)> on_ejected_;
  // Guards nodes_ and next_connection_.
  mutable std::mutex mu_;
  std::map<std::string, Node> nodes_ ABSL_GUARDED_BY(mu_);
  ConnectionId next_connection_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace fwd::controlplane::service
