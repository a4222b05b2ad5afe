// Orders one upstream group for one request: which upstream the route's strategy puts first, and
// which are set aside for now (ejected, failing health checks, cooling after a 429). One Balancer
// per worker: its state (smooth round-robin weights, latency estimates, random draws) is touched
// by the owning thread only, so it takes no lock. The time is a parameter and the randomness is
// seeded, so a test replays a decision exactly.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/functional/function_ref.h"
#include "dataplane/config/compiled_config.h"

namespace fwd::dataplane::balancer {

using Clock = std::chrono::steady_clock;

/// Attempts in flight on this worker for an upstream: what least-busy and latency weigh.
using InFlight = absl::FunctionRef<std::int64_t(const config::UpstreamTarget&)>;

class Balancer {
 public:
  explicit Balancer(std::uint32_t seed) : random_(seed) {}

  /// Moves the upstream that `route`'s strategy picks to the front of `candidates`; the others
  /// stay behind it in group order, for failover. `ordered` routes keep the group order.
  void pickFirst(const config::CompiledRoute& route, config::CandidateList& candidates,
                 InFlight in_flight);

  /// Feeds the latency strategy with one attempt's time to its response head (a peak-EWMA: a
  /// slower sample takes over at once, a faster one pulls the estimate down slowly).
  void recordHeadLatency(const std::string& upstream, double seconds);

  /// A new config is in force: the round-robin weights were kept per route of the old one.
  void forgetRoutes() { weighted_.clear(); }

  /// The random wait before the `round`-th pass over a group (round >= 1): between half and all
  /// of base × 2^(round-1), at most the policy's max (exponential backoff with jitter).
  std::chrono::milliseconds backoff(const config::CompiledRoute::Retry& policy, size_t round);

 private:
  void pickWeighted(const config::CompiledRoute& route, config::CandidateList& candidates);
  template <typename Cost>
  void pickCheaperOfTwo(config::CandidateList& candidates, Cost cost);

  // Smooth weighted round robin: one running weight per upstream of each route's group.
  std::unordered_map<const config::CompiledRoute*, std::vector<std::int64_t>> weighted_;
  // Time to response head, in seconds, per upstream name.
  std::unordered_map<std::string, double> head_latency_;
  std::minstd_rand random_;
};

/// Outlier ejection and active health checks take upstreams out of a group, but never more than
/// half of it: the others stay as the last resort, after the available ones, so a group never
/// routes to nothing while something may be alive (a group of one keeps its upstream).
void skipUnavailable(config::CandidateList& candidates, Clock::time_point now);

/// Removes the upstreams cooling after a 429 (Retry-After) and returns how soon the first of
/// them comes back; nullopt when none was cooling.
std::optional<Clock::duration> dropCooling(config::CandidateList& candidates,
                                           Clock::time_point now);

}  // namespace fwd::dataplane::balancer
