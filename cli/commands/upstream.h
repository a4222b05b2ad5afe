// `fwdctl upstream add|list|get|update|remove`: flags to CreateUpstream/UpdateUpstream requests
// (an update's FieldMask names exactly the flags given) and upstreams to tables and JSON.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

/// Effective per-attempt timeout of an upstream whose timeout is unset (config.proto).
inline constexpr std::chrono::milliseconds kDefaultUpstreamTimeout{600'000};
/// The other defaults of config.proto, shown when a field is unset.
inline constexpr std::chrono::milliseconds kDefaultConnectTimeout{10'000};
inline constexpr std::uint32_t kDefaultConsecutiveFailures = 5;
inline constexpr std::chrono::milliseconds kDefaultBaseEjection{30'000};
inline constexpr std::chrono::milliseconds kDefaultMaxEjection{300'000};
inline constexpr std::string_view kDefaultHealthCheckPath = "/models";
inline constexpr std::chrono::milliseconds kDefaultHealthCheckInterval{10'000};
inline constexpr std::chrono::milliseconds kDefaultHealthCheckTimeout{5'000};
inline constexpr std::uint32_t kDefaultUnhealthyThreshold = 3;
inline constexpr std::uint32_t kDefaultHealthyThreshold = 2;

std::vector<CommandSpec> upstreamCommands();

absl::StatusOr<fwd::v1::CreateUpstreamRequest> buildCreateUpstreamRequest(const Invocation& inv);
absl::StatusOr<fwd::v1::UpdateUpstreamRequest> buildUpdateUpstreamRequest(const Invocation& inv);

/// `credential` object of the JSON output; never contains a secret.
Json credentialJson(const fwd::v1::Upstream& upstream);
/// CREDENTIAL column: "env:VAR", "key …abcd" or "-".
std::string credentialCell(const fwd::v1::Upstream& upstream);

/// The documented upstream object: name, base_url, provider ({"name"}, for azure also
/// "api_version" and "deployments"), models, deny_models, priority, weight,
/// timeout, connect_timeout, first_byte_timeout, stream_first_byte_timeout, idle_timeout,
/// outlier_detection, health_check, insecure_skip_verify, credential, id, created, updated,
/// health (what connected data planes report; null in add/update answers).
/// Timeouts, outlier_detection and health_check show effective values (defaults applied);
/// idle_timeout and health_check are null when off.
Json upstreamJson(const fwd::v1::Upstream& upstream);
/// NAME BASE_URL PROVIDER MODELS PRIORITY WEIGHT TIMEOUT CREDENTIAL HEALTH, one row per upstream.
std::string upstreamTable(const std::vector<fwd::v1::Upstream>& upstreams);
/// `upstream get` as "field: value" lines.
std::string upstreamDetail(const fwd::v1::Upstream& upstream);

}  // namespace fwd::cli::commands
