#include "dataplane/config/compiled_config.h"

#include <gtest/gtest.h>

#include <map>

#include "common/crypto/token.h"

namespace fwd::dataplane::config {
namespace {

EnvLookup fakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

fwd::v1::Upstream* addUpstream(fwd::v1::Snapshot& s, const std::string& name,
                               const std::string& url, std::vector<std::string> models,
                               int priority = 0, uint64_t id = 0) {
  auto* u = s.add_upstreams();
  u->set_name(name);
  u->set_base_url(url);
  for (auto& m : models) {
    u->add_models(m);
  }
  u->set_priority(priority);
  u->set_id(id);
  return u;
}

std::vector<std::string> names(const CompiledConfig& c, std::string_view model) {
  CandidateList out;
  c.candidates(model, out);
  std::vector<std::string> n;
  for (auto* t : out) {
    n.push_back(t->name);
  }
  return n;
}

TEST(CompiledConfigTest, ParsesUrlsIntoConnectTargets) {
  // Scheme, host, port, Host header and base path come out right for each URL form.
  fwd::v1::Snapshot s;
  s.set_version(7);
  addUpstream(s, "a", "http://127.0.0.1:8080/v1/", {"*"}, 0, 1);
  addUpstream(s, "b", "https://api.openai.com/v1", {"*"}, 0, 2);
  addUpstream(s, "c", "http://[::1]:9000", {"*"}, 0, 3);
  auto c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->version(), 7u);
  const auto& u = (*c)->upstreams();
  ASSERT_EQ(u.size(), 3u);
  EXPECT_FALSE(u[0].tls);
  EXPECT_EQ(u[0].host, "127.0.0.1");
  EXPECT_EQ(u[0].port, "8080");
  EXPECT_EQ(u[0].host_header, "127.0.0.1:8080");
  EXPECT_EQ(u[0].base_path, "/v1");
  EXPECT_TRUE(u[1].tls);
  EXPECT_EQ(u[1].port, "443");
  EXPECT_EQ(u[1].host_header, "api.openai.com");
  EXPECT_EQ(u[2].host, "::1");
  EXPECT_EQ(u[2].host_header, "[::1]:9000");
  EXPECT_EQ(u[2].base_path, "");
  EXPECT_NE(u[0].pool_key, u[1].pool_key);
}

TEST(CompiledConfigTest, CandidatesFollowPriorityThenCreationOrder) {
  // Lower priority first; equal priority keeps creation (id) order; patterns filter.
  fwd::v1::Snapshot s;
  addUpstream(s, "late", "http://h1/v1", {"gpt-*"}, 0, 5);
  addUpstream(s, "backup", "http://h2/v1", {"*"}, 10, 1);
  addUpstream(s, "early", "http://h3/v1", {"gpt-4o", "/v1/audio/*"}, 0, 2);
  auto c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(names(**c, "gpt-4o"), (std::vector<std::string>{"early", "late", "backup"}));
  EXPECT_EQ(names(**c, "gpt-3.5"), (std::vector<std::string>{"late", "backup"}));
  EXPECT_EQ(names(**c, "/v1/audio/transcriptions"), (std::vector<std::string>{"early", "backup"}));
  EXPECT_EQ(names(**c, "llama"), (std::vector<std::string>{"backup"}));
}

TEST(CompiledConfigTest, ResolvesCredentialsFromStoreOrEnvironment) {
  // A stored key and an env reference both become the Authorization sent upstream.
  fwd::v1::Snapshot s;
  addUpstream(s, "stored", "http://h/v1", {"*"})->set_api_key("sk-stored");
  addUpstream(s, "env", "http://h/v1", {"*"})->set_api_key_env("OPENAI_KEY");
  addUpstream(s, "none", "http://h/v1", {"*"});
  auto c = CompiledConfig::compile(s, fakeEnv({{"OPENAI_KEY", "sk-env"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->upstreams()[0].credential, "Bearer sk-stored");
  EXPECT_EQ((*c)->upstreams()[1].credential, "Bearer sk-env");
  EXPECT_EQ((*c)->upstreams()[2].credential, "");
}

TEST(CompiledConfigTest, MissingEnvironmentVariableRejectsTheSnapshot) {
  // The case the control plane cannot check: the NACK reason names upstream and variable.
  fwd::v1::Snapshot s;
  addUpstream(s, "openai", "https://api.openai.com/v1", {"*"})->set_api_key_env("NOPE_KEY");
  auto c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_NE(msg.find("openai"), std::string::npos) << msg;
  EXPECT_NE(msg.find("NOPE_KEY"), std::string::npos) << msg;
}

TEST(CompiledConfigTest, RejectsMalformedSnapshots) {
  // Each malformed object is an error, never a half-applied config.
  auto reject = [](auto mutate) {
    fwd::v1::Snapshot s;
    mutate(s);
    return !CompiledConfig::compile(s, fakeEnv({})).ok();
  };
  EXPECT_TRUE(reject([](auto& s) { addUpstream(s, "x", "ftp://h/v1", {"*"}); }));
  EXPECT_TRUE(reject([](auto& s) { addUpstream(s, "x", "not a url", {"*"}); }));
  EXPECT_TRUE(reject([](auto& s) { addUpstream(s, "", "http://h", {"*"}); }));
  EXPECT_TRUE(reject([](auto& s) { addUpstream(s, "x", "http://h", {"bad pattern"}); }));
  EXPECT_TRUE(reject([](auto& s) {
    addUpstream(s, "x", "http://h", {"*"});
    addUpstream(s, "x", "http://h2", {"*"});
  }));
  EXPECT_TRUE(
      reject([](auto& s) { addUpstream(s, "x", "http://h", {"*"})->set_api_key("a\r\nb"); }));
  EXPECT_TRUE(reject([](auto& s) {
    auto* k = s.add_keys();
    k->set_name("k");
    k->set_secret_sha256("abc");
  }));
}

fwd::v1::Route* addRoute(fwd::v1::Snapshot& s, const std::string& name,
                         std::vector<std::string> upstreams, int priority = 0, uint64_t id = 0) {
  auto* r = s.add_routes();
  r->set_name(name);
  for (auto& u : upstreams) {
    r->add_upstreams(u);
  }
  r->set_priority(priority);
  r->set_id(id);
  return r;
}

TEST(CompiledConfigTest, RoutesMatchByPrefixThenPriorityThenSpecificity) {
  // Lower priority wins; at equal priority exact > keyword > glob > any; prefixes must be equal.
  fwd::v1::Snapshot s;
  addUpstream(s, "u1", "http://h1/v1", {"*"}, 0, 1);
  addUpstream(s, "u2", "http://h2/v1", {"*"}, 0, 2);
  addRoute(s, "glob", {"u1"}, 0, 1)->add_models()->set_glob("claude-*");
  addRoute(s, "keyword", {"u1"}, 0, 2)->add_models()->set_keyword("claude");
  addRoute(s, "exact", {"u2", "u1"}, 0, 3)->add_models()->set_exact("claude-3");
  addRoute(s, "local", {"u2"}, 5, 4)->set_path_prefix("/localai");
  auto c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  auto name = [&](std::string_view prefix, std::string_view model) {
    const CompiledRoute* r = (*c)->matchRoute(prefix, model);
    return r == nullptr ? std::string("-") : r->name;
  };
  EXPECT_EQ(name("", "claude-3"), "exact");
  EXPECT_EQ(name("", "claude-2"), "keyword");
  EXPECT_EQ(name("", "my-claude"), "keyword");
  EXPECT_EQ(name("", "gpt-4o"), "-");
  EXPECT_EQ(name("/localai", "anything"), "local");
  EXPECT_EQ(name("/other", "claude-3"), "-");
  EXPECT_TRUE((*c)->hasPrefix("/localai"));
  EXPECT_FALSE((*c)->hasPrefix("/other"));
  const CompiledRoute* exact = (*c)->matchRoute("", "claude-3");
  ASSERT_EQ(exact->upstreams.size(), 2u);
  EXPECT_EQ(exact->upstreams[0]->name, "u2");
  EXPECT_EQ(exact->upstreams[1]->name, "u1");
}

TEST(CompiledConfigTest, LogBodiesComesWithEveryRouteAndKey) {
  // Set on a route without limits too (it was once compiled only with a route's limits).
  fwd::v1::Snapshot s;
  addUpstream(s, "u1", "http://h1/v1", {"*"}, 0, 1);
  addRoute(s, "plain", {"u1"}, 0, 1)->set_path_prefix("/plain");
  fwd::v1::Route* logged = addRoute(s, "logged", {"u1"}, 0, 2);
  logged->set_path_prefix("/logged");
  logged->set_log_bodies(true);
  fwd::v1::Key* k = s.add_keys();
  k->set_name("audited");
  k->set_secret_sha256(common::crypto::sha256Hex("fwd-audited"));
  k->set_id(7);
  k->set_log_bodies(true);
  auto c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE((*c)->matchRoute("/logged", "m")->log_bodies);
  EXPECT_FALSE((*c)->matchRoute("/plain", "m")->log_bodies);
  const KeyEntry* key = (*c)->findKey("fwd-audited");
  ASSERT_NE(key, nullptr);
  EXPECT_TRUE(key->log_bodies);
}

TEST(CompiledConfigTest, RedisComesFromTheUrlOrTheVariableOnThisHost) {
  fwd::v1::Snapshot s;
  auto c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE((*c)->redis().enabled);

  s.mutable_settings()->set_redis_url("redis://:pw@10.0.0.5:6380/2");
  c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->redis().endpoint.has_value());
  EXPECT_EQ((*c)->redis().endpoint->host, "10.0.0.5");
  EXPECT_EQ((*c)->redis().endpoint->password, "pw");
  EXPECT_EQ((*c)->redis().endpoint->db, 2);

  // The variable beats the URL; unset on this host, limits are served as while Redis is down.
  s.mutable_settings()->set_redis_url_env("FWD_REDIS_URL");
  c = CompiledConfig::compile(s, fakeEnv({{"FWD_REDIS_URL", "redis://cache:7000"}}));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->redis().endpoint.has_value());
  EXPECT_EQ((*c)->redis().endpoint->host, "cache");
  EXPECT_EQ((*c)->redis().endpoint->port, "7000");
  c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->redis().enabled);
  EXPECT_FALSE((*c)->redis().endpoint.has_value());
  EXPECT_EQ((*c)->redis().problem,
            "redis_url_env names FWD_REDIS_URL, which is not set on this host");
  c = CompiledConfig::compile(s, fakeEnv({{"FWD_REDIS_URL", "http://:pw@cache"}}));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE((*c)->redis().endpoint.has_value());
  EXPECT_EQ((*c)->redis().problem.find("pw"), std::string::npos);
}

TEST(CompiledConfigTest, ARouteToAnUnknownUpstreamRejectsTheSnapshot) {
  // A route must name upstreams of the same snapshot; otherwise the data plane NACKs.
  fwd::v1::Snapshot s;
  addUpstream(s, "u1", "http://h1/v1", {"*"});
  addRoute(s, "r", {"u1", "ghost"})->add_models()->set_exact("m");
  auto c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("ghost"), std::string::npos);
}

TEST(CompiledConfigTest, FindsKeysByHashAndAppliesModelPatterns) {
  // The right secret finds its key; a near-miss or another key's hash does not.
  fwd::v1::Snapshot s;
  auto* k = s.add_keys();
  k->set_name("alice");
  k->set_secret_sha256(common::crypto::sha256Hex("fwd-secret-1"));
  k->add_models("gpt-*");
  auto c = CompiledConfig::compile(s, fakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  const KeyEntry* key = (*c)->findKey("fwd-secret-1");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->name, "alice");
  EXPECT_EQ((*c)->findKey("fwd-secret-2"), nullptr);
  EXPECT_EQ((*c)->findKey(""), nullptr);
  EXPECT_TRUE(modelAllowed(key->models, "gpt-4o"));
  EXPECT_FALSE(modelAllowed(key->models, "claude-3"));
  EXPECT_TRUE(modelAllowed({}, "anything"));
}

TEST(CompiledConfigTest, AKeyMemoAnswersAsFindKeyDoesAcrossSecretsAndSnapshots) {
  // A connection's memo must never answer with a key the snapshot in use would not: another
  // secret (even of the same length, right after a hit), a snapshot that dropped the key, or a
  // snapshot whose entry for the same secret is a different object.
  auto snapshot = [](std::vector<std::pair<std::string, std::string>> keys) {
    fwd::v1::Snapshot s;
    for (const auto& [name, secret] : keys) {
      auto* k = s.add_keys();
      k->set_name(name);
      k->set_secret_sha256(common::crypto::sha256Hex(secret));
    }
    auto c = CompiledConfig::compile(s, fakeEnv({}));
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  };
  CompiledConfigConstSharedPtr v1 = snapshot({{"alice", "fwd-secret-1"}, {"bob", "fwd-secret-2"}});
  KeyMemo memo;
  const KeyEntry* alice = memo.find(v1, "fwd-secret-1");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(memo.find(v1, "fwd-secret-1"), alice);
  EXPECT_EQ(memo.find(v1, "fwd-secret-3"), nullptr);  // same length, not a key
  EXPECT_EQ(memo.find(v1, "fwd-secret-1"), alice);
  EXPECT_EQ(memo.find(v1, "fwd-secret-2")->name, "bob");
  EXPECT_EQ(memo.find(v1, "fwd-secret-1x"), nullptr);
  EXPECT_EQ(memo.find(v1, ""), nullptr);

  // The key is revoked in the next snapshot: the remembered match must not survive it.
  ASSERT_EQ(memo.find(v1, "fwd-secret-1"), alice);
  CompiledConfigConstSharedPtr v2 = snapshot({{"bob", "fwd-secret-2"}});
  EXPECT_EQ(memo.find(v2, "fwd-secret-1"), nullptr);

  // Restored under a new name: the answer is the new snapshot's entry, not the old one.
  CompiledConfigConstSharedPtr v3 = snapshot({{"alice-2", "fwd-secret-1"}});
  const KeyEntry* again = memo.find(v3, "fwd-secret-1");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again, v3->findKey("fwd-secret-1"));
  EXPECT_EQ(again->name, "alice-2");

  // A secret longer than the memo holds is still found, every time.
  std::string long_secret = "fwd-" + std::string(KeyMemo::kMaxSecret, 'z');
  CompiledConfigConstSharedPtr v4 = snapshot({{"long", long_secret}});
  EXPECT_EQ(memo.find(v4, long_secret)->name, "long");
  EXPECT_EQ(memo.find(v4, long_secret)->name, "long");
  EXPECT_EQ(memo.find(v4, "fwd-secret-1"), nullptr);
}

}  // namespace
}  // namespace fwd::dataplane::config

namespace fwd::dataplane::config {
namespace {

TEST(CompiledConfigKeysTest, APreviousSecretWorksUntilItsGracePeriodEnds) {
  // After a rotation with grace both secrets authenticate the key; the old one only until its
  // expiry, and the connection memo never keeps it past that.
  fwd::v1::Snapshot s;
  auto* k = s.add_keys();
  k->set_name("team-a");
  k->set_secret_sha256(common::crypto::sha256Hex("fwd-new"));
  k->set_previous_secret_sha256(common::crypto::sha256Hex("fwd-old"));
  k->mutable_previous_secret_expire_time()->set_seconds(2'000'000'000);
  auto c = CompiledConfig::compile(s, [](const std::string&) { return std::nullopt; });
  ASSERT_TRUE(c.ok()) << c.status();
  const auto before = std::chrono::system_clock::time_point(std::chrono::seconds(1'999'999'999));
  const auto after = std::chrono::system_clock::time_point(std::chrono::seconds(2'000'000'000));
  KeyLookup current = (*c)->lookupKey("fwd-new", after);
  ASSERT_NE(current.key, nullptr);
  EXPECT_FALSE(current.previous);
  KeyLookup old = (*c)->lookupKey("fwd-old", before);
  ASSERT_NE(old.key, nullptr);
  EXPECT_EQ(old.key->name, "team-a");
  EXPECT_TRUE(old.previous);
  EXPECT_EQ((*c)->lookupKey("fwd-old", after).key, nullptr);
  EXPECT_EQ((*c)->lookupKey("fwd-other", before).key, nullptr);

  // A malformed previous hash rejects the snapshot.
  k->set_previous_secret_sha256("xyz");
  auto bad = CompiledConfig::compile(s, [](const std::string&) { return std::nullopt; });
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace fwd::dataplane::config
