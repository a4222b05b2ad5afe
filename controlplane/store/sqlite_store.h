// The Store on SQLite: one connection in WAL mode, schema migrations keyed on PRAGMA
// user_version, every write in BEGIN IMMEDIATE ... COMMIT with the config version bumped in the
// same transaction.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "controlplane/store/sqlite.h"
#include "controlplane/store/store.h"

namespace fwd::controlplane::store {

class SqliteStore : public Store {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  /// Number of schema migrations this build knows; a database with a higher user_version was
  /// written by a newer fwd-controlplane and is refused.
  static int schemaVersion();

  /// Opens or creates the database file at `path` (mode 0600), enables WAL, busy_timeout and
  /// foreign keys, and applies pending migrations.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                           Clock clock = nullptr);

  // fwd::controlplane::store::Store
  absl::StatusOr<std::uint64_t> version() override;
  absl::StatusOr<fwd::v1::Upstream> createUpstream(const fwd::v1::Upstream& upstream) override;
  absl::StatusOr<fwd::v1::Upstream> getUpstream(std::string_view name) override;
  absl::StatusOr<std::vector<fwd::v1::Upstream>> listUpstreams() override;
  absl::StatusOr<fwd::v1::Upstream> updateUpstream(std::string_view name,
                                                   const UpstreamMutator& mutate) override;
  absl::StatusOr<std::uint64_t> deleteUpstream(std::string_view name) override;
  absl::StatusOr<fwd::v1::Route> createRoute(const fwd::v1::Route& route) override;
  absl::StatusOr<fwd::v1::Route> getRoute(std::string_view name) override;
  absl::StatusOr<std::vector<fwd::v1::Route>> listRoutes() override;
  absl::StatusOr<fwd::v1::Route> updateRoute(std::string_view name,
                                             const RouteMutator& mutate) override;
  absl::StatusOr<std::uint64_t> deleteRoute(std::string_view name) override;
  absl::StatusOr<fwd::v1::Key> createKey(const fwd::v1::Key& key) override;
  absl::StatusOr<fwd::v1::Key> getKey(std::string_view name) override;
  absl::StatusOr<std::vector<fwd::v1::Key>> listKeys() override;
  absl::StatusOr<fwd::v1::Key> updateKey(std::string_view name, const KeyMutator& mutate) override;
  absl::StatusOr<fwd::v1::Key> rotateKey(std::string_view name, const std::string& secret_sha256,
                                         const std::string& display_prefix,
                                         std::chrono::microseconds grace) override;
  absl::StatusOr<fwd::v1::Key> revokeKey(std::string_view name) override;
  absl::StatusOr<std::map<std::string, std::string>> listSettings() override;
  absl::StatusOr<fwd::v1::IpRule> addIpRule(const fwd::v1::IpRule& rule) override;
  absl::StatusOr<std::vector<fwd::v1::IpRule>> listIpRules() override;
  absl::StatusOr<IpRuleRemoval> removeIpRule(std::string_view cidr,
                                             fwd::v1::IpRule::Action action) override;
  absl::StatusOr<PriceWrite> setPrice(const fwd::v1::Price& price) override;
  absl::StatusOr<fwd::v1::Price> getPrice(std::string_view model) override;
  absl::StatusOr<std::vector<fwd::v1::Price>> listPrices() override;
  absl::StatusOr<std::uint64_t> deletePrice(std::string_view model) override;
  absl::StatusOr<std::uint64_t> setSetting(std::string_view name, std::string_view value) override;
  absl::StatusOr<fwd::v1::Notifier> createNotifier(const fwd::v1::Notifier& n) override;
  absl::StatusOr<fwd::v1::Notifier> getNotifier(std::string_view name) override;
  absl::StatusOr<std::vector<fwd::v1::Notifier>> listNotifiers() override;
  absl::StatusOr<fwd::v1::Notifier> updateNotifier(const fwd::v1::Notifier& n) override;
  absl::Status deleteNotifier(std::string_view name) override;
  absl::StatusOr<bool> hasTokens() override;
  absl::Status addTokens(const std::vector<std::pair<TokenKind, std::string>>& hashes) override;
  absl::StatusOr<std::vector<std::string>> tokenHashes(TokenKind kind) override;
  absl::StatusOr<ConfigState> readConfig() override;

 private:
  SqliteStore(std::unique_ptr<Database> db, Clock clock)
      : db_(std::move(db)), clock_(std::move(clock)) {}

  absl::Status configure() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// Runs `body` inside BEGIN IMMEDIATE; commits when it returns OK, rolls back otherwise.
  absl::Status inWriteTransaction(const std::function<absl::Status()>& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// Runs `body` inside a deferred (read) transaction so every read sees one committed state.
  absl::Status inReadTransaction(const std::function<absl::Status()>& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// Increments the config version; call inside a write transaction.
  absl::StatusOr<std::uint64_t> bumpVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::uint64_t> readVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<fwd::v1::Upstream> findUpstream(std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<fwd::v1::Upstream>> selectUpstreams()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<fwd::v1::Route> findRoute(std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<fwd::v1::Route>> selectRoutes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// INVALID_ARGUMENT naming the first upstream of `route` that is not stored.
  absl::Status checkRouteUpstreams(const fwd::v1::Route& route) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<fwd::v1::Key>> selectKeys(bool active_only)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<fwd::v1::Key> findKey(std::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::map<std::string, std::string>> selectSettings()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<fwd::v1::IpRule>> selectIpRules() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// Every price, or (`model` set) that model's; ordered by model.
  absl::StatusOr<std::vector<fwd::v1::Price>> selectPrices(std::optional<std::string_view> model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// Every notifier, or (`name` set) that one; ordered by name.
  absl::StatusOr<std::vector<fwd::v1::Notifier>> selectNotifiers(
      std::optional<std::string_view> name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  /// findKey, FAILED_PRECONDITION for a revoked key.
  absl::StatusOr<fwd::v1::Key> findActiveKey(std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::int64_t nowMicros() const;

  // Guards db_: an SQLite connection and its statements are used by one thread at a time, and
  // a transaction spans several calls.
  std::mutex mu_;
  std::unique_ptr<Database> db_ ABSL_GUARDED_BY(mu_);
  const Clock clock_;
};

}  // namespace fwd::controlplane::store
