// `fwdctl status`: the control plane's config version and, for every data plane that ever
// connected, what it applied, whether it is in sync, and what it reports about its upstreams.
#pragma once

#include <string>
#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

std::vector<CommandSpec> statusCommands();

/// Connected and applied the current version.
bool inSync(const fwd::v1::DataPlaneStatus& node, std::uint64_t version);

/// {"version", "dataplanes":[{"node_id","applied_version","connected","in_sync","last_error",
/// "last_nack_version","uptime","peer","build_version","last_seen","upstreams":[...]}]}, each
/// upstream as upstreamStateJson.
Json statusJson(const fwd::v1::GetStatusResponse& status);
/// "config version N" then NODE APPLIED IN_SYNC CONNECTED UPTIME EJECTED UNHEALTHY LAST_ERROR.
std::string statusText(const fwd::v1::GetStatusResponse& status);

}  // namespace fwd::cli::commands
