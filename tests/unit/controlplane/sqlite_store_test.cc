// SqliteStore and the data dir: schema migrations, WAL, the config version, CRUD errors, key
// revocation, and first-start token files.
#include "controlplane/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

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
    return absl::OkStatus();
  });
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->name(), "r");
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
  // A database written before routes existed gains the routes table and keeps its upstreams.
  ASSERT_TRUE(store_->createUpstream(makeUpstream("a")).ok());
  store_.reset();
  rawPragma(dbPath(), "user_version = 1");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(dbPath().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DROP TABLE routes", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  reopen();
  EXPECT_EQ(rawPragma(dbPath(), "user_version"), "2");
  EXPECT_TRUE(store_->getUpstream("a").ok());
  EXPECT_EQ(version(), 1u);
  EXPECT_TRUE(store_->createRoute(makeRoute("r", {"a"})).ok());
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

}  // namespace
}  // namespace fwd::controlplane::store
