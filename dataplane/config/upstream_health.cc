#include "dataplane/config/upstream_health.h"

namespace fwd::dataplane::config {
namespace {

void setDuration(std::chrono::steady_clock::duration d, google::protobuf::Duration* out) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<std::int32_t>(ns % 1'000'000'000));
}

}  // namespace

fwd::v1::UpstreamState UpstreamHealth::state(const std::string& name, Clock::time_point now) const {
  fwd::v1::UpstreamState s;
  s.set_name(name);
  auto ejection = ejectionLeft(now);
  s.set_ejected(ejection > Clock::duration::zero());
  if (s.ejected()) {
    setDuration(ejection, s.mutable_ejection_left());
  }
  s.set_ejections(ejections.load(std::memory_order_relaxed));
  s.set_consecutive_failures(consecutive_failures.load(std::memory_order_relaxed));
  switch (active()) {
    case Active::kHealthy:
      s.set_health(fwd::v1::UpstreamState::HEALTH_HEALTHY);
      break;
    case Active::kUnhealthy:
      s.set_health(fwd::v1::UpstreamState::HEALTH_UNHEALTHY);
      break;
    case Active::kUnchecked:
      break;
  }
  auto cooling = coolingLeft(now);
  if (cooling > Clock::duration::zero()) {
    setDuration(cooling, s.mutable_cooling_left());
  }
  return s;
}

std::vector<fwd::v1::UpstreamState> UpstreamHealthRegistry::report(
    const std::vector<std::string>& names, UpstreamHealth::Clock::time_point now) {
  std::vector<fwd::v1::UpstreamState> out;
  out.reserve(names.size());
  for (const auto& name : names) {
    out.push_back(get(name)->state(name, now));
  }
  return out;
}

}  // namespace fwd::dataplane::config
