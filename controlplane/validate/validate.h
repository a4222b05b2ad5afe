// Input validation for the admin API: every rule an upstream, a route, a key or a request must
// satisfy before it reaches the store, with INVALID_ARGUMENT messages that name the field and the
// value (never the value of a secret) and say what is accepted.
#pragma once

#include <chrono>
#include <string_view>

#include "absl/status/status.h"
#include "fwd/v1/admin.pb.h"
#include "fwd/v1/config.pb.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/message.h"

namespace fwd::controlplane::validate {

inline constexpr std::chrono::seconds kDefaultUpstreamTimeout{600};
inline constexpr std::chrono::seconds kMaxUpstreamTimeout{3600};
inline constexpr std::uint32_t kMaxWeight = 1000;
inline constexpr std::int32_t kMaxPriority = 1000;
// Request edits (fwd.v1.Edits).
inline constexpr std::uint32_t kMaxTokensCap = 1000000;
inline constexpr size_t kMaxStopWords = 4;
inline constexpr size_t kMaxStopWordBytes = 256;
inline constexpr size_t kMaxAnswerPrefixBytes = 4096;
inline constexpr size_t kMaxApiKeyBytes = 4096;
// Limits (fwd.v1.Limits).
inline constexpr int kMaxRateWindows = 8;
inline constexpr std::uint64_t kMaxRequestRate = 1'000'000'000;
inline constexpr std::uint32_t kMaxRateWindowSeconds = 366 * 86400;
inline constexpr std::uint32_t kMaxParallel = 100000;
inline constexpr std::uint64_t kMaxTokenRate = 1'000'000'000'000;
inline constexpr int kMaxModels = 1000;

/// `value` is a valid object name: ^[a-z0-9][a-z0-9._-]{0,62}$. `field` names it in the error.
absl::Status checkName(std::string_view field, std::string_view value);

/// Rejects a message that carries fields this build does not know, at any depth: an older
/// control plane must not silently drop what a newer fwdctl asked for.
absl::Status checkNoUnknownFields(const google::protobuf::Message& message);

/// Clears the output-only fields of an upstream taken from a request.
void clearOutputOnly(fwd::v1::Upstream& upstream);

inline constexpr std::uint32_t kMaxConsecutiveFailures = 1000;
inline constexpr std::uint32_t kMaxHealthThreshold = 100;
inline constexpr size_t kMaxHealthCheckPath = 256;

/// Validates an upstream (field names are reported as "upstream.<field>") and brings it to its
/// stored form: base_url without trailing '/' and with a lowercase scheme, weight 0 -> 1,
/// unset timeout -> 600s. The finer timeouts, outlier detection and health check stay unset when
/// unset: their defaults follow other fields (first_byte_timeout follows timeout), so the data
/// plane applies them.
absl::Status normalizeUpstream(fwd::v1::Upstream& upstream);

/// The mask is non-empty and every path is an updatable Upstream field: base_url, api_key,
/// api_key_env, models, priority, weight, timeout, insecure_skip_verify, deny_models,
/// connect_timeout, first_byte_timeout, stream_first_byte_timeout, idle_timeout,
/// outlier_detection (the whole message) or one of its fields as
/// "outlier_detection.<field>", health_check (the whole message) or "health_check.<field>".
absl::Status checkUpstreamMask(const google::protobuf::FieldMask& mask);

/// Copies the fields named by `mask` from `patch` into `target`. "api_key" and "api_key_env"
/// both replace the whole credential with the patch's (which may be none). A message path
/// (a duration, "outlier_detection", "health_check") takes the patch's presence too: unset in
/// the patch unsets it. A "<message>.<field>" path sets one field and creates the message in
/// `target` if it had none (which enables a health check). Call checkUpstreamMask first; an
/// unknown path here is INVALID_ARGUMENT too.
absl::Status applyUpstreamMask(const fwd::v1::Upstream& patch,
                               const google::protobuf::FieldMask& mask, fwd::v1::Upstream& target);

inline constexpr int kMaxRouteUpstreams = 100;
inline constexpr std::uint32_t kMaxRetries = 10;
inline constexpr size_t kMaxPathPrefix = 256;
inline constexpr size_t kMaxModelName = 256;

/// Clears the output-only fields of a route taken from a request.
void clearOutputOnly(fwd::v1::Route& route);

/// Validates a route's own fields (reported as "route.<field>") and brings it to its stored
/// form: strategy UNSPECIFIED -> ORDERED. Whether its upstreams exist is the store's check, made
/// in the write transaction.
absl::Status normalizeRoute(fwd::v1::Route& route);

/// The mask is non-empty and every path is an updatable Route field: path_prefix, models,
/// upstreams, strategy, fallback_models, rewrite_model, retry (the whole policy) or
/// "retry.<retries|retry_on|backoff_base|backoff_max>", priority, timeouts (the whole message) or
/// "timeouts.<connect|first_byte|stream_first_byte|idle|total>".
absl::Status checkRouteMask(const google::protobuf::FieldMask& mask);

/// Copies the fields named by `mask` from `patch` into `target`, with the presence rules of
/// applyUpstreamMask: "retry.<field>" creates a retry policy, "timeouts.<field>" the overrides.
/// Call checkRouteMask first; an unknown path here is INVALID_ARGUMENT too.
absl::Status applyRouteMask(const fwd::v1::Route& patch, const google::protobuf::FieldMask& mask,
                            fwd::v1::Route& target);

/// Name, model patterns and IP blocks of a new key; rewrites the blocks in canonical form.
absl::Status normalizeCreateKey(fwd::v1::CreateKeyRequest& request);

/// The limits of a key (or the default limits): each rate window 1..kMaxRequestRate requests
/// per 1 second..366 days, at most kMaxRateWindows of distinct lengths; a known strategy;
/// max_parallel at most kMaxParallel; tpm and each token window at most kMaxTokenRate tokens,
/// at most kMaxRateWindows token windows with tpm's minute; budgets with a known period, at
/// most one per period, 1..kMaxBudgetMicros (USD) or 1..kMaxBudgetTokens. Errors name
/// "<field>.<limit>".
absl::Status checkLimits(std::string_view field, const fwd::v1::Limits& limits);

/// Applies one FieldMask path of a Limits ("limits" or "limits.<field>") from `patch` to
/// `target`; false when `path` names no field of it.
bool applyLimitsPath(const fwd::v1::Limits& patch, std::string_view path, fwd::v1::Limits& target);

/// An environment variable name: letters, digits and '_', not starting with a digit.
bool isEnvName(std::string_view s);

/// Rewrites each entry of `blocks` (field name `field` in errors) as a canonical CIDR block;
/// INVALID_ARGUMENT naming the first that is not one, or a block listed twice. At most 256.
absl::Status normalizeCidrs(std::string_view field,
                            google::protobuf::RepeatedPtrField<std::string>& blocks);

/// A rule's cidr (rewritten in canonical form) and action.
absl::Status normalizeIpRule(fwd::v1::IpRule& rule);

/// The most a price may be: $1,000,000 per 1M tokens, in millionths of a dollar.
inline constexpr std::uint64_t kMaxPriceMicros = 1'000'000'000'000ull;

/// A price to set: its model a valid pattern (as key --model takes them), each amount at most
/// kMaxPriceMicros; clears the output-only fields.
absl::Status normalizePrice(fwd::v1::Price& price);

/// The mask is non-empty and every path is an updatable Key field: models, errors_as_200,
/// allow_ips, deny_ips.
absl::Status checkKeyMask(const google::protobuf::FieldMask& mask);
/// Copies the fields named by `mask` from `patch` into `target` and checks the result. Call
/// checkKeyMask first.
absl::Status applyKeyMask(const fwd::v1::Key& patch, const google::protobuf::FieldMask& mask,
                          fwd::v1::Key& target);

/// The longest grace period of a key rotation.
inline constexpr std::chrono::hours kMaxRotationGrace{24 * 30};
/// Name and grace period of a key rotation.
absl::Status checkRotateKey(const fwd::v1::RotateKeyRequest& request);

}  // namespace fwd::controlplane::validate
