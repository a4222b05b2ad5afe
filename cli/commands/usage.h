// `fwdctl usage`: what the request records the control plane keeps add up to (requests,
// errors, tokens, cost), for the whole fleet, filtered by key, model, upstream, status and
// time, and grouped by key, model, upstream, day or hour (GetUsage).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

std::vector<CommandSpec> usageCommands();

/// The request `fwdctl usage` sends for `inv`, at `now`; a usage error names a bad flag.
absl::StatusOr<fwd::v1::GetUsageRequest> buildUsageRequest(
    const Invocation& inv, std::chrono::system_clock::time_point now);

/// {"group_by", "rows": [{"group", "requests", "errors", "prompt_tokens", "completion_tokens",
/// "cached_tokens", "cost_usd", "cost_nano_usd", "unpriced_requests"}]}.
Json usageReportJson(const std::string& group_by, const fwd::v1::GetUsageResponse& usage);
/// A table with a column per figure, a first column named after the grouping (none without).
std::string usageReportText(const std::string& group_by, const fwd::v1::GetUsageResponse& usage);

}  // namespace fwd::cli::commands
