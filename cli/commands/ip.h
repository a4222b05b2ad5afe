// `fwdctl ip allow|deny|trust|list|remove`: the global IP access rules and the proxies whose
// X-Forwarded-For is believed. Per-key rules are `key create|update --allow-ip/--deny-ip`.
#pragma once

#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

std::vector<CommandSpec> ipCommands();

/// "allow", "deny", "trust" (or "" for ACTION_UNSPECIFIED).
std::string actionName(fwd::v1::IpRule::Action action);
/// {"cidr","action","created"}.
Json ipRuleJson(const fwd::v1::IpRule& rule);
/// ACTION CIDR CREATED.
std::string ipRuleTable(const fwd::v1::ListIpRulesResponse& response);

}  // namespace fwd::cli::commands
