#include "dataplane/balancer/balancer.h"

#include <algorithm>

namespace fwd::dataplane::balancer {

void Balancer::pickFirst(const config::CompiledRoute& route, config::CandidateList& candidates,
                         InFlight in_flight) {
  using Strategy = config::CompiledRoute::Strategy;
  switch (route.strategy) {
    case Strategy::kOrdered:
      return;
    case Strategy::kWeighted:
      pickWeighted(route, candidates);
      return;
    case Strategy::kLeastBusy:
      // Fewer attempts in flight on this worker.
      pickCheaperOfTwo(candidates, [&](const config::UpstreamTarget& t) {
        return static_cast<double>(in_flight(t));
      });
      return;
    case Strategy::kLatency:
      // Peak-EWMA (as Finagle and linkerd balance): the latency estimate times (attempts in
      // flight + 1). An upstream never measured costs 0, so new ones get probed.
      pickCheaperOfTwo(candidates, [&](const config::UpstreamTarget& t) {
        auto latency = head_latency_.find(t.name);
        double estimate = latency == head_latency_.end() ? 0.0 : latency->second;
        return estimate * static_cast<double>(in_flight(t) + 1);
      });
      return;
  }
}

// Smooth weighted round robin (as nginx's upstream module does it): every upstream's running
// weight grows by its weight, the largest is chosen and lowered by the total. Over any window the
// choices follow the weights, spread out rather than in runs.
void Balancer::pickWeighted(const config::CompiledRoute& route, config::CandidateList& candidates) {
  if (candidates.size() < 2) {
    return;
  }
  std::vector<std::int64_t>& running = weighted_[&route];
  if (running.size() != candidates.size()) {
    running.assign(candidates.size(), 0);
  }
  std::int64_t total = 0;
  size_t best = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    running[i] += candidates[i]->weight;
    total += candidates[i]->weight;
    if (running[i] > running[best]) {
      best = i;
    }
  }
  running[best] -= total;
  std::rotate(candidates.begin(), candidates.begin() + best, candidates.begin() + best + 1);
}

// Power of two choices: of two upstreams drawn at random, the one with the lower cost goes
// first (ties keep group order).
template <typename Cost>
void Balancer::pickCheaperOfTwo(config::CandidateList& candidates, Cost cost) {
  if (candidates.size() < 2) {
    return;
  }
  std::uniform_int_distribution<size_t> draw(0, candidates.size() - 1);
  size_t i = draw(random_);
  size_t j = draw(random_);
  while (j == i) {
    j = draw(random_);
  }
  if (j < i) {
    std::swap(i, j);
  }
  size_t best = cost(*candidates[j]) < cost(*candidates[i]) ? j : i;
  std::rotate(candidates.begin(), candidates.begin() + best, candidates.begin() + best + 1);
}

void Balancer::recordHeadLatency(const std::string& upstream, double seconds) {
  constexpr double kDecay = 0.8;  // weight of the history for a faster sample
  auto [it, inserted] = head_latency_.try_emplace(upstream, seconds);
  if (!inserted) {
    it->second = seconds > it->second ? seconds : kDecay * it->second + (1 - kDecay) * seconds;
  }
}

std::chrono::milliseconds Balancer::backoff(const config::CompiledRoute::Retry& policy,
                                            size_t round) {
  auto cap = policy.backoff_base * (std::int64_t{1} << std::min<size_t>(round - 1, 20));
  cap = std::min(cap, policy.backoff_max);
  std::uniform_int_distribution<std::int64_t> jitter(cap.count() / 2, cap.count());
  return std::chrono::milliseconds(jitter(random_));
}

void skipUnavailable(config::CandidateList& candidates, Clock::time_point now) {
  auto unavailable = [now](const config::UpstreamTarget* t) {
    return t->health != nullptr &&
           (t->health->ejectionLeft(now) > Clock::duration::zero() ||
            t->health->active() == config::UpstreamHealth::Active::kUnhealthy);
  };
  size_t down =
      static_cast<size_t>(std::count_if(candidates.begin(), candidates.end(), unavailable));
  if (down == 0) {
    return;
  }
  size_t keep_down = down - std::min(down, candidates.size() / 2);
  config::CandidateList ordered;
  config::CandidateList last_resort;
  for (const config::UpstreamTarget* t : candidates) {
    if (!unavailable(t)) {
      ordered.push_back(t);
    } else if (last_resort.size() < keep_down) {
      last_resort.push_back(t);
    }
  }
  ordered.insert(ordered.end(), last_resort.begin(), last_resort.end());
  candidates = std::move(ordered);
}

std::optional<Clock::duration> dropCooling(config::CandidateList& candidates,
                                           Clock::time_point now) {
  std::optional<Clock::duration> shortest;
  size_t kept = 0;
  for (const config::UpstreamTarget* t : candidates) {
    auto left = t->health != nullptr ? t->health->coolingLeft(now) : Clock::duration::zero();
    if (left == Clock::duration::zero()) {
      candidates[kept++] = t;
    } else if (!shortest || left < *shortest) {
      shortest = left;
    }
  }
  candidates.resize(kept);
  return shortest;
}

}  // namespace fwd::dataplane::balancer
