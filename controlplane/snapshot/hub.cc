#include "controlplane/snapshot/hub.h"

namespace fwd::controlplane::snapshot {

bool SnapshotHub::publish(SnapshotConstSharedPtr snapshot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (snapshot == nullptr ||
        (current_ != nullptr && snapshot->version() <= current_->version())) {
      return false;
    }
    current_ = std::move(snapshot);
  }
  changed_.notify_all();
  return true;
}

SnapshotConstSharedPtr SnapshotHub::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

SnapshotConstSharedPtr SnapshotHub::waitNewer(std::uint64_t after_version,
                                              std::chrono::steady_clock::time_point deadline,
                                              std::optional<std::uint64_t> wakes_seen) {
  std::unique_lock<std::mutex> lock(mu_);
  auto newer = [&] { return current_ != nullptr && current_->version() > after_version; };
  changed_.wait_until(lock, deadline, [&] {
    return shutdown_ || newer() || (wakes_seen && *wakes_seen != wakes_);
  });
  if (shutdown_ || !newer()) {
    return nullptr;
  }
  return current_;
}

void SnapshotHub::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakes_;
  }
  changed_.notify_all();
}

std::uint64_t SnapshotHub::wakes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wakes_;
}

void SnapshotHub::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
  }
  changed_.notify_all();
}

bool SnapshotHub::isShutdown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutdown_;
}

}  // namespace fwd::controlplane::snapshot
