// `fwdctl route add|list|get|update|remove`: flags to CreateRoute/UpdateRoute requests (an
// update's FieldMask names exactly the flags given) and routes to tables and JSON.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/commands/command.h"
#include "cli/commands/format.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::commands {

/// Retry backoff of a policy whose backoff fields are unset (config.proto).
inline constexpr std::chrono::milliseconds kDefaultBackoffBase{25};
inline constexpr std::chrono::milliseconds kDefaultBackoffMax{1'000};

std::vector<CommandSpec> routeCommands();

absl::StatusOr<fwd::v1::CreateRouteRequest> buildCreateRouteRequest(const Invocation& inv);
absl::StatusOr<fwd::v1::UpdateRouteRequest> buildUpdateRouteRequest(const Invocation& inv);

/// "ordered", "weighted", "least-busy", "latency"; UNSPECIFIED reads as "ordered".
std::string strategyName(fwd::v1::BalanceStrategy strategy);
std::optional<fwd::v1::BalanceStrategy> parseStrategy(const std::string& name);
/// "5xx", "429", "connect", "timeout".
std::string retryOnName(fwd::v1::RetryOn value);
std::optional<fwd::v1::RetryOn> parseRetryOn(const std::string& name);

/// The documented route object: name, path_prefix, models, upstreams, strategy,
/// fallback_models, rewrite_model, retry, priority, timeouts, id, created, updated. retry holds
/// retries, retry_on, the effective backoff_base and backoff_max, and explicit (false: the
/// route has no policy, each upstream of the group is tried once); timeouts holds each override
/// or null.
Json routeJson(const fwd::v1::Route& route);
/// NAME PREFIX MODELS UPSTREAMS STRATEGY FALLBACKS RETRIES PRIORITY, one row per route.
std::string routeTable(const std::vector<fwd::v1::Route>& routes);
/// `route get` as "field: value" lines.
std::string routeDetail(const fwd::v1::Route& route);

}  // namespace fwd::cli::commands
