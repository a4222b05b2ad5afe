// The hub offers the newest snapshot to every watch stream. It holds one snapshot, never a
// queue: a watcher that was busy while several versions were published wakes up to the newest
// one only (latest-only), so a slow data plane costs memory for one snapshot, not a backlog.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "controlplane/snapshot/builder.h"

namespace fwd::controlplane::snapshot {

/// Thread-safe; every method may be called from any thread.
class SnapshotHub {
 public:
  /// Makes `snapshot` the current one if its version is newer than the current; an older or
  /// equal version is ignored (two writers may publish out of order). Wakes all waiters.
  /// Returns true if it became current.
  bool publish(SnapshotConstSharedPtr snapshot);

  /// The current snapshot, null before the first publish.
  SnapshotConstSharedPtr current() const;

  /// Blocks until the current snapshot's version is greater than `after_version`, the hub is
  /// shut down, `deadline` passes, or (given `wakes_seen`) wake() was called since wakes()
  /// returned it. Returns the current snapshot in the first case, null otherwise.
  SnapshotConstSharedPtr waitNewer(std::uint64_t after_version,
                                   std::chrono::steady_clock::time_point deadline,
                                   std::optional<std::uint64_t> wakes_seen = std::nullopt);

  /// Wakes every waiter that passed wakes_seen (watch streams with a query to send).
  void wake();
  std::uint64_t wakes() const;

  /// Wakes every waiter; waitNewer() returns null from now on. For server shutdown.
  void shutdown();
  bool isShutdown() const;

 private:
  // Guards current_ and shutdown_; changed_ is signalled whenever either changes.
  mutable std::mutex mu_;
  std::condition_variable changed_;
  SnapshotConstSharedPtr current_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t wakes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fwd::controlplane::snapshot
