// The control plane's source of truth: upstreams, routes, client keys, admin/node token hashes and
// the monotonic config version. An interface so services can be tested against a fake; the real one
// is SqliteStore.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fwd/v1/admin.pb.h"
#include "fwd/v1/config.pb.h"

namespace fwd::controlplane::store {

enum class TokenKind { kAdmin, kNode };

/// "admin" or "node", as stored.
const char* tokenKindName(TokenKind kind);

/// Everything a snapshot is built from, read in one transaction so it is consistent.
struct ConfigState {
  std::uint64_t version = 0;
  /// Ordered by (priority, id); api_key included.
  std::vector<fwd::v1::Upstream> upstreams;
  /// Non-revoked keys only, secret_sha256 included, ordered by id.
  std::vector<fwd::v1::Key> active_keys;
  /// Ordered by (priority, id).
  std::vector<fwd::v1::Route> routes;
  /// Settings set so far, by name (unset ones are absent: their default applies).
  std::map<std::string, std::string> settings;
  /// Ordered by action, then creation.
  std::vector<fwd::v1::IpRule> ip_rules;
  /// Ordered by model.
  std::vector<fwd::v1::Price> prices;
};

/// What setPrice did.
struct PriceWrite {
  fwd::v1::Price price;
  bool created = false;  // false: an existing price was replaced
  std::uint64_t version = 0;
};

/// What removeIpRule did.
struct IpRuleRemoval {
  std::uint64_t version = 0;
  std::uint32_t removed = 0;
};

/// Every method may be called from any thread; implementations serialise internally. Every
/// successful write that changes configuration bumps the config version in the same transaction.
/// Upstreams and keys are returned as stored (api_key and secret_sha256 included); redacting
/// them for the admin API is the caller's job.
class Store {
 public:
  /// Mutates a stored upstream in place inside the write transaction; a non-OK status aborts the
  /// update and is returned as is.
  using UpstreamMutator = std::function<absl::Status(fwd::v1::Upstream&)>;
  /// The same for a stored route.
  using RouteMutator = std::function<absl::Status(fwd::v1::Route&)>;
  /// The same for a stored key (its models, errors_as_200 and IP lists are written back).
  using KeyMutator = std::function<absl::Status(fwd::v1::Key&)>;

  virtual ~Store() = default;

  /// The current config version (0 for a new database).
  virtual absl::StatusOr<std::uint64_t> version() = 0;

  /// Inserts a validated upstream; sets id, create_time and update_time. ALREADY_EXISTS if the
  /// name is taken.
  virtual absl::StatusOr<fwd::v1::Upstream> createUpstream(const fwd::v1::Upstream& upstream) = 0;
  /// NOT_FOUND if there is no upstream of that name.
  virtual absl::StatusOr<fwd::v1::Upstream> getUpstream(std::string_view name) = 0;
  /// Ordered by (priority, id).
  virtual absl::StatusOr<std::vector<fwd::v1::Upstream>> listUpstreams() = 0;
  /// Reads the upstream, applies `mutate`, and writes it back atomically; name, id and
  /// create_time cannot change, update_time is set. NOT_FOUND if there is no such upstream.
  virtual absl::StatusOr<fwd::v1::Upstream> updateUpstream(std::string_view name,
                                                           const UpstreamMutator& mutate) = 0;
  /// Returns the new config version. NOT_FOUND if there is no such upstream,
  /// FAILED_PRECONDITION if a route names it.
  virtual absl::StatusOr<std::uint64_t> deleteUpstream(std::string_view name) = 0;

  /// Inserts a validated route; sets id, create_time and update_time. ALREADY_EXISTS if the name
  /// is taken, INVALID_ARGUMENT if one of its upstreams does not exist (checked in the same
  /// transaction, so a route never names a missing upstream).
  virtual absl::StatusOr<fwd::v1::Route> createRoute(const fwd::v1::Route& route) = 0;
  /// NOT_FOUND if there is no route of that name.
  virtual absl::StatusOr<fwd::v1::Route> getRoute(std::string_view name) = 0;
  /// Ordered by (priority, id).
  virtual absl::StatusOr<std::vector<fwd::v1::Route>> listRoutes() = 0;
  /// Reads the route, applies `mutate`, checks its upstreams exist and writes it back atomically;
  /// name, id and create_time cannot change, update_time is set. NOT_FOUND if there is no such
  /// route.
  virtual absl::StatusOr<fwd::v1::Route> updateRoute(std::string_view name,
                                                     const RouteMutator& mutate) = 0;
  /// Returns the new config version. NOT_FOUND if there is no such route.
  virtual absl::StatusOr<std::uint64_t> deleteRoute(std::string_view name) = 0;

  /// Inserts a key whose name, secret_sha256, display_prefix and models are set; sets id and
  /// create_time. ALREADY_EXISTS if the name is taken by any key, revoked or not.
  virtual absl::StatusOr<fwd::v1::Key> createKey(const fwd::v1::Key& key) = 0;
  /// NOT_FOUND if there is no key of that name (revoked keys are found).
  virtual absl::StatusOr<fwd::v1::Key> getKey(std::string_view name) = 0;
  /// Every key, revoked ones included, ordered by id.
  virtual absl::StatusOr<std::vector<fwd::v1::Key>> listKeys() = 0;
  /// Reads the key, applies `mutate` and writes its models back atomically; sets update_time.
  /// NOT_FOUND if unknown, FAILED_PRECONDITION if revoked.
  virtual absl::StatusOr<fwd::v1::Key> updateKey(std::string_view name,
                                                 const KeyMutator& mutate) = 0;
  /// Replaces the key's secret (its SHA-256 and display prefix). With a positive `grace` the
  /// replaced secret stays accepted until now + grace (any older previous secret is dropped);
  /// otherwise it is refused at once. NOT_FOUND if unknown, FAILED_PRECONDITION if revoked.
  virtual absl::StatusOr<fwd::v1::Key> rotateKey(std::string_view name,
                                                 const std::string& secret_sha256,
                                                 const std::string& display_prefix,
                                                 std::chrono::microseconds grace) = 0;
  /// Sets revoke_time. NOT_FOUND if unknown, FAILED_PRECONDITION if already revoked.
  virtual absl::StatusOr<fwd::v1::Key> revokeKey(std::string_view name) = 0;

  /// Settings set so far, by name. Names and values are the caller's to check.
  virtual absl::StatusOr<std::map<std::string, std::string>> listSettings() = 0;
  /// Sets (or replaces) one setting; returns the new config version.
  virtual absl::StatusOr<std::uint64_t> setSetting(std::string_view name,
                                                   std::string_view value) = 0;

  /// Adds a rule whose cidr is canonical and action set; sets create_time. ALREADY_EXISTS when
  /// the block already has that action.
  virtual absl::StatusOr<fwd::v1::IpRule> addIpRule(const fwd::v1::IpRule& rule) = 0;
  /// Ordered by action, then creation.
  virtual absl::StatusOr<std::vector<fwd::v1::IpRule>> listIpRules() = 0;
  /// Removes the block's rule with `action`, or all its rules for ACTION_UNSPECIFIED. NOT_FOUND
  /// when there is none.
  virtual absl::StatusOr<IpRuleRemoval> removeIpRule(std::string_view cidr,
                                                     fwd::v1::IpRule::Action action) = 0;

  /// Creates the price of `price.model()` or replaces it (keeping its id and create_time);
  /// sets update_time.
  virtual absl::StatusOr<PriceWrite> setPrice(const fwd::v1::Price& price) = 0;
  /// NOT_FOUND if the model (pattern) has no price.
  virtual absl::StatusOr<fwd::v1::Price> getPrice(std::string_view model) = 0;
  /// Ordered by model.
  virtual absl::StatusOr<std::vector<fwd::v1::Price>> listPrices() = 0;
  /// Returns the new config version. NOT_FOUND if the model (pattern) has no price.
  virtual absl::StatusOr<std::uint64_t> deletePrice(std::string_view model) = 0;

  /// Notifiers (fwdctl notify) live with the config but are the control plane's own: writing
  /// them changes no config version. ALREADY_EXISTS when the name is taken; sets id and times.
  virtual absl::StatusOr<fwd::v1::Notifier> createNotifier(const fwd::v1::Notifier& n) = 0;
  /// NOT_FOUND when there is none of that name. The whole notifier, URL and token included.
  virtual absl::StatusOr<fwd::v1::Notifier> getNotifier(std::string_view name) = 0;
  /// Ordered by name.
  virtual absl::StatusOr<std::vector<fwd::v1::Notifier>> listNotifiers() = 0;
  /// Replaces the notifier named n.name() (its id and create_time kept); NOT_FOUND.
  virtual absl::StatusOr<fwd::v1::Notifier> updateNotifier(const fwd::v1::Notifier& n) = 0;
  /// NOT_FOUND when there is none of that name.
  virtual absl::Status deleteNotifier(std::string_view name) = 0;

  /// True when at least one token hash is stored.
  virtual absl::StatusOr<bool> hasTokens() = 0;
  /// Stores the SHA-256 hex digests of new tokens, all in one transaction. Does not change the
  /// config version: tokens are not configuration.
  virtual absl::Status addTokens(const std::vector<std::pair<TokenKind, std::string>>& hashes) = 0;
  /// SHA-256 hex digests of every token of `kind`.
  virtual absl::StatusOr<std::vector<std::string>> tokenHashes(TokenKind kind) = 0;

  /// Version, upstreams, active keys and routes as of one committed state.
  virtual absl::StatusOr<ConfigState> readConfig() = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace fwd::controlplane::store
