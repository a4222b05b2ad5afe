// Re-reads the committed configuration and offers it to the hub: called once at start and after
// every committed admin write.
#pragma once

#include <chrono>
#include <functional>

#include "absl/status/status.h"
#include "controlplane/snapshot/hub.h"
#include "controlplane/store/store.h"

namespace fwd::controlplane::snapshot {

class Publisher {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  /// `store` and `hub` must outlive the publisher.
  Publisher(store::Store& store, SnapshotHub& hub, Clock clock = nullptr);

  /// Builds a snapshot from the store's current committed state and publishes it. Safe from any
  /// thread: concurrent calls may finish in any order, the hub keeps the newest version.
  absl::Status publishCurrent();

 private:
  store::Store& store_;
  SnapshotHub& hub_;
  const Clock clock_;
};

}  // namespace fwd::controlplane::snapshot
