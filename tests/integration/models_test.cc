// GET /v1/models answered by fwd: the union of configured names and the lists upstreams report,
// kept current in the background, scoped by route prefix and filtered by the calling key.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using json = nlohmann::json;
using Ids = std::vector<std::string>;
using std::chrono::milliseconds;

constexpr auto kRefreshWait = std::chrono::seconds(10);

std::string describe(const Ids& ids) {
  std::string out = "[";
  for (const auto& id : ids) {
    out += (out.size() > 1 ? ", " : "") + id;
  }
  return out + "]";
}

class ModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("a", {"--models", "gpt-4o,gpt-4o-mini,claude-3"}));
    ASSERT_TRUE(cluster_.startUpstream("b", {"--models", "llama3,qwen2"}));
    ASSERT_TRUE(cluster_.startDataPlane("dp1", {}, {"--models-refresh", "200ms"}));
    fwdctl({"upstream", "add", "a", "--base-url", cluster_.upstream("a").baseUrl(), "--model",
            "gpt-*", "--model", "o1"});
    fwdctl({"upstream", "add", "b", "--base-url", cluster_.upstream("b").baseUrl(), "--model",
            "none-*"});
    fwdctl({"route", "add", "local", "--prefix", "/localai", "--upstream", "b"});
    fwdctl({"route", "add", "alias", "--model", "my-alias", "--upstream", "a", "--rewrite-model",
            "gpt-4o"});
    limited_ = cluster_.createKey("limited", {"gpt-*", "llama3", "my-*"});
    all_ = cluster_.createKey("all");
    ASSERT_TRUE(cluster_.waitInSync());
  }

  void fwdctl(std::vector<std::string> args) {
    auto r = cluster_.fwdctl(args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  Response get(const std::string& target, const std::string& key) {
    return cluster_.call("dp1", "GET", target, key);
  }

  // The ids GET <prefix>/v1/models lists for `key`, in order; {"!<status>"} on an error.
  Ids list(const std::string& key, const std::string& prefix = "") {
    Response r = get(prefix + "/v1/models", key);
    if (r.status != 200) {
      return {"!" + std::to_string(r.status)};
    }
    Ids ids;
    json body = json::parse(r.body);
    for (const auto& m : body["data"]) {
      ids.push_back(m["id"]);
    }
    return ids;
  }

  ::testing::AssertionResult waitForList(const std::string& key, const Ids& want,
                                         const std::string& prefix = "") {
    Ids last;
    auto waited = waitFor(
        [&] {
          last = list(key, prefix);
          return last == want;
        },
        kRefreshWait, prefix + "/v1/models to list " + describe(want));
    if (!waited) {
      waited << "; it lists " << describe(last);
    }
    return waited;
  }

  double fetches(const std::string& upstream, const std::string& outcome) {
    auto m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
    return metricValue(m.body, R"(fwd_upstream_model_fetches_total{outcome=")" + outcome +
                                   R"(",upstream=")" + upstream + R"("})");
  }

  void setModels(const std::string& upstream, const std::string& control) {
    auto r = httpRequest(cluster_.upstream(upstream).endpoint, "POST", "/_fake/models",
                         {{"Content-Type", "application/json"}}, control);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  FwdCluster cluster_;
  std::string limited_;
  std::string all_;
};

TEST_F(ModelsTest, TheListIsTheKeysShareOfConfiguredAndReportedModels) {
  // a's reported gpt-* models, its literal o1, the route alias; b's list only under /localai;
  // claude-3 (reported, but a does not serve it) never; the limited key sees its patterns only.
  ASSERT_TRUE(waitForList(all_, {"gpt-4o", "gpt-4o-mini", "my-alias", "o1"}));
  EXPECT_EQ(list(limited_), (Ids{"gpt-4o", "gpt-4o-mini", "my-alias"}));
  ASSERT_TRUE(waitForList(all_, {"llama3", "qwen2"}, "/localai"));
  EXPECT_EQ(list(limited_, "/localai"), (Ids{"llama3"}));

  Response r = get("/v1/models", all_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_FALSE(r.hasHeader("x-fwd-upstream"));  // fwd answered, no upstream did
  json body = json::parse(r.body);
  EXPECT_EQ(body["object"], "list");
  std::map<std::string, std::string> owners;
  for (const auto& m : body["data"]) {
    EXPECT_EQ(m["object"], "model");
    EXPECT_TRUE(m["created"].is_number_integer());
    owners[m["id"]] = m["owned_by"];
  }
  EXPECT_EQ(owners["gpt-4o"], "fake");   // what the upstream reported
  EXPECT_EQ(owners["o1"], "a");          // a configured name: the upstream's name
  EXPECT_EQ(owners["my-alias"], "fwd");  // a name only a route knows
}

TEST_F(ModelsTest, KeysAreCheckedAsForEveryOtherPath) {
  // No key or an unknown key: the usual 401s, before anything about models is said.
  EXPECT_EQ(get("/v1/models", "").status, 401);
  Response wrong = get("/v1/models", "sk-fwd-not-a-key");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(get("/v1/models/gpt-4o", "").status, 401);
}

TEST_F(ModelsTest, OneModelIsRetrievedAndHiddenOnesAre404LikeMissingOnes) {
  // GET /v1/models/{id}: the model object, or model_not_found for a model that does not exist
  // and, alike, for one the key may not use; a prefix has its own scope.
  ASSERT_TRUE(waitForList(all_, {"gpt-4o", "gpt-4o-mini", "my-alias", "o1"}));
  Response one = get("/v1/models/gpt-4o", limited_);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body)["id"], "gpt-4o");
  EXPECT_EQ(json::parse(one.body)["object"], "model");

  Response hidden = get("/v1/models/o1", limited_);
  Response missing = get("/v1/models/o2", limited_);
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(hidden.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(get("/v1/models/o1", all_).status, 200);

  EXPECT_EQ(get("/localai/v1/models/qwen2", all_).status, 200);
  EXPECT_EQ(get("/v1/models/qwen2", all_).status, 404);
}

TEST_F(ModelsTest, ARefreshPicksUpAChangedListAndAFailureKeepsTheLastGoodOne) {
  // The upstream's new list shows within a few refreshes; when it then fails, the data plane
  // counts the failure and keeps listing what it last got.
  ASSERT_TRUE(waitForList(all_, {"gpt-4o", "gpt-4o-mini", "my-alias", "o1"}));
  setModels("a", R"({"models":["gpt-5","gpt-4o"]})");
  ASSERT_TRUE(waitForList(all_, {"gpt-4o", "gpt-5", "my-alias", "o1"}));
  EXPECT_GE(fetches("a", "ok"), 2);

  setModels("a", R"({"status":503})");
  ASSERT_TRUE(waitFor([&] { return fetches("a", "http_error") >= 1; }, kRefreshWait,
                      "a failed model fetch of upstream a"));
  EXPECT_EQ(list(all_), (Ids{"gpt-4o", "gpt-5", "my-alias", "o1"}));
}

TEST_F(ModelsTest, AStalledModelFetchDoesNotHoldUpTraffic) {
  // An upstream whose /models hangs (fwd gives up after 10 s) still serves chat through fwd at
  // once, /v1/models answers at once, and other upstreams' lists keep refreshing meanwhile.
  ASSERT_TRUE(cluster_.startUpstream("slow", {"--models", "slow-1", "--models-stall-ms", "60000"}));
  fwdctl({"upstream", "add", "slow", "--base-url", cluster_.upstream("slow").baseUrl(), "--model",
          "slow-*"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto& slow = cluster_.upstream("slow");
  ASSERT_TRUE(waitFor(
      [&] {
        auto stats = httpRequest(slow.endpoint, "GET", "/_fake/stats");
        return stats.status == 200 && json::parse(stats.body)["requests"].get<int>() >= 1;
      },
      std::chrono::seconds(5), "fwd's model fetch to reach the stalling upstream"));

  auto start = std::chrono::steady_clock::now();
  Response chat = cluster_.call("dp1", "POST", "/v1/chat/completions", all_,
                                R"({"model":"slow-7"})", {}, milliseconds(2'000));
  ASSERT_EQ(chat.status, 200) << chat.error << chat.body;
  EXPECT_EQ(chat.header("x-fake-upstream"), "slow");
  EXPECT_EQ(list(all_), (Ids{"gpt-4o", "gpt-4o-mini", "my-alias", "o1"}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(3'000));  // fetch: 10 s

  setModels("a", R"({"models":["gpt-6"]})");
  EXPECT_TRUE(waitForList(all_, {"gpt-6", "my-alias", "o1"}));
}

class ModelsTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/openssl", X_OK) != 0) {
      GTEST_FAIL() << "the openssl CLI is needed to make test certificates "
                      "(deploy/install-deps.sh installs it)";
    }
    makeCert("good", "IP:127.0.0.1");
    makeCert("wrong-name", "DNS:api.example.com");
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("good", {"--tls-cert", dir_.file("good.pem"), "--tls-key",
                                                dir_.file("good.key"), "--models", "good-1"}));
    ASSERT_TRUE(cluster_.startUpstream("wrong-name",
                                       {"--tls-cert", dir_.file("wrong-name.pem"), "--tls-key",
                                        dir_.file("wrong-name.key"), "--models", "lax-1"}));
    std::string bundle = dir_.file("bundle.pem");
    ASSERT_EQ(runCommand("/bin/sh", {"-c", "cat " + dir_.file("good.pem") + " " +
                                               dir_.file("wrong-name.pem") + " > " + bundle})
                  .exit_code,
              0);
    ASSERT_TRUE(
        cluster_.startDataPlane("dp1", {{"SSL_CERT_FILE", bundle}}, {"--models-refresh", "200ms"}));
    key_ = cluster_.createKey("k");
  }

  void makeCert(const std::string& name, const std::string& san) {
    auto r = runCommand("/usr/bin/openssl",
                        {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                         "/CN=fwd-test-" + name, "-addext", "subjectAltName=" + san, "-keyout",
                         dir_.file(name + ".key"), "-out", dir_.file(name + ".pem")});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  TempDir dir_{"fwd-models-tls"};
  FwdCluster cluster_;
  std::string key_;
};

TEST_F(ModelsTlsTest, HttpsListsAreFetchedWithVerificationUnlessTheUpstreamSkipsIt) {
  // A verified upstream's list arrives; a certificate naming another host is refused (counted
  // as connect) unless the upstream has --insecure-skip-verify.
  auto add = [&](std::vector<std::string> args) {
    auto r = cluster_.fwdctl(args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  };
  add({"upstream", "add", "verified", "--base-url", cluster_.upstream("good").baseUrl(), "--model",
       "good-*"});
  add({"upstream", "add", "strict", "--base-url", cluster_.upstream("wrong-name").baseUrl(),
       "--model", "strict-*"});
  add({"upstream", "add", "lax", "--base-url", cluster_.upstream("wrong-name").baseUrl(), "--model",
       "lax-*", "--insecure-skip-verify"});
  ASSERT_TRUE(cluster_.waitInSync());
  Ids last;
  EXPECT_TRUE(waitFor(
      [&] {
        Response r = cluster_.call("dp1", "GET", "/v1/models", key_);
        last.clear();
        if (r.status == 200) {
          json body = json::parse(r.body);
          for (const auto& m : body["data"]) {
            last.push_back(m["id"]);
          }
        }
        return last == Ids{"good-1", "lax-1"};
      },
      kRefreshWait, "the lists of the verified and the lax upstream"))
      << describe(last);
  auto m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
  EXPECT_GE(metricValue(m.body,
                        R"(fwd_upstream_model_fetches_total{outcome="connect",upstream="strict"})"),
            1)
      << m.body;
}

}  // namespace
}  // namespace fwd::harness
