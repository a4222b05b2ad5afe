// State about an upstream that every worker shares and that outlives config versions: until
// when it is cooling after a 429, its outlier-ejection state, and what its active health check
// last concluded. Workers read and write it with relaxed atomics (no lock on the request path);
// the registry's mutex is taken only when a config is compiled or a report is built.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config/defaults.h"
#include "fwd/v1/config.pb.h"

namespace fwd::dataplane::config {

/// Outlier ejection settings of one upstream (fwd.v1.OutlierDetection with defaults applied).
struct OutlierPolicy {
  using Clock = std::chrono::steady_clock;
  bool enabled = true;
  std::uint32_t consecutive_failures = 5;
  Clock::duration base_ejection = common::config::defaults::kBaseEjectionTime;
  Clock::duration max_ejection = common::config::defaults::kMaxEjectionTime;
};

struct UpstreamHealth {
  using Clock = std::chrono::steady_clock;
  enum class Active : int { kUnchecked = 0, kHealthy = 1, kUnhealthy = 2 };

  /// Skip this upstream until `until` (it answered 429 with Retry-After).
  void coolUntil(Clock::time_point until) {
    cool_until_ns.store(until.time_since_epoch().count(), std::memory_order_relaxed);
  }
  /// Time left cooling, or zero.
  Clock::duration coolingLeft(Clock::time_point now) const { return left(cool_until_ns, now); }

  /// An attempt that got an answer below 500: the failure streak ends.
  void recordSuccess() { consecutive_failures.store(0, std::memory_order_relaxed); }

  /// A failed attempt (connect/TLS error, timeout, 5xx, stream cut). Returns true when this
  /// failure ejected the upstream: `policy.consecutive_failures` in a row eject it for
  /// base × times ejected, at most max. Any thread; exactly one caller wins an ejection.
  bool recordFailure(Clock::time_point now, const OutlierPolicy& policy) {
    auto streak = consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if (!policy.enabled || streak < policy.consecutive_failures) {
      return false;
    }
    std::int64_t until = ejected_until_ns.load(std::memory_order_relaxed);
    if (until > now.time_since_epoch().count()) {
      return false;  // already ejected (attempts that started before the ejection)
    }
    auto times = ejections.load(std::memory_order_relaxed) + 1;
    auto length = policy.base_ejection * static_cast<std::int64_t>(times);
    if (length > policy.max_ejection || length < policy.base_ejection) {
      length = policy.max_ejection;
    }
    std::int64_t next = (now + length).time_since_epoch().count();
    if (!ejected_until_ns.compare_exchange_strong(until, next, std::memory_order_relaxed)) {
      return false;
    }
    ejections.fetch_add(1, std::memory_order_relaxed);
    consecutive_failures.store(0, std::memory_order_relaxed);
    return true;
  }
  /// Time left of the current ejection, or zero.
  Clock::duration ejectionLeft(Clock::time_point now) const { return left(ejected_until_ns, now); }

  /// What the active health check concluded last (kUnchecked without a check).
  Active active() const {
    return static_cast<Active>(active_state.load(std::memory_order_relaxed));
  }
  void setActive(Active a) { active_state.store(static_cast<int>(a), std::memory_order_relaxed); }

  /// This node's view of the upstream, for NodeReport and fwdctl status.
  fwd::v1::UpstreamState state(const std::string& name, Clock::time_point now) const;

  std::atomic<std::int64_t> cool_until_ns{0};
  std::atomic<std::uint32_t> consecutive_failures{0};
  std::atomic<std::int64_t> ejected_until_ns{0};
  std::atomic<std::uint64_t> ejections{0};
  std::atomic<int> active_state{0};

 private:
  static Clock::duration left(const std::atomic<std::int64_t>& until_ns, Clock::time_point now) {
    auto until = Clock::time_point(Clock::duration(until_ns.load(std::memory_order_relaxed)));
    return until > now ? until - now : Clock::duration::zero();
  }
};

using UpstreamHealthSharedPtr = std::shared_ptr<UpstreamHealth>;

/// One UpstreamHealth per upstream name for the life of the process.
class UpstreamHealthRegistry {
 public:
  UpstreamHealthSharedPtr get(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = by_name_[name];
    if (!slot) {
      slot = std::make_shared<UpstreamHealth>();
    }
    return slot;
  }

  /// The state of each of `names` (the upstreams of the config in force), in that order.
  std::vector<fwd::v1::UpstreamState> report(const std::vector<std::string>& names,
                                             UpstreamHealth::Clock::time_point now);

 private:
  std::mutex mu_;  // guards by_name_; taken only while compiling a config or reporting
  std::unordered_map<std::string, UpstreamHealthSharedPtr> by_name_;
};

}  // namespace fwd::dataplane::config
