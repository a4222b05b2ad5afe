// The data plane's immutable view of one snapshot: upstreams with parsed URLs and resolved
// credentials in try order, and the key table indexed by SHA-256. Built on the config thread
// (never on an IO thread), then shared read-only by every worker through a shared_ptr.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "common/config/defaults.h"
#include "common/crypto/token.h"
#include "common/net/cidr.h"
#include "common/net/redis_url.h"
#include "dataplane/config/upstream_health.h"
#include "dataplane/policy/chain.h"
#include "dataplane/ratelimit/key_limiter.h"
#include "dataplane/rewrite/body_edits.h"
#include "fwd/v1/config.pb.h"

namespace fwd::dataplane::records {
class Recorder;
}
namespace fwd::dataplane::provider {
class Provider;
}

namespace fwd::dataplane::config {

/// Per-attempt time limits. Zero means "no separate limit" for idle; every other field is set.
struct AttemptTimeouts {
  std::chrono::milliseconds connect{10'000};
  std::chrono::milliseconds first_byte{600'000};
  std::chrono::milliseconds stream_first_byte{600'000};
  std::chrono::milliseconds idle{0};
  std::chrono::milliseconds total{600'000};
};

/// Active health check of one upstream (fwd.v1.HealthCheck with defaults applied).
struct HealthCheckPolicy {
  bool enabled = false;
  std::string path = "/models";
  std::chrono::milliseconds interval = common::config::defaults::kHealthCheckInterval;
  std::chrono::milliseconds timeout = common::config::defaults::kHealthCheckTimeout;
  std::uint32_t unhealthy_threshold = 3;
  std::uint32_t healthy_threshold = 2;
};

/// The request edits and answer prefix of one attempt (fwd.v1.Edits of the upstream, overridden
/// field by field by the route's), resolved when the snapshot is compiled. They apply to chat
/// and text completions only.
struct AttemptEdits {
  rewrite::BodyEdits body;         // `model` is never set here
  std::string answer_prefix;       // empty: none
  std::string answer_prefix_json;  // the same escaped for a JSON string
  // --stream-mode: what the upstream is asked for ("stream"), whatever the client asked;
  // nullopt: as the client asked (passthrough).
  std::optional<bool> upstream_stream;
};

struct UpstreamTarget {
  std::string name;
  bool tls = false;
  std::string host;         // without brackets
  std::string port;         // decimal, for the resolver
  std::string host_header;  // "host" or "host:port" when the port is not the scheme's default
  std::string base_path;    // e.g. "/v1" or "" (never ends with '/')
  // The credential: `credential_field` ("Authorization", or Azure's "api-key") with the value
  // `credential` ("Bearer <key>", or the key); empty: the upstream gets no credential.
  std::string credential_field = "Authorization";
  std::string credential;
  std::vector<std::string> models;       // allow list: globs over the model (or path)
  std::vector<std::string> deny_models;  // checked after the allow list
  std::int32_t priority = 0;
  std::uint32_t weight = 1;
  AttemptTimeouts timeouts;
  OutlierPolicy outlier;
  HealthCheckPolicy health_check;
  bool insecure_skip_verify = false;
  // Identifies interchangeable connections: same scheme, host, port and TLS verification.
  std::string pool_key;
  // Shared by every worker and every config version that has this upstream name.
  std::shared_ptr<UpstreamHealth> health;
  // Builds this upstream's requests; never null.
  std::shared_ptr<const provider::Provider> provider;
  // The upstream's own edits (a request that matched no route gets these).
  AttemptEdits edits;
  // Its position in CompiledConfig::upstreams() (per-worker state is kept by it).
  size_t index = 0;
};

struct KeyEntry {
  std::string name;
  std::string display_prefix;
  std::vector<std::string> models;  // empty: every model
  common::crypto::Sha256Digest digest{};
  bool errors_as_200 = false;
  std::vector<common::net::Cidr> allow_ips;  // empty: wherever the global rules allow
  std::vector<common::net::Cidr> deny_ips;
  std::uint64_t id = 0;
  // Its limits in memory (ratelimit/key_limiter.h); null: none.
  ratelimit::KeyLimiterConstSharedPtr limiter;
  size_t index = 0;         // in the snapshot's keys
  bool log_bodies = false;  // its records carry bodies
};

/// The global IP access rules of a snapshot.
struct IpRules {
  std::vector<common::net::Cidr> allow;  // non-empty: only these clients
  std::vector<common::net::Cidr> deny;   // beats allow
  std::vector<common::net::Cidr> trust;  // proxies whose X-Forwarded-For is believed
};

/// What a secret authenticates as.
struct KeyLookup {
  const KeyEntry* key = nullptr;  // null: no key
  bool previous = false;          // by the key's previous secret, in its rotation grace period
};

/// True when one of `t`'s deny patterns matches `model` (route groups honour only these).
bool deniesModel(const UpstreamTarget& t, std::string_view model);
/// True when `t` serves `model`: some allow pattern matches and no deny pattern does.
bool servesModel(const UpstreamTarget& t, std::string_view model);

/// Upstreams to try for one request, in order; inline for the usual handful (no allocation).
using CandidateList = absl::InlinedVector<const UpstreamTarget*, 8>;

struct ModelMatcher {
  enum class Kind { kExact, kKeyword, kGlob };
  Kind kind = Kind::kExact;
  std::string text;

  bool matches(std::string_view model) const;
};

/// A route as the data plane applies it: a request whose path starts with `path_prefix`
/// (followed by /v1/) and whose model matches one of `models` (or any model when empty) goes to
/// `upstreams`, in order, with its model rewritten to `rewrite_model` when set.
struct CompiledRoute {
  /// How the first upstream of the group is chosen; the rest follow in group order.
  enum class Strategy { kOrdered, kWeighted, kLeastBusy, kLatency };

  std::string name;
  Strategy strategy = Strategy::kOrdered;
  std::string path_prefix;  // "" or e.g. "/localai"
  std::vector<ModelMatcher> models;
  std::vector<const UpstreamTarget*> upstreams;
  std::string rewrite_model;
  std::vector<std::string> fallback_models;  // tried in order when every upstream failed
  /// Without an explicit policy each upstream of the group is tried once (plain failover).
  struct Retry {
    bool explicit_policy = false;
    std::uint32_t retries = 0;
    bool on_5xx = true, on_429 = false, on_connect = true, on_timeout = true;
    std::chrono::milliseconds backoff_base = common::config::defaults::kRetryBackoffBase;
    std::chrono::milliseconds backoff_max = common::config::defaults::kRetryBackoffMax;
  } retry;
  /// Route overrides of the upstreams' timeouts; unset fields keep the upstream's.
  struct TimeoutOverrides {
    std::optional<std::chrono::milliseconds> connect, first_byte, stream_first_byte, idle, total;
  } timeouts;
  /// What an attempt at upstreams[i] may take: its timeouts under this route's overrides,
  /// computed when the snapshot is compiled.
  std::vector<AttemptTimeouts> member_timeouts;
  /// The edits of an attempt at upstreams[i]: its edits under this route's.
  std::vector<AttemptEdits> member_edits;
  std::int32_t priority = 0;
  int specificity = 0;  // higher wins among equal priorities: exact > keyword > glob > any
  std::uint64_t id = 0;
  /// The route's limits (ratelimit/): one limiter shared by every key (limits_shared), or one
  /// per key, by KeyEntry::index; none when the route has no limits.
  bool limits_shared = false;
  ratelimit::KeyLimiterConstSharedPtr shared_limiter;
  bool log_bodies = false;  // the records of its requests carry bodies
  std::vector<ratelimit::KeyLimiterConstSharedPtr> key_limiters;
  /// The limiter a request of `key` counts in on this route, or nullptr.
  const ratelimit::KeyLimiter* limiterFor(const KeyEntry& key) const {
    if (limits_shared) {
      return shared_limiter.get();
    }
    return key.index < key_limiters.size() ? key_limiters[key.index].get() : nullptr;
  }

  /// The timeouts of an attempt at `t` through this route: `t`'s own when `t` is not in the
  /// group.
  const AttemptTimeouts& timeoutsFor(const UpstreamTarget& t) const;
  /// The same for the edits.
  const AttemptEdits& editsFor(const UpstreamTarget& t) const;
};

/// The edits of an attempt at `upstream` through `route` (nullptr: no route).
inline const AttemptEdits& attemptEdits(const CompiledRoute* route,
                                        const UpstreamTarget& upstream) {
  return route != nullptr ? route->editsFor(upstream) : upstream.edits;
}

/// `upstream`'s edits under `route`'s (nullptr: none): a field the route sets wins, and a
/// non-empty stop list.
AttemptEdits resolveEdits(const fwd::v1::Edits& upstream, const fwd::v1::Edits* route);

/// `t`'s timeouts under a route's overrides. An unset first-byte limit follows the total (and
/// the stream first-byte limit follows the first-byte one), as they do on an upstream.
AttemptTimeouts applyOverrides(const AttemptTimeouts& upstream,
                               const CompiledRoute::TimeoutOverrides& route);

/// Looks up an environment variable on this host (injectable for tests).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup processEnv();

/// Where the fleet counts its limits: Settings.redis_url, or the URL in the variable
/// Settings.redis_url_env names on this host.
struct RedisSetting {
  bool enabled = false;  // limits are counted in Redis
  // Where; nullopt while enabled means this host cannot use the setting (`problem` says why),
  // and limited requests are served as while Redis is down.
  std::optional<common::net::RedisEndpoint> endpoint;
  std::string problem;
};

class CompiledConfig {
 public:
  /// Validates and compiles a snapshot. Any error names the offending object; the caller NACKs
  /// with it and keeps serving the previous config.
  /// `health` keeps per-upstream state across versions, `counters` the limits' counters;
  /// without them, state starts fresh. With `recorder`, every request is recorded.
  static absl::StatusOr<std::shared_ptr<const CompiledConfig>> compile(
      const fwd::v1::Snapshot& snapshot, const EnvLookup& env,
      UpstreamHealthRegistry* health = nullptr, ratelimit::CounterRegistry* counters = nullptr,
      records::Recorder* recorder = nullptr);

  std::uint64_t version() const { return version_; }

  /// The key whose secret is `secret`, or nullptr. Hashes the secret, finds the digest and
  /// confirms with a constant-time comparison. A key's previous secret (key rotation with a
  /// grace period) is accepted until its expiry, by this host's clock at `now`.
  KeyLookup lookupKey(std::string_view secret, std::chrono::system_clock::time_point now =
                                                   std::chrono::system_clock::now()) const;
  const KeyEntry* findKey(std::string_view secret) const { return lookupKey(secret).key; }

  /// Appends the upstreams serving `model` (a model name, or a request path for bodies without
  /// one) in try order: priority ascending, then creation order.
  void candidates(std::string_view model, CandidateList& out) const;

  const std::vector<UpstreamTarget>& upstreams() const { return upstreams_; }

  /// The first route, in (priority, specificity, creation) order, whose prefix is `prefix` and
  /// whose model matchers accept `model`; nullptr when none does.
  const CompiledRoute* matchRoute(std::string_view prefix, std::string_view model) const;
  /// True when some route uses `prefix` (a path like /localai/v1/... is then fwd's to serve).
  bool hasPrefix(std::string_view prefix) const;
  const std::vector<CompiledRoute>& routes() const { return routes_; }
  size_t keyCount() const { return keys_.size(); }
  /// The key with this id, or nullptr (a scan: for admin questions, not requests).
  const KeyEntry* keyById(std::uint64_t id) const {
    for (const KeyEntry& k : keys_) {
      if (k.id == id) {
        return &k;
      }
    }
    return nullptr;
  }
  /// The policies this snapshot configures, in the order the pipeline calls them.
  const policy::Chain& policies() const { return policies_; }
  const RedisSetting& redis() const { return redis_; }

 private:
  struct DigestHash {
    size_t operator()(const common::crypto::Sha256Digest& d) const;
  };

  std::uint64_t version_ = 0;
  std::vector<UpstreamTarget> upstreams_;  // already in try order
  std::vector<CompiledRoute> routes_;      // in match order
  std::vector<KeyEntry> keys_;
  policy::Chain policies_;
  RedisSetting redis_;
  std::unordered_map<common::crypto::Sha256Digest, size_t, DigestHash> key_index_;
  // Previous secrets of rotated keys: their digest -> the key and the end of the grace period.
  struct PreviousSecret {
    size_t key;
    std::chrono::system_clock::time_point expires;
  };
  std::unordered_map<common::crypto::Sha256Digest, PreviousSecret, DigestHash> previous_index_;
};

using CompiledConfigConstSharedPtr = std::shared_ptr<const CompiledConfig>;

/// The key one client connection authenticated with last. Keep-alive clients present the same
/// secret on every request; when the secret equals the remembered one (compared in constant
/// time) under the same snapshot, find() answers without hashing it again (BM_KeyMemo: 23 ns,
/// against 174 ns for findKey). The secret stays in this object, which the connection owns, and
/// is wiped when replaced or destroyed. Secrets over kMaxSecret bytes are not remembered.
class KeyMemo {
 public:
  static constexpr size_t kMaxSecret = 128;

  KeyMemo() = default;
  KeyMemo(const KeyMemo&) = delete;
  KeyMemo& operator=(const KeyMemo&) = delete;
  ~KeyMemo() { forget(); }

  /// The same answer as `cfg->findKey(secret)`; `cfg` must not be null. A previous secret in its
  /// grace period is never remembered, so its expiry is checked on every request.
  const KeyEntry* find(const CompiledConfigConstSharedPtr& cfg, std::string_view secret);

 private:
  void forget();

  // Identifies the snapshot without keeping it alive: its control block outlives it while this
  // weak_ptr exists, so no later snapshot can share the address. key_ points into it and is
  // read only while the caller holds that snapshot.
  std::weak_ptr<const CompiledConfig> cfg_;
  const KeyEntry* key_ = nullptr;
  std::array<char, kMaxSecret> secret_{};
  size_t secret_size_ = 0;
};

/// True when `model` is allowed by `patterns` (empty patterns allow everything).
bool modelAllowed(const std::vector<std::string>& patterns, std::string_view model);

}  // namespace fwd::dataplane::config
