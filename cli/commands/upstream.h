// `fwdctl upstream add|list|get|update|remove`: flags to CreateUpstream/UpdateUpstream requests
// (an update's FieldMask names exactly the flags given) and upstreams to tables and JSON.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

/// Effective per-attempt timeout of an upstream whose timeout is unset (config.proto).
inline constexpr std::chrono::milliseconds kDefaultUpstreamTimeout{600'000};

std::vector<CommandSpec> upstreamCommands();

absl::StatusOr<fwd::v1::CreateUpstreamRequest> buildCreateUpstreamRequest(const Invocation& inv);
absl::StatusOr<fwd::v1::UpdateUpstreamRequest> buildUpdateUpstreamRequest(const Invocation& inv);

/// `credential` object of the JSON output; never contains a secret.
Json credentialJson(const fwd::v1::Upstream& upstream);
/// CREDENTIAL column: "env:VAR", "key …abcd" or "-".
std::string credentialCell(const fwd::v1::Upstream& upstream);

/// The documented upstream object: name, base_url, models, priority, weight, timeout,
/// insecure_skip_verify, credential, id, created, updated, health.
Json upstreamJson(const fwd::v1::Upstream& upstream);
/// NAME BASE_URL MODELS PRIORITY WEIGHT TIMEOUT CREDENTIAL HEALTH, one row per upstream.
std::string upstreamTable(const std::vector<fwd::v1::Upstream>& upstreams);
/// `upstream get` as "field: value" lines.
std::string upstreamDetail(const fwd::v1::Upstream& upstream);

}  // namespace fwd::cli::commands
