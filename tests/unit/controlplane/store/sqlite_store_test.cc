// SqliteStore and the data dir: schema migrations, WAL, the config version, CRUD errors, key
// revocation, and first-start token files.
#include "controlplane/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdio>
#include <thread>

#include "common/crypto/token.h"
#include "controlplane/snapshot/builder.h"
#include "controlplane/store/data_dir.h"
#include "controlplane/validate/validate.h"
#include "tests/unit/controlplane/temp_dir.h"

namespace fwd::controlplane::store {
namespace {

using controlplane::testing::readFile;
using controlplane::testing::TempDir;

/// One PRAGMA value read through a separate raw connection, so the test does not trust the
/// store's own view of the file.
std::string rawPragma(const std::string& db_path, const std::string& pragma) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string sql = "PRAGMA " + pragma;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  std::string value;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

// The schema exactly as released at user_version 1 and 2 (copies of kMigrations, frozen here so
// that a change to a released step shows up as a failing migration test).
constexpr const char* kReleasedSchema[] = {
    R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('config_version', 0);
CREATE TABLE upstreams (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  base_url TEXT NOT NULL,
  api_key TEXT,
  api_key_env TEXT,
  models TEXT NOT NULL DEFAULT '[]',
  priority INTEGER NOT NULL DEFAULT 0,
  weight INTEGER NOT NULL DEFAULT 1,
  timeout_ns INTEGER NOT NULL,
  insecure_skip_verify INTEGER NOT NULL DEFAULT 0,
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL,
  CHECK (api_key IS NULL OR api_key_env IS NULL)
) STRICT;
CREATE TABLE keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  secret_sha256 TEXT NOT NULL UNIQUE,
  display_prefix TEXT NOT NULL,
  models TEXT NOT NULL DEFAULT '[]',
  create_time_us INTEGER NOT NULL,
  revoke_time_us INTEGER
) STRICT;
CREATE TABLE tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('admin', 'node')),
  sha256 TEXT NOT NULL UNIQUE,
  create_time_us INTEGER NOT NULL
) STRICT;
)sql",
    R"sql(
CREATE TABLE routes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  path_prefix TEXT NOT NULL DEFAULT '',
  models TEXT NOT NULL DEFAULT '[]',
  upstreams TEXT NOT NULL DEFAULT '[]',
  strategy TEXT NOT NULL,
  fallback_models TEXT NOT NULL DEFAULT '[]',
  rewrite_model TEXT NOT NULL DEFAULT '',
  retries INTEGER NOT NULL DEFAULT 0,
  retry_on TEXT NOT NULL DEFAULT '[]',
  priority INTEGER NOT NULL DEFAULT 0,
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL
) STRICT;
)sql",
};

/// Runs `sql` on the file through a separate raw connection; the test fails on an error.
void rawExec(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
      SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "") << "\n" << sql;
  sqlite3_free(error);
  sqlite3_close(db);
}

/// A database file as a build of schema `version` left it: its released steps and user_version.
void createReleasedSchema(const std::string& db_path, int version) {
  for (int i = 0; i < version; ++i) {
    rawExec(db_path, kReleasedSchema[i]);
  }
  rawExec(db_path, "PRAGMA user_version = " + std::to_string(version));
}

fwd::v1::Upstream makeUpstream(const std::string& name, int priority = 0) {
  fwd::v1::Upstream u;
  u.set_name(name);
  u.set_base_url("http://127.0.0.1:9/v1");
  u.set_api_key("sk-test-abcdefgh");
  u.add_models("gpt-*");
  u.set_priority(priority);
  u.set_weight(1);
  u.mutable_timeout()->set_seconds(600);
  return u;
}

fwd::v1::Key makeKey(const std::string& name) {
  fwd::v1::Key k;
  k.set_name(name);
  k.set_secret_sha256(common::crypto::sha256Hex("secret-" + name));
  k.set_display_prefix("fwd-abcd");
  k.add_models("gpt-4o");
  return k;
}

fwd::v1::Route makeRoute(const std::string& name, std::vector<std::string> upstreams,
                         int priority = 0) {
  fwd::v1::Route r;
  r.set_name(name);
  r.set_path_prefix("/" + name);
  r.add_models()->set_exact("gpt-4o");
  r.add_models()->set_keyword("llama");
  r.add_models()->set_glob("qwen*");
  for (const std::string& u : upstreams) {
    r.add_upstreams(u);
  }
  r.set_strategy(fwd::v1::BALANCE_STRATEGY_LEAST_BUSY);
  r.add_fallback_models("gpt-4o-mini");
  r.set_rewrite_model("gpt-4o-2024-08-06");
  r.mutable_retry()->set_retries(2);
  r.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_429);
  r.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_CONNECT);
  r.set_priority(priority);
  r.set_log_bodies(true);
  return r;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }

  void reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<SqliteStore>> opened =
        SqliteStore::open(dbPath(), [this] { return now_; });
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
  }

  std::string dbPath() const { return dir_.file("fwd.db"); }

  /// Deletes the closed database and its WAL files, to build an older one in their place.
  void removeDatabase() {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove((dbPath() + suffix).c_str());
    }
  }

  std::uint64_t version() {
    absl::StatusOr<std::uint64_t> v = store_->version();
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : ~0ull;
  }

  TempDir dir_;
  std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, MigratesEmptyDatabaseToCurrentSchema) {
  // A new file gets every migration, user_version records it, and the version starts at 0.
  EXPECT_EQ(rawPragma(dbPath(), "user_version"), std::to_string(SqliteStore::schemaVersion()));
  EXPECT_EQ(version(), 0u);
  absl::StatusOr<bool> has = store_->hasTokens();
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE(*has);
}

TEST_F(SqliteStoreTest, UsesWalJournalAndOwnerOnlyFile) {
  // WAL is persistent in the file, and the file holding api keys is mode 0600.
  EXPECT_EQ(rawPragma(dbPath(), "journal_mode"), "wal");
  struct stat st {};
  ASSERT_EQ(::stat(dbPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SqliteStoreTest, RefusesSchemaFromNewerBuild) {
  // A database migrated by a newer control plane is not touched by an older one.
  store_.reset();
  rawPragma(dbPath(), "user_version = 99");
  absl::StatusOr<std::unique_ptr<SqliteStore>> opened = SqliteStore::open(dbPath());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(opened.status().message()).find("upgrade fwd-controlplane"),
            std::string::npos);
}

TEST_F(SqliteStoreTest, EveryWriteBumpsVersionAndItSurvivesReopen) {
  // Create, update, delete, key create and revoke each add exactly one; reopening keeps it.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a")).ok());
  EXPECT_EQ(version(), 1u);
  ASSERT_TRUE(store_
                  ->updateUpstream("a",
                                   [](fwd::v1::Upstream& u) {
                                     u.set_priority(5);
                                     return absl::OkStatus();
                                   })
                  .ok());
  EXPECT_EQ(version(), 2u);
  ASSERT_TRUE(store_->createKey(makeKey("k")).ok());
  EXPECT_EQ(version(), 3u);
  ASSERT_TRUE(store_->revokeKey("k").ok());
  EXPECT_EQ(version(), 4u);
  absl::StatusOr<std::uint64_t> deleted = store_->deleteUpstream("a");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 5u);
  reopen();
  EXPECT_EQ(version(), 5u);
}

TEST_F(SqliteStoreTest, FailedWritesChangeNothing) {
  // Duplicates, unknown names and a failing mutator are rejected with precise codes, and the
  // version stays where it was.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a")).ok());
  ASSERT_TRUE(store_->createKey(makeKey("k")).ok());
  const std::uint64_t before = version();

  absl::StatusOr<fwd::v1::Upstream> dup = store_->createUpstream(makeUpstream("a"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(std::string(dup.status().message()), "upstream \"a\" already exists");
  absl::StatusOr<fwd::v1::Key> dup_key = store_->createKey(makeKey("k"));
  EXPECT_EQ(dup_key.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(std::string(dup_key.status().message()), "key \"k\" already exists");

  EXPECT_EQ(store_->getUpstream("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(store_->getUpstream("nope").status().message()),
            "upstream \"nope\" not found");
  EXPECT_EQ(store_->deleteUpstream("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->revokeKey("nope").status().code(), absl::StatusCode::kNotFound);
  auto touch = [](fwd::v1::Upstream& u) { return absl::OkStatus(); };
  EXPECT_EQ(store_->updateUpstream("nope", touch).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<fwd::v1::Upstream> rejected =
      store_->updateUpstream("a", [](fwd::v1::Upstream& u) {
        u.set_priority(99);
        return absl::InvalidArgumentError("no");
      });
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->getUpstream("a")->priority(), 0);
  EXPECT_EQ(version(), before);
}

TEST_F(SqliteStoreTest, UpdateByMaskReplacesOnlyNamedFields) {
  // Mask paths replace their fields; name, id and create_time stay, update_time moves.
  absl::StatusOr<fwd::v1::Upstream> created = store_->createUpstream(makeUpstream("a"));
  ASSERT_TRUE(created.ok());
  now_ += std::chrono::seconds(30);

  fwd::v1::Upstream patch;
  patch.set_base_url("https://example.com/v2");
  patch.set_api_key_env("EXAMPLE_KEY");
  patch.set_priority(7);  // not in the mask: must not change
  google::protobuf::FieldMask mask;
  mask.add_paths("base_url");
  mask.add_paths("api_key_env");
  absl::StatusOr<fwd::v1::Upstream> updated = store_->updateUpstream(
      "a", [&](fwd::v1::Upstream& u) { return validate::applyUpstreamMask(patch, mask, u); });
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->base_url(), "https://example.com/v2");
  EXPECT_EQ(updated->credential_case(), fwd::v1::Upstream::kApiKeyEnv);
  EXPECT_EQ(updated->api_key_env(), "EXAMPLE_KEY");
  EXPECT_EQ(updated->priority(), 0);
  EXPECT_EQ(updated->models(0), "gpt-*");
  EXPECT_EQ(updated->id(), created->id());
  EXPECT_EQ(updated->create_time().seconds(), created->create_time().seconds());
  EXPECT_EQ(updated->update_time().seconds(), created->update_time().seconds() + 30);
  EXPECT_EQ(store_->getUpstream("a")->DebugString(), updated->DebugString());
}

TEST_F(SqliteStoreTest, ListsUpstreamsByPriorityThenCreation) {
  // Lower priority first; equal priorities keep creation order, as candidates are tried.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("c", 1)).ok());
  ASSERT_TRUE(store_->createUpstream(makeUpstream("b", 0)).ok());
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a", 1)).ok());
  ASSERT_TRUE(store_->createUpstream(makeUpstream("d", -1)).ok());
  absl::StatusOr<std::vector<fwd::v1::Upstream>> list = store_->listUpstreams();
  ASSERT_TRUE(list.ok());
  std::vector<std::string> names;
  for (const auto& u : *list) {
    names.push_back(u.name());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"d", "b", "c", "a"}));
}

TEST_F(SqliteStoreTest, RevokedKeysStayListedButLeaveTheConfig) {
  // Revocation stamps revoke_time once; the key stays in listKeys but not in readConfig, and its
  // name cannot be reused.
  ASSERT_TRUE(store_->createKey(makeKey("k1")).ok());
  ASSERT_TRUE(store_->createKey(makeKey("k2")).ok());
  now_ += std::chrono::seconds(5);
  absl::StatusOr<fwd::v1::Key> revoked = store_->revokeKey("k1");
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->revoke_time().seconds(), 1700000005);
  absl::StatusOr<fwd::v1::Key> again = store_->revokeKey("k1");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::string(again.status().message()), "key \"k1\" is already revoked");

  absl::StatusOr<std::vector<fwd::v1::Key>> all = store_->listKeys();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_TRUE((*all)[0].has_revoke_time());
  EXPECT_FALSE((*all)[1].has_revoke_time());

  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  ASSERT_EQ(config->active_keys.size(), 1u);
  EXPECT_EQ(config->active_keys[0].name(), "k2");
  EXPECT_EQ(config->active_keys[0].secret_sha256(), common::crypto::sha256Hex("secret-k2"));
  EXPECT_EQ(config->version, version());
  EXPECT_EQ(store_->createKey(makeKey("k1")).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(SqliteStoreTest, KeysAreUpdatedAndRotatedWithOrWithoutAGracePeriod) {
  // updateKey replaces the models; rotateKey replaces the secret, keeps the replaced one only
  // with a grace period (and only the latest), and the snapshot drops it once it expired.
  ASSERT_TRUE(store_->createKey(makeKey("k")).ok());
  EXPECT_EQ(store_->getKey("nope").status().code(), absl::StatusCode::kNotFound);
  std::uint64_t before = version();
  now_ += std::chrono::seconds(1);
  absl::StatusOr<fwd::v1::Key> updated = store_->updateKey("k", [](fwd::v1::Key& k) {
    k.clear_models();
    k.add_models("claude-*");
    return absl::OkStatus();
  });
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->models_size(), 1);
  EXPECT_EQ(updated->models(0), "claude-*");
  EXPECT_EQ(updated->update_time().seconds(), 1700000001);
  EXPECT_EQ(version(), before + 1);

  const std::string first = common::crypto::sha256Hex("secret-k");
  absl::StatusOr<fwd::v1::Key> at_once = store_->rotateKey(
      "k", common::crypto::sha256Hex("second"), "fwd-2222", std::chrono::microseconds(0));
  ASSERT_TRUE(at_once.ok()) << at_once.status();
  EXPECT_EQ(at_once->secret_sha256(), common::crypto::sha256Hex("second"));
  EXPECT_EQ(at_once->display_prefix(), "fwd-2222");
  EXPECT_TRUE(at_once->previous_secret_sha256().empty());
  EXPECT_FALSE(at_once->has_previous_secret_expire_time());
  EXPECT_EQ(at_once->models(0), "claude-*");

  absl::StatusOr<fwd::v1::Key> graceful = store_->rotateKey("k", common::crypto::sha256Hex("third"),
                                                            "fwd-3333", std::chrono::minutes(10));
  ASSERT_TRUE(graceful.ok()) << graceful.status();
  EXPECT_EQ(graceful->previous_secret_sha256(), common::crypto::sha256Hex("second"));
  EXPECT_EQ(graceful->previous_secret_expire_time().seconds(), 1700000001 + 600);
  absl::StatusOr<fwd::v1::Key> again = store_->rotateKey("k", common::crypto::sha256Hex("fourth"),
                                                         "fwd-4444", std::chrono::minutes(10));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->previous_secret_sha256(), common::crypto::sha256Hex("third"));
  EXPECT_NE(again->previous_secret_sha256(), first);

  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  auto in_grace = snapshot::buildSnapshot(*config, now_ + std::chrono::minutes(9));
  ASSERT_EQ(in_grace->keys_size(), 1);
  EXPECT_EQ(in_grace->keys(0).previous_secret_sha256(), common::crypto::sha256Hex("third"));
  auto after = snapshot::buildSnapshot(*config, now_ + std::chrono::minutes(11));
  EXPECT_TRUE(after->keys(0).previous_secret_sha256().empty());
  EXPECT_FALSE(after->keys(0).has_previous_secret_expire_time());

  // Survives a reopen; a revoked key can be neither updated nor rotated.
  reopen();
  absl::StatusOr<fwd::v1::Key> stored = store_->getKey("k");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->secret_sha256(), common::crypto::sha256Hex("fourth"));
  EXPECT_EQ(stored->previous_secret_sha256(), common::crypto::sha256Hex("third"));
  ASSERT_TRUE(store_->revokeKey("k").ok());
  EXPECT_EQ(store_->rotateKey("k", "x", "y", std::chrono::microseconds(0)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto touch = [](fwd::v1::Key&) { return absl::OkStatus(); };
  EXPECT_EQ(store_->updateKey("k", touch).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->updateKey("nope", touch).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, SettingsAreSetReplacedAndReadWithTheConfig) {
  // setSetting inserts or replaces and bumps the version; readConfig carries the settings, and
  // the snapshot built from them has the typed values. A key keeps its errors_as_200.
  absl::StatusOr<std::map<std::string, std::string>> none = store_->listSettings();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  std::uint64_t before = version();
  ASSERT_TRUE(store_->setSetting("errors_as_200", "false").ok());
  absl::StatusOr<std::uint64_t> v = store_->setSetting("errors_as_200", "true");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, before + 2);
  fwd::v1::Key k = makeKey("legacy");
  k.set_errors_as_200(true);
  k.set_log_bodies(true);
  ASSERT_TRUE(store_->createKey(k).ok());
  reopen();
  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->settings, (std::map<std::string, std::string>{{"errors_as_200", "true"}}));
  EXPECT_TRUE(config->active_keys[0].errors_as_200());
  EXPECT_TRUE(config->active_keys[0].log_bodies());
  auto snap = snapshot::buildSnapshot(*config, now_);
  EXPECT_TRUE(snap->settings().errors_as_200());
  absl::StatusOr<fwd::v1::Key> off = store_->updateKey("legacy", [](fwd::v1::Key& key) {
    key.set_errors_as_200(false);
    key.set_log_bodies(false);
    return absl::OkStatus();
  });
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->errors_as_200());
  EXPECT_FALSE(off->log_bodies());
}

TEST_F(SqliteStoreTest, IpRulesAreAddedOncePerActionListedAndRemoved) {
  // A block may have one rule per action; list orders by action; remove takes one action or all
  // of the block's rules; the config carries them, and keys keep their IP lists.
  auto rule = [](const std::string& cidr, fwd::v1::IpRule::Action action) {
    fwd::v1::IpRule r;
    r.set_cidr(cidr);
    r.set_action(action);
    return r;
  };
  ASSERT_TRUE(store_->addIpRule(rule("10.0.0.0/8", fwd::v1::IpRule::ACTION_TRUST)).ok());
  ASSERT_TRUE(store_->addIpRule(rule("10.0.0.0/8", fwd::v1::IpRule::ACTION_ALLOW)).ok());
  ASSERT_TRUE(store_->addIpRule(rule("203.0.113.0/24", fwd::v1::IpRule::ACTION_DENY)).ok());
  auto dup = store_->addIpRule(rule("10.0.0.0/8", fwd::v1::IpRule::ACTION_ALLOW));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<std::vector<fwd::v1::IpRule>> rules = store_->listIpRules();
  ASSERT_TRUE(rules.ok());
  ASSERT_EQ(rules->size(), 3u);
  EXPECT_EQ((*rules)[0].action(), fwd::v1::IpRule::ACTION_ALLOW);
  EXPECT_EQ((*rules)[1].action(), fwd::v1::IpRule::ACTION_DENY);
  EXPECT_EQ((*rules)[2].action(), fwd::v1::IpRule::ACTION_TRUST);

  fwd::v1::Key k = makeKey("office");
  k.add_allow_ips("192.168.0.0/16");
  k.add_deny_ips("192.168.9.0/24");
  ASSERT_TRUE(store_->createKey(k).ok());
  reopen();
  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->ip_rules.size(), 3u);
  EXPECT_EQ(config->active_keys[0].allow_ips(0), "192.168.0.0/16");
  EXPECT_EQ(config->active_keys[0].deny_ips(0), "192.168.9.0/24");
  EXPECT_EQ(snapshot::buildSnapshot(*config, now_)->ip_rules_size(), 3);

  auto one = store_->removeIpRule("10.0.0.0/8", fwd::v1::IpRule::ACTION_TRUST);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->removed, 1u);
  EXPECT_EQ(one->version, version());
  auto rest = store_->removeIpRule("10.0.0.0/8", fwd::v1::IpRule::ACTION_UNSPECIFIED);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->removed, 1u);
  auto none = store_->removeIpRule("10.0.0.0/8", fwd::v1::IpRule::ACTION_UNSPECIFIED);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, NotifiersAreKeptWholeButAreNotConfig) {
  // A notifier round-trips with its URL and token; writing notifiers changes no config version
  // (data planes never see them).
  fwd::v1::Notifier n;
  n.set_name("ops");
  n.set_kind("matrix");
  n.set_url("https://m.example/_matrix/client/v3/rooms/!r/send/m.room.message");
  n.set_token("syt_secret");
  n.add_events("5xx");
  n.mutable_window()->set_seconds(30);
  const std::uint64_t before = version();
  auto created = store_->createNotifier(n);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GT(created->id(), 0u);
  EXPECT_TRUE(created->has_create_time());
  EXPECT_EQ(created->token(), "syt_secret");
  EXPECT_EQ(store_->createNotifier(n).status().code(), absl::StatusCode::kAlreadyExists);
  fwd::v1::Notifier b = n;
  b.set_name("another");
  ASSERT_TRUE(store_->createNotifier(b).ok());
  auto all = store_->listNotifiers();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name(), "another");  // by name
  n.set_url("https://m.example/other");
  n.clear_events();
  n.add_events("upstream_ejected");
  auto updated = store_->updateNotifier(n);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->id(), created->id());
  EXPECT_EQ(updated->create_time().seconds(), created->create_time().seconds());
  auto got = store_->getNotifier("ops");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->url(), "https://m.example/other");
  EXPECT_EQ(got->events(0), "upstream_ejected");
  EXPECT_EQ(got->window().seconds(), 30);
  ASSERT_TRUE(store_->deleteNotifier("ops").ok());
  EXPECT_EQ(store_->getNotifier("ops").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->deleteNotifier("ops").code(), absl::StatusCode::kNotFound);
  fwd::v1::Notifier missing = n;
  missing.set_name("missing");
  EXPECT_EQ(store_->updateNotifier(missing).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(version(), before);
}

TEST_F(SqliteStoreTest, PricesAreSetReplacedListedByModelAndRemoved) {
  auto price = [](const std::string& model, std::uint64_t in, std::uint64_t out) {
    fwd::v1::Price p;
    p.set_model(model);
    p.set_input_usd_micros(in);
    p.set_output_usd_micros(out);
    return p;
  };
  std::uint64_t before = version();
  auto set = store_->setPrice(price("gpt-4o", 2'500'000, 10'000'000));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->created);
  EXPECT_EQ(set->version, before + 1);
  EXPECT_FALSE(set->price.has_cached_input_usd_micros());
  fwd::v1::Price cached = price("gpt-4o-mini*", 150'000, 600'000);
  cached.set_cached_input_usd_micros(75'000);
  ASSERT_TRUE(store_->setPrice(cached).ok());
  // Replacing keeps the id and creation time.
  auto replaced = store_->setPrice(price("gpt-4o", 2'000'000, 8'000'000));
  ASSERT_TRUE(replaced.ok());
  EXPECT_FALSE(replaced->created);
  EXPECT_EQ(replaced->price.id(), set->price.id());
  EXPECT_EQ(replaced->price.create_time().seconds(), set->price.create_time().seconds());
  EXPECT_EQ(replaced->price.output_usd_micros(), 8'000'000u);

  reopen();
  auto listed = store_->listPrices();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].model(), "gpt-4o");
  EXPECT_EQ((*listed)[1].model(), "gpt-4o-mini*");
  EXPECT_EQ((*listed)[1].cached_input_usd_micros(), 75'000u);
  EXPECT_EQ(store_->getPrice("gpt-4o-mini*")->input_usd_micros(), 150'000u);
  EXPECT_EQ(store_->getPrice("gpt-5").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  auto snap = snapshot::buildSnapshot(*config, now_);
  ASSERT_EQ(snap->prices_size(), 2);
  EXPECT_EQ(snap->prices(0).input_usd_micros(), 2'000'000u);

  auto removed = store_->deletePrice("gpt-4o");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, version());
  EXPECT_EQ(store_->deletePrice("gpt-4o").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->listPrices()->size(), 1u);
}

TEST_F(SqliteStoreTest, ConcurrentWritersGetDistinctVersions) {
  // Writes from several threads are serialised: every one commits and the version counts them.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string name = std::to_string(t) + "-" + std::to_string(i);
        absl::StatusOr<fwd::v1::Upstream> created = store_->createUpstream(makeUpstream(name));
        EXPECT_TRUE(created.ok()) << created.status();
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(version(), static_cast<std::uint64_t>(kThreads * kPerThread));
  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->upstreams.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(config->version, version());
}

TEST_F(SqliteStoreTest, RoutesRoundTripEveryFieldAndBumpTheVersion) {
  // A route comes back field for field with id and times set; update and delete bump the
  // version; reopening keeps it.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a")).ok());
  ASSERT_TRUE(store_->createUpstream(makeUpstream("b")).ok());
  const fwd::v1::Route input = makeRoute("r", {"b", "a"});
  absl::StatusOr<fwd::v1::Route> created = store_->createRoute(input);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(version(), 3u);
  EXPECT_EQ(created->id(), 1u);
  EXPECT_EQ(created->create_time().seconds(), 1700000000);
  EXPECT_EQ(created->update_time().seconds(), 1700000000);
  fwd::v1::Route without_output = *created;
  without_output.clear_id();
  without_output.clear_create_time();
  without_output.clear_update_time();
  EXPECT_EQ(without_output.DebugString(), input.DebugString());

  now_ += std::chrono::seconds(10);
  absl::StatusOr<fwd::v1::Route> updated = store_->updateRoute("r", [](fwd::v1::Route& r) {
    r.clear_retry();
    r.set_name("renamed");  // ignored: the name selects the row
    r.set_priority(-3);
    r.set_log_bodies(false);
    return absl::OkStatus();
  });
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->name(), "r");
  EXPECT_FALSE(updated->log_bodies());
  EXPECT_FALSE(updated->has_retry());
  EXPECT_EQ(updated->priority(), -3);
  EXPECT_EQ(updated->update_time().seconds(), 1700000010);
  EXPECT_EQ(updated->create_time().seconds(), 1700000000);
  EXPECT_EQ(version(), 4u);
  reopen();
  EXPECT_EQ(store_->getRoute("r")->DebugString(), updated->DebugString());

  absl::StatusOr<std::uint64_t> deleted = store_->deleteRoute("r");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 5u);
  EXPECT_EQ(std::string(store_->getRoute("r").status().message()), "route \"r\" not found");
}

TEST_F(SqliteStoreTest, RoutesKeepUpstreamReferencesIntact) {
  // A route may only name stored upstreams, and an upstream a route names cannot be deleted;
  // every refused write leaves the version alone.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a")).ok());
  ASSERT_TRUE(store_->createUpstream(makeUpstream("b")).ok());
  ASSERT_TRUE(store_->createRoute(makeRoute("r1", {"a"})).ok());
  ASSERT_TRUE(store_->createRoute(makeRoute("r2", {"a", "b"})).ok());
  const std::uint64_t before = version();

  absl::StatusOr<fwd::v1::Route> missing = store_->createRoute(makeRoute("r3", {"a", "ghost"}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(missing.status().message()),
            "route \"r3\": upstream \"ghost\" does not exist (see fwdctl upstream list)");
  absl::StatusOr<fwd::v1::Route> dup = store_->createRoute(makeRoute("r1", {"a"}));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(std::string(dup.status().message()), "route \"r1\" already exists");
  absl::StatusOr<fwd::v1::Route> bad_update = store_->updateRoute("r1", [](fwd::v1::Route& r) {
    r.add_upstreams("ghost");
    return absl::OkStatus();
  });
  EXPECT_EQ(bad_update.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->getRoute("r1")->upstreams_size(), 1);

  absl::StatusOr<std::uint64_t> in_use = store_->deleteUpstream("b");
  EXPECT_EQ(in_use.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::string(in_use.status().message()),
            "upstream \"b\" is used by route \"r2\": remove it from the route first");
  EXPECT_EQ(std::string(store_->deleteUpstream("a").status().message()),
            "upstream \"a\" is used by route \"r1\": remove it from the route first");
  EXPECT_EQ(store_->deleteRoute("nope").status().code(), absl::StatusCode::kNotFound);
  auto touch = [](fwd::v1::Route&) { return absl::OkStatus(); };
  EXPECT_EQ(store_->updateRoute("nope", touch).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(version(), before);

  // Once no route names it, the upstream can go.
  ASSERT_TRUE(store_->deleteRoute("r2").ok());
  EXPECT_TRUE(store_->deleteUpstream("b").ok());
}

TEST_F(SqliteStoreTest, RoutesListAndSnapshotByPriorityThenCreation) {
  // listRoutes, readConfig and the snapshot built from it carry routes in matching order.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a")).ok());
  ASSERT_TRUE(store_->createRoute(makeRoute("c", {"a"}, 1)).ok());
  ASSERT_TRUE(store_->createRoute(makeRoute("b", {"a"}, 0)).ok());
  ASSERT_TRUE(store_->createRoute(makeRoute("x", {"a"}, 1)).ok());
  ASSERT_TRUE(store_->createRoute(makeRoute("d", {"a"}, -1)).ok());
  absl::StatusOr<std::vector<fwd::v1::Route>> list = store_->listRoutes();
  ASSERT_TRUE(list.ok());
  std::vector<std::string> names;
  for (const auto& r : *list) {
    names.push_back(r.name());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"d", "b", "c", "x"}));

  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  snapshot::SnapshotConstSharedPtr snap = snapshot::buildSnapshot(*config, now_);
  EXPECT_EQ(snap->version(), version());
  ASSERT_EQ(snap->routes_size(), 4);
  for (int i = 0; i < snap->routes_size(); ++i) {
    EXPECT_EQ(snap->routes(i).DebugString(), (*list)[static_cast<size_t>(i)].DebugString());
  }
  EXPECT_EQ(snap->routes(0).upstreams(0), "a");
  EXPECT_EQ(snap->routes(0).retry().retries(), 2u);
}

TEST_F(SqliteStoreTest, MigratesASchemaOneDatabaseKeepingItsData) {
  // A database written before routes existed gains every later step and keeps its upstreams.
  store_.reset();
  removeDatabase();
  createReleasedSchema(dbPath(), 1);
  rawExec(dbPath(),
          "INSERT INTO upstreams (name, base_url, models, timeout_ns, create_time_us, "
          "update_time_us) VALUES ('a', 'http://127.0.0.1:9/v1', '[\"gpt-*\"]', 600000000000, 1, "
          "1); UPDATE meta SET value = 1 WHERE key = 'config_version'");
  reopen();
  EXPECT_EQ(rawPragma(dbPath(), "user_version"), std::to_string(SqliteStore::schemaVersion()));
  absl::StatusOr<fwd::v1::Upstream> a = store_->getUpstream("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->models(0), "gpt-*");
  EXPECT_EQ(version(), 1u);
  EXPECT_TRUE(store_->createRoute(makeRoute("r", {"a"})).ok());
}

TEST_F(SqliteStoreTest, MigratesASchemaTwoDatabaseKeepingRetryPresence) {
  // Rows written at schema 2 read back as they did then (no new field set; a route's policy
  // present only when it was not empty), and take the new fields afterwards.
  store_.reset();
  removeDatabase();
  createReleasedSchema(dbPath(), 2);
  rawExec(dbPath(), R"sql(
INSERT INTO upstreams (name, base_url, api_key, models, priority, weight, timeout_ns,
                       insecure_skip_verify, create_time_us, update_time_us)
  VALUES ('a', 'http://127.0.0.1:9/v1', 'sk-test-abcdefgh', '["gpt-*"]', 2, 3, 30000000000, 1,
          1700000000000000, 1700000000000000);
INSERT INTO routes (name, path_prefix, upstreams, strategy, retries, retry_on, create_time_us,
                    update_time_us)
  VALUES ('none', '/none', '["a"]', 'BALANCE_STRATEGY_ORDERED', 0, '[]', 1, 1),
         ('two', '/two', '["a"]', 'BALANCE_STRATEGY_ORDERED', 2, '[]', 1, 1),
         ('on', '/on', '["a"]', 'BALANCE_STRATEGY_ORDERED', 0, '["RETRY_ON_429"]', 1, 1);
UPDATE meta SET value = 4 WHERE key = 'config_version';
)sql");
  reopen();
  EXPECT_EQ(rawPragma(dbPath(), "user_version"), std::to_string(SqliteStore::schemaVersion()));
  EXPECT_EQ(version(), 4u);

  absl::StatusOr<fwd::v1::Upstream> a = store_->getUpstream("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->api_key(), "sk-test-abcdefgh");
  EXPECT_EQ(a->timeout().seconds(), 30);
  EXPECT_EQ(a->weight(), 3u);
  EXPECT_TRUE(a->insecure_skip_verify());
  EXPECT_EQ(a->deny_models_size(), 0);
  EXPECT_FALSE(a->has_connect_timeout());
  EXPECT_FALSE(a->has_first_byte_timeout());
  EXPECT_FALSE(a->has_stream_first_byte_timeout());
  EXPECT_FALSE(a->has_idle_timeout());
  EXPECT_FALSE(a->has_outlier_detection());
  EXPECT_FALSE(a->has_health_check());

  EXPECT_FALSE(store_->getRoute("none")->has_retry());
  EXPECT_TRUE(store_->getRoute("two")->has_retry());
  EXPECT_EQ(store_->getRoute("two")->retry().retries(), 2u);
  EXPECT_TRUE(store_->getRoute("on")->has_retry());
  EXPECT_FALSE(store_->getRoute("none")->has_timeouts());

  absl::StatusOr<fwd::v1::Route> zero = store_->updateRoute("none", [](fwd::v1::Route& r) {
    r.mutable_retry()->set_retries(0);
    r.mutable_timeouts()->mutable_total()->set_seconds(20);
    return absl::OkStatus();
  });
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_TRUE(zero->has_retry());
  EXPECT_EQ(zero->timeouts().total().seconds(), 20);
  absl::StatusOr<fwd::v1::Upstream> denied = store_->updateUpstream("a", [](fwd::v1::Upstream& u) {
    u.add_deny_models("gpt-4o-mini");
    return absl::OkStatus();
  });
  ASSERT_TRUE(denied.ok()) << denied.status();
  EXPECT_EQ(denied->deny_models(0), "gpt-4o-mini");
}

/// An upstream with every field added in schema 3 set, durations with sub-second parts.
fwd::v1::Upstream makeFullUpstream(const std::string& name) {
  fwd::v1::Upstream u = makeUpstream(name);
  u.add_deny_models("gpt-4o-mini*");
  u.add_deny_models("*-preview");
  u.mutable_connect_timeout()->set_seconds(2);
  u.mutable_connect_timeout()->set_nanos(500'000'000);
  u.mutable_first_byte_timeout()->set_seconds(90);
  u.mutable_stream_first_byte_timeout()->set_seconds(15);
  u.mutable_idle_timeout()->set_nanos(750'000'000);
  fwd::v1::OutlierDetection* od = u.mutable_outlier_detection();
  od->set_disabled(true);
  od->set_consecutive_failures(7);
  od->mutable_base_ejection_time()->set_seconds(45);
  od->mutable_max_ejection_time()->set_seconds(600);
  fwd::v1::HealthCheck* hc = u.mutable_health_check();
  hc->set_path("/health?deep=1");
  hc->mutable_interval()->set_seconds(3);
  hc->mutable_timeout()->set_nanos(800'000'000);
  hc->set_unhealthy_threshold(4);
  hc->set_healthy_threshold(1);
  return u;
}

fwd::v1::Upstream withoutOutputOnly(fwd::v1::Upstream u) {
  u.clear_id();
  u.clear_create_time();
  u.clear_update_time();
  return u;
}

fwd::v1::Route withoutOutputOnly(fwd::v1::Route r) {
  r.clear_id();
  r.clear_create_time();
  r.clear_update_time();
  return r;
}

TEST_F(SqliteStoreTest, UpstreamsRoundTripEveryNewFieldWithPresence) {
  // Deny list, the four timeouts, outlier detection and health check come back exactly; empty
  // but present messages stay present, unset ones stay unset, through update and reopen.
  const fwd::v1::Upstream full = makeFullUpstream("full");
  fwd::v1::Upstream empty_messages = makeUpstream("empty");
  empty_messages.mutable_outlier_detection();
  empty_messages.mutable_health_check();
  fwd::v1::Upstream partial = makeUpstream("partial");
  partial.mutable_outlier_detection()->set_consecutive_failures(3);
  partial.mutable_health_check()->mutable_interval()->set_seconds(30);
  const fwd::v1::Upstream plain = makeUpstream("plain");

  for (const fwd::v1::Upstream& input : {full, empty_messages, partial, plain}) {
    absl::StatusOr<fwd::v1::Upstream> created = store_->createUpstream(input);
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_EQ(withoutOutputOnly(*created).DebugString(), input.DebugString()) << input.name();
  }
  const fwd::v1::Upstream read_partial = *store_->getUpstream("partial");
  EXPECT_FALSE(read_partial.outlier_detection().has_base_ejection_time());
  EXPECT_FALSE(read_partial.health_check().has_timeout());
  EXPECT_TRUE(store_->getUpstream("empty")->has_outlier_detection());
  EXPECT_TRUE(store_->getUpstream("empty")->has_health_check());
  EXPECT_FALSE(store_->getUpstream("plain")->has_outlier_detection());
  EXPECT_FALSE(store_->getUpstream("plain")->has_health_check());

  // An update that unsets everything new writes NULLs back, not leftovers.
  absl::StatusOr<fwd::v1::Upstream> cleared = store_->updateUpstream("full", [](auto& u) {
    u.clear_deny_models();
    u.clear_connect_timeout();
    u.clear_first_byte_timeout();
    u.clear_stream_first_byte_timeout();
    u.clear_idle_timeout();
    u.clear_outlier_detection();
    u.clear_health_check();
    return absl::OkStatus();
  });
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_EQ(withoutOutputOnly(*cleared).DebugString(), makeUpstream("full").DebugString());
  ASSERT_TRUE(store_
                  ->updateUpstream("plain",
                                   [](auto& u) {
                                     u = makeFullUpstream("ignored");
                                     return absl::OkStatus();
                                   })
                  .ok());

  reopen();
  fwd::v1::Upstream expected = makeFullUpstream("plain");
  EXPECT_EQ(withoutOutputOnly(*store_->getUpstream("plain")).DebugString(), expected.DebugString());
  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  snapshot::SnapshotConstSharedPtr snap = snapshot::buildSnapshot(*config, now_);
  bool found = false;
  for (const fwd::v1::Upstream& u : snap->upstreams()) {
    if (u.name() == "plain") {
      found = true;
      EXPECT_EQ(withoutOutputOnly(u).DebugString(), expected.DebugString());
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(SqliteStoreTest, RoutesKeepAnExplicitZeroRetryPolicyAndTheirTimeouts) {
  // retries 0 (no failover) stays a present policy, distinct from none (default failover);
  // backoff and timeout overrides round-trip with their presence.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a")).ok());
  fwd::v1::Route zero = makeRoute("zero", {"a"});
  zero.mutable_retry()->Clear();
  fwd::v1::Route none = makeRoute("none", {"a"});
  none.clear_retry();
  fwd::v1::Route tuned = makeRoute("tuned", {"a"});
  tuned.mutable_retry()->mutable_backoff_base()->set_nanos(50'000'000);
  tuned.mutable_retry()->mutable_backoff_max()->set_seconds(2);
  tuned.mutable_timeouts()->mutable_connect()->set_seconds(1);
  tuned.mutable_timeouts()->mutable_first_byte()->set_seconds(20);
  tuned.mutable_timeouts()->mutable_stream_first_byte()->set_seconds(5);
  tuned.mutable_timeouts()->mutable_idle()->set_nanos(900'000'000);
  tuned.mutable_timeouts()->mutable_total()->set_seconds(60);
  fwd::v1::Route empty_timeouts = makeRoute("empty-timeouts", {"a"});
  empty_timeouts.mutable_timeouts();
  empty_timeouts.mutable_retry()->mutable_backoff_max()->set_seconds(3);

  for (const fwd::v1::Route& input : {zero, none, tuned, empty_timeouts}) {
    absl::StatusOr<fwd::v1::Route> created = store_->createRoute(input);
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_EQ(withoutOutputOnly(*created).DebugString(), input.DebugString()) << input.name();
  }
  reopen();
  EXPECT_TRUE(store_->getRoute("zero")->has_retry());
  EXPECT_EQ(store_->getRoute("zero")->retry().retries(), 0u);
  EXPECT_FALSE(store_->getRoute("none")->has_retry());
  EXPECT_TRUE(store_->getRoute("empty-timeouts")->has_timeouts());
  EXPECT_FALSE(store_->getRoute("empty-timeouts")->retry().has_backoff_base());
  EXPECT_FALSE(store_->getRoute("none")->has_timeouts());
  EXPECT_EQ(withoutOutputOnly(*store_->getRoute("tuned")).DebugString(), tuned.DebugString());

  absl::StatusOr<fwd::v1::Route> updated = store_->updateRoute("tuned", [](fwd::v1::Route& r) {
    r.clear_timeouts();
    r.clear_retry();
    return absl::OkStatus();
  });
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(updated->has_timeouts());
  EXPECT_FALSE(updated->has_retry());

  absl::StatusOr<ConfigState> config = store_->readConfig();
  ASSERT_TRUE(config.ok());
  snapshot::SnapshotConstSharedPtr snap = snapshot::buildSnapshot(*config, now_);
  for (const fwd::v1::Route& r : snap->routes()) {
    EXPECT_EQ(r.has_retry(), r.name() != "none" && r.name() != "tuned") << r.name();
  }
}

TEST_F(SqliteStoreTest, MalformedStoredObjectsAreDataLoss) {
  // A hand-edited object column is reported as DATA_LOSS naming the column, not misread.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a")).ok());
  rawExec(dbPath(), "UPDATE upstreams SET health_check = '{\"path\": 5}' WHERE name = 'a'");
  absl::StatusOr<fwd::v1::Upstream> bad = store_->getUpstream("a");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(bad.status().message()).find("health_check"), std::string::npos);
  rawExec(dbPath(),
          "UPDATE upstreams SET health_check = NULL, outlier_detection = '{\"ejections\": 1}' "
          "WHERE name = 'a'");
  EXPECT_EQ(store_->getUpstream("a").status().code(), absl::StatusCode::kDataLoss);
}

TEST(DataDirTest, CreatesDirectoryOwnerOnly) {
  // A missing data dir (and its parents) is created; the dir itself is mode 0700.
  TempDir tmp;
  std::string dir = tmp.file("a/b/fwd-data");
  ASSERT_TRUE(ensureDataDir(dir).ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(ensureDataDir(dir).ok());
  ASSERT_TRUE(writeSecretFile(dir + "/x", "1").ok());
  EXPECT_EQ(writeSecretFile(dir + "/x", "2").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(readFile(dir + "/x"), "1");
  EXPECT_EQ(ensureDataDir(dir + "/x").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TokenBootstrapTest, WritesTokenFilesOnceAndStoresOnlyHashes) {
  // First start writes both tokens (0600, token + "\n"); the DB holds their SHA-256 and never
  // the plaintext; a second start changes nothing.
  TempDir tmp;
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::open(tmp.file("fwd.db"));
  ASSERT_TRUE(store.ok());
  absl::StatusOr<bool> created = bootstrapTokens(**store, tmp.path());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(*created);

  std::string admin_file = readFile(tmp.file("admin.token"));
  std::string node_file = readFile(tmp.file("node.token"));
  ASSERT_EQ(admin_file.rfind("fwd-admin-", 0), 0u);
  ASSERT_EQ(node_file.rfind("fwd-node-", 0), 0u);
  ASSERT_EQ(admin_file.back(), '\n');
  const std::string admin = admin_file.substr(0, admin_file.size() - 1);
  const std::string node = node_file.substr(0, node_file.size() - 1);
  for (const char* name : {"admin.token", "node.token"}) {
    struct stat st {};
    ASSERT_EQ(::stat(tmp.file(name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }

  absl::StatusOr<std::vector<std::string>> admin_hashes = (*store)->tokenHashes(TokenKind::kAdmin);
  ASSERT_TRUE(admin_hashes.ok());
  EXPECT_EQ(*admin_hashes, std::vector<std::string>{common::crypto::sha256Hex(admin)});
  EXPECT_EQ(*(*store)->tokenHashes(TokenKind::kNode),
            std::vector<std::string>{common::crypto::sha256Hex(node)});

  // Every byte SQLite wrote: the hashes are there (so this looks in the right place), the
  // tokens are not.
  std::string bytes = readFile(tmp.file("fwd.db")) + readFile(tmp.file("fwd.db-wal"));
  EXPECT_NE(bytes.find(common::crypto::sha256Hex(admin)), std::string::npos);
  EXPECT_EQ(bytes.find(admin), std::string::npos);
  EXPECT_EQ(bytes.find(node), std::string::npos);

  absl::StatusOr<bool> again = bootstrapTokens(**store, tmp.path());
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(readFile(tmp.file("admin.token")), admin_file);
  EXPECT_EQ(readFile(tmp.file("node.token")), node_file);
}

TEST(TokenBootstrapTest, RefusesToOverwriteTokenFilesOfAnotherDatabase) {
  // With an empty DB but an old admin.token present, start fails instead of replacing it.
  TempDir tmp;
  ASSERT_TRUE(writeSecretFile(tmp.file("admin.token"), "old\n").ok());
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::open(tmp.file("fwd.db"));
  ASSERT_TRUE(store.ok());
  absl::StatusOr<bool> created = bootstrapTokens(**store, tmp.path());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(readFile(tmp.file("admin.token")), "old\n");
  EXPECT_FALSE(*(*store)->hasTokens());
}

TEST_F(SqliteStoreTest, EditsRoundTripWithPresenceOnUpstreamsAndRoutes) {
  // Set fields (false and "" included) come back set, unset ones unset, none at all: no edits.
  fwd::v1::Upstream u = makeUpstream("edited");
  fwd::v1::Edits& e = *u.mutable_edits();
  e.set_max_tokens_cap(512);
  e.add_stop("END");
  e.add_stop("\"quoted\"\n");
  e.set_strip_think(false);
  e.set_answer_prefix("");
  e.set_stream_mode(fwd::v1::STREAM_MODE_STREAM);
  ASSERT_TRUE(store_->createUpstream(u).ok());
  ASSERT_TRUE(store_->createUpstream(makeUpstream("plain")).ok());
  fwd::v1::Upstream read = *store_->getUpstream("edited");
  EXPECT_EQ(read.edits().DebugString(), e.DebugString());
  EXPECT_FALSE(read.edits().has_drop_empty_messages());
  EXPECT_TRUE(read.edits().has_answer_prefix());
  EXPECT_FALSE(store_->getUpstream("plain")->has_edits());

  fwd::v1::Route r = makeRoute("r", {"edited"});
  r.mutable_edits()->set_drop_empty_messages(true);
  r.mutable_edits()->set_stream_mode(fwd::v1::STREAM_MODE_PASSTHROUGH);
  ASSERT_TRUE(store_->createRoute(r).ok());
  EXPECT_TRUE(store_->getRoute("r")->edits().drop_empty_messages());
  EXPECT_EQ(store_->getRoute("r")->edits().stream_mode(), fwd::v1::STREAM_MODE_PASSTHROUGH);
  absl::StatusOr<fwd::v1::Route> cleared = store_->updateRoute("r", [](fwd::v1::Route& route) {
    route.clear_edits();
    return absl::OkStatus();
  });
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_FALSE(store_->getRoute("r")->has_edits());
}

TEST_F(SqliteStoreTest, ProviderAndAzureOptionsRoundTripAndClear) {
  fwd::v1::Upstream u = makeUpstream("azure");
  u.set_provider(fwd::v1::PROVIDER_AZURE);
  fwd::v1::AzureOptions& azure = *u.mutable_azure();
  (*azure.mutable_deployments())["gpt-4o"] = "gpt4o-prod";
  (*azure.mutable_deployments())["/v1/audio/transcriptions"] = "whisper";
  azure.set_api_version("2024-10-21");
  ASSERT_TRUE(store_->createUpstream(u).ok());
  ASSERT_TRUE(store_->createUpstream(makeUpstream("plain")).ok());
  fwd::v1::Upstream read = *store_->getUpstream("azure");
  EXPECT_EQ(read.provider(), fwd::v1::PROVIDER_AZURE);
  EXPECT_EQ(read.azure().api_version(), "2024-10-21");
  EXPECT_EQ(read.azure().deployments().size(), 2u);
  EXPECT_EQ(read.azure().deployments().at("/v1/audio/transcriptions"), "whisper");
  fwd::v1::Upstream plain = *store_->getUpstream("plain");
  EXPECT_EQ(plain.provider(), fwd::v1::PROVIDER_UNSPECIFIED);
  EXPECT_FALSE(plain.has_azure());

  absl::StatusOr<fwd::v1::Upstream> back =
      store_->updateUpstream("azure", [](fwd::v1::Upstream& x) {
        x.set_provider(fwd::v1::PROVIDER_OPENAI);
        x.clear_azure();
        return absl::OkStatus();
      });
  ASSERT_TRUE(back.ok()) << back.status();
  read = *store_->getUpstream("azure");
  EXPECT_EQ(read.provider(), fwd::v1::PROVIDER_OPENAI);
  EXPECT_FALSE(read.has_azure());
}

TEST_F(SqliteStoreTest, ReplicateTemplatesRoundTrip) {
  fwd::v1::Upstream u = makeUpstream("replicate");
  u.set_provider(fwd::v1::PROVIDER_REPLICATE);
  (*u.mutable_replicate()->mutable_prompt_templates())["meta/meta-llama-3-8b-instruct"] = "llama3";
  (*u.mutable_replicate()->mutable_prompt_templates())["*"] = "chatml";
  ASSERT_TRUE(store_->createUpstream(u).ok());
  fwd::v1::Upstream read = *store_->getUpstream("replicate");
  EXPECT_EQ(read.provider(), fwd::v1::PROVIDER_REPLICATE);
  EXPECT_EQ(read.replicate().DebugString(), u.replicate().DebugString());
  EXPECT_FALSE(read.has_azure());
}

TEST_F(SqliteStoreTest, KeyLimitsRoundTripAndClear) {
  fwd::v1::Key k = makeKey("limited");
  fwd::v1::RateWindow* w = k.mutable_limits()->add_rate();
  w->set_count(60);
  w->set_seconds(60);
  k.mutable_limits()->set_rate_strategy(fwd::v1::RATE_STRATEGY_SLIDING_WINDOW);
  k.mutable_limits()->set_max_parallel(4);
  ASSERT_TRUE(store_->createKey(k).ok());
  ASSERT_TRUE(store_->createKey(makeKey("plain")).ok());
  EXPECT_EQ(store_->getKey("limited")->limits().DebugString(), k.limits().DebugString());
  EXPECT_FALSE(store_->getKey("plain")->has_limits());
  absl::StatusOr<fwd::v1::Key> cleared = store_->updateKey("limited", [](fwd::v1::Key& key) {
    key.mutable_limits()->clear_rate();
    return absl::OkStatus();
  });
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  fwd::v1::Key read = *store_->getKey("limited");
  EXPECT_EQ(read.limits().rate_size(), 0);
  EXPECT_EQ(read.limits().max_parallel(), 4u);
}

}  // namespace
}  // namespace fwd::controlplane::store
