// State about an upstream that every worker shares and that outlives config versions: today,
// until when it is cooling after a 429. Workers read and write it with relaxed atomics (no
// lock on the request path); the registry's mutex is taken only when a config is compiled.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace fwd::dataplane::config {

struct UpstreamHealth {
  using Clock = std::chrono::steady_clock;

  /// Skip this upstream until `until` (it answered 429 with Retry-After).
  void coolUntil(Clock::time_point until) {
    cool_until_ns.store(until.time_since_epoch().count(), std::memory_order_relaxed);
  }
  /// Time left cooling, or zero.
  Clock::duration coolingLeft(Clock::time_point now) const {
    auto until = Clock::time_point(Clock::duration(cool_until_ns.load(std::memory_order_relaxed)));
    return until > now ? until - now : Clock::duration::zero();
  }

  std::atomic<std::int64_t> cool_until_ns{0};
};

/// One UpstreamHealth per upstream name for the life of the process.
class UpstreamHealthRegistry {
 public:
  std::shared_ptr<UpstreamHealth> get(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = by_name_[name];
    if (!slot) {
      slot = std::make_shared<UpstreamHealth>();
    }
    return slot;
  }

 private:
  std::mutex mu_;  // guards by_name_; taken only while compiling a config
  std::unordered_map<std::string, std::shared_ptr<UpstreamHealth>> by_name_;
};

}  // namespace fwd::dataplane::config
