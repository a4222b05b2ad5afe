// What the data planes report about upstreams, as fwdctl shows it: the HEALTH cell of
// `upstream list`, the health object of the upstream JSON, and one node's view of one upstream
// for `status -o json`.
#pragma once

#include <string>

#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

/// "-" when no connected data plane reports on the upstream, "ok" when none of those sees a
/// problem, else the problems over the reporting nodes, e.g. "ejected 1/3,cooling 2/3".
std::string healthCell(const fwd::v1::Upstream& upstream);

/// {"nodes_reporting","nodes_ejected","nodes_unhealthy","nodes_cooling","ejections"}, or null
/// when the response carries no summary (add and update answers, older control planes).
Json healthJson(const fwd::v1::Upstream& upstream);

/// "unchecked" (no active health check), "healthy", "unhealthy" (or "unknown").
std::string activeHealthName(fwd::v1::UpstreamState::Health health);

/// A countdown in whole seconds rounded up ("29s"), or null when it does not run.
Json countdownJson(const google::protobuf::Duration& left);

/// {"name","ejected","ejection_left","ejections","consecutive_failures","health",
/// "cooling_left"}.
Json upstreamStateJson(const fwd::v1::UpstreamState& state);

}  // namespace fwd::cli::commands
