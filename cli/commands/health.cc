#include "cli/commands/health.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/config/duration.h"

namespace fwd::cli::commands {

std::string healthCell(const fwd::v1::Upstream& upstream) {
  const fwd::v1::UpstreamHealthSummary& h = upstream.health();
  if (!upstream.has_health() || h.nodes_reporting() == 0) {
    return "-";
  }
  std::string out;
  auto add = [&](const char* what, std::uint32_t nodes) {
    if (nodes > 0) {
      absl::StrAppend(&out, out.empty() ? "" : ",", what, " ", nodes, "/", h.nodes_reporting());
    }
  };
  add("ejected", h.nodes_ejected());
  add("unhealthy", h.nodes_unhealthy());
  add("cooling", h.nodes_cooling());
  return out.empty() ? "ok" : out;
}

Json healthJson(const fwd::v1::Upstream& upstream) {
  if (!upstream.has_health()) {
    return nullptr;
  }
  const fwd::v1::UpstreamHealthSummary& h = upstream.health();
  return Json{
      {"nodes_reporting", h.nodes_reporting()},
      {"nodes_ejected", h.nodes_ejected()},
      {"nodes_unhealthy", h.nodes_unhealthy()},
      {"nodes_cooling", h.nodes_cooling()},
      {"ejections", h.ejections()},
  };
}

std::string activeHealthName(fwd::v1::UpstreamState::Health health) {
  switch (health) {
    case fwd::v1::UpstreamState::HEALTH_UNSPECIFIED:
      return "unchecked";
    case fwd::v1::UpstreamState::HEALTH_HEALTHY:
      return "healthy";
    case fwd::v1::UpstreamState::HEALTH_UNHEALTHY:
      return "unhealthy";
    default:
      return "unknown";
  }
}

Json countdownJson(const google::protobuf::Duration& left) {
  if (left.seconds() < 0 || (left.seconds() == 0 && left.nanos() <= 0)) {
    return nullptr;
  }
  // Sub-second precision of a countdown that is a report old is noise; never show "0s" while
  // it still runs.
  const std::int64_t seconds = left.seconds() + (left.nanos() > 0 ? 1 : 0);
  return common::config::formatDuration(std::chrono::seconds(seconds));
}

Json upstreamStateJson(const fwd::v1::UpstreamState& state) {
  return Json{
      {"name", state.name()},
      {"ejected", state.ejected()},
      {"ejection_left", countdownJson(state.ejection_left())},
      {"ejections", state.ejections()},
      {"consecutive_failures", state.consecutive_failures()},
      {"health", activeHealthName(state.health())},
      {"cooling_left", countdownJson(state.cooling_left())},
  };
}

}  // namespace fwd::cli::commands
