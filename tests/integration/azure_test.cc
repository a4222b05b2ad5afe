// Azure OpenAI upstreams (fwdctl upstream add --provider azure) with the real binaries against
// tests/fakes in Azure mode (fake_azure.h): the classic deployment paths with api-version and
// api-key, the v1 path, Azure's errors as OpenAI errors, failover past an Azure 5xx, stream
// conversion over Azure's stream, and health checks on Azure's paths.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace azure_test {

using Json = nlohmann::json;

constexpr char kKey[] = "az-secret";
constexpr char kChat[] = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStreamChat[] =
    R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]})";

class AzureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream(
        "az", {"--azure-api-key", kKey, "--azure-deployments",
               "gpt4o-prod=gpt-4o-2024-08-06,embed=text-embedding-3-small"}));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    key_ = cluster_.createKey("team");
    ASSERT_FALSE(key_.empty());
  }

  // The fake's root URL: Azure's resource endpoint, https://RESOURCE.openai.azure.com.
  std::string root() {
    return "http://127.0.0.1:" + std::to_string(cluster_.upstream("az").endpoint.port);
  }

  void fwdctlOk(std::vector<std::string> args) {
    auto r = cluster_.fwdctl(std::move(args));
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  void addClassic(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"upstream",
                                     "add",
                                     "azure",
                                     "--provider",
                                     "azure",
                                     "--base-url",
                                     root(),
                                     "--api-key",
                                     kKey,
                                     "--azure-deployment",
                                     "gpt-4o=gpt4o-prod",
                                     "--azure-deployment",
                                     "text-embedding-3-small=embed",
                                     "--azure-api-version",
                                     "2024-10-21",
                                     "--model",
                                     "gpt-*",
                                     "--model",
                                     "text-embedding-*"};
    args.insert(args.end(), more.begin(), more.end());
    fwdctlOk(args);
  }

  Response post(const std::string& path, const std::string& body, Headers headers = {}) {
    return cluster_.call("dp1", "POST", path, key_, body, headers);
  }

  static Json errorOf(const Response& r) {
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"] : Json();
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(AzureTest, ClassicApiGoesToTheDeploymentWithApiVersionAndApiKey) {
  addClassic();
  ASSERT_TRUE(cluster_.waitInSync());
  // The client's own api-key and api-version never reach Azure: fwd sends the upstream's.
  Response r =
      post("/v1/chat/completions?api-version=1999-01-01", kChat, {{"api-key", "client-key"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-path"),
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
  EXPECT_EQ(r.header("x-fake-authorization"), "");  // no bearer token: the api-key field
  Json a = Json::parse(r.body);
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["model"], "gpt-4o-2024-08-06");  // Azure reports the deployment's model
  EXPECT_EQ(a["choices"][0]["message"]["content"], "Hello from az");

  // A stream passes through as Azure sends it: its prompt-filter event first.
  Response s = post("/v1/chat/completions", kStreamChat);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.body.find("\"prompt_filter_results\""), std::string::npos) << s.body;
  EXPECT_NE(s.body.find("data: [DONE]"), std::string::npos);

  Response e = post("/v1/embeddings", R"({"model":"text-embedding-3-small","input":"x"})");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.header("x-fake-path"), "/openai/deployments/embed/embeddings?api-version=2024-10-21");
}

TEST_F(AzureTest, AzureErrorsReachTheClientAsOpenAiErrors) {
  addClassic();
  ASSERT_TRUE(cluster_.waitInSync());
  Response filtered =
      post("/v1/chat/completions",
           R"({"model":"gpt-4o","messages":[{"role":"user","content":"FILTER_ME please"}]})");
  ASSERT_EQ(filtered.status, 400) << filtered.body;
  Json f = errorOf(filtered);
  EXPECT_EQ(f["type"], "invalid_request_error");
  EXPECT_EQ(f["code"], "content_filter");
  EXPECT_EQ(f["param"], "prompt");
  EXPECT_NE(f["message"].get<std::string>().find("content management policy"), std::string::npos);

  // gpt-35 has no map entry: it goes to a deployment of its name, which Azure does not have.
  Response missing = post("/v1/chat/completions",
                          R"({"model":"gpt-35","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(errorOf(missing)["type"], "not_found_error");
  EXPECT_EQ(errorOf(missing)["code"], "DeploymentNotFound");
  EXPECT_TRUE(errorOf(missing)["param"].is_null());

  // Last: Azure's Retry-After cools the upstream for a second.
  Response limited = post("/v1/chat/completions", kChat, {{"x-fake-status", "429"}});
  ASSERT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(errorOf(limited)["code"], "rate_limit_exceeded");
  EXPECT_EQ(errorOf(limited)["type"], "requests");
  EXPECT_NE(errorOf(limited)["message"].get<std::string>().find("exceeded token rate limit"),
            std::string::npos);
  EXPECT_EQ(limited.header("retry-after"), "1");
}

TEST_F(AzureTest, AWrongKeyIsAnAuthenticationError) {
  addClassic();
  ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "update", "azure", "--api-key", "wrong"}));
  Response denied = post("/v1/chat/completions", kChat);
  ASSERT_EQ(denied.status, 401) << denied.body;
  EXPECT_EQ(errorOf(denied)["type"], "authentication_error");
  EXPECT_EQ(errorOf(denied)["code"], "invalid_api_key");
  EXPECT_NE(errorOf(denied)["message"].get<std::string>().find("Access denied"), std::string::npos);
}

TEST_F(AzureTest, AnAzure5xxFailsOverAndACutStreamEndsWithAnErrorEvent) {
  addClassic({"--priority", "0"});
  ASSERT_TRUE(cluster_.waitInSync());
  Response r = post("/v1/chat/completions", kChat, {{"x-fake-status", "500"}});
  // A 5xx is not rewritten: it is a failed attempt, and fwd's 502 says what Azure said.
  ASSERT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("upstream azure returned 500: The server had an error while processing "
                        "your request"),
            std::string::npos)
      << r.body;

  ASSERT_TRUE(cluster_.startUpstream("backup"));
  fwdctlOk({"upstream", "add", "backup", "--base-url", cluster_.upstream("backup").baseUrl(),
            "--model", "gpt-*", "--priority", "1"});
  ASSERT_TRUE(cluster_.waitInSync());

  const Endpoint& az = cluster_.upstream("az").endpoint;
  Response ok = httpRequest(az, "POST", "/_fake/fail-status?status=503");
  ASSERT_EQ(ok.status, 200) << ok.body;
  Response over = post("/v1/chat/completions", kChat);
  ASSERT_EQ(over.status, 200) << over.body;
  EXPECT_EQ(over.header("x-fwd-upstream"), "backup");
  ASSERT_EQ(httpRequest(az, "POST", "/_fake/fail-status?status=0").status, 200);

  Response cut = post("/v1/chat/completions", kStreamChat, {{"x-fake-cut-after", "2"}});
  ASSERT_EQ(cut.status, 200);
  EXPECT_EQ(cut.header("x-fwd-upstream"), "azure");
  EXPECT_NE(cut.body.find("\"error\""), std::string::npos) << cut.body;
  EXPECT_EQ(cut.body.find("[DONE]"), std::string::npos) << cut.body;
}

TEST_F(AzureTest, V1ApiKeepsThePathAndTheModelNamesTheDeployment) {
  fwdctlOk({"upstream", "add", "azure-v1", "--provider", "azure", "--base-url",
            root() + "/openai/v1", "--api-key", kKey, "--model", "gpt4o-prod"});
  ASSERT_TRUE(cluster_.waitInSync());
  constexpr char kDeploymentChat[] =
      R"({"model":"gpt4o-prod","messages":[{"role":"user","content":"hi"}]})";
  Response r = post("/v1/chat/completions", kDeploymentChat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-path"), "/openai/v1/chat/completions");
  EXPECT_EQ(Json::parse(r.body)["model"], "gpt-4o-2024-08-06");

  ASSERT_TRUE(
      cluster_.fwdctlInSync({"upstream", "update", "azure-v1", "--azure-api-version", "preview"}));
  r = post("/v1/chat/completions", kDeploymentChat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-path"), "/openai/v1/chat/completions?api-version=preview");

  // A classic-only option on the v1 shape is refused with the reason.
  auto bad = cluster_.fwdctl({"upstream", "update", "azure-v1", "--azure-deployment", "a=b"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.stderr_text.find("takes the deployment name as the model"), std::string::npos)
      << bad.stderr_text;
}

TEST_F(AzureTest, StreamConversionReadsAzureStreams) {
  addClassic({"--stream-mode", "stream"});
  ASSERT_TRUE(cluster_.waitInSync());
  // Azure's stream opens with an event without choices, id or model: the assembled answer takes
  // them from the chunks.
  Response r = post("/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  Json a = Json::parse(r.body);
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["model"], "gpt-4o-2024-08-06");
  EXPECT_FALSE(a["id"].get<std::string>().empty());
  EXPECT_EQ(a["choices"][0]["message"]["content"], "Hello from az t3 t4");
  EXPECT_EQ(a["usage"]["completion_tokens"], 5);

  r = post("/v1/chat/completions", kChat, {{"x-fake-tool-calls", "1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  Json call = Json::parse(r.body)["choices"][0]["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(Json::parse(call["function"]["arguments"].get<std::string>())["city"], "Paris");

  // The other way: Azure answers in one piece, the streaming client gets events.
  ASSERT_TRUE(
      cluster_.fwdctlInSync({"upstream", "update", "azure", "--stream-mode", "non-stream"}));
  Response s = post("/v1/chat/completions", kStreamChat);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.header("content-type").substr(0, 17), "text/event-stream");
  EXPECT_NE(s.body.find("\"chat.completion.chunk\""), std::string::npos);
  EXPECT_NE(s.body.find("data: [DONE]"), std::string::npos);
}

TEST_F(AzureTest, HealthChecksProbeAzurePathsWithTheApiKey) {
  addClassic({"--health-check-interval", "1s", "--health-check-timeout", "500ms",
              "--unhealthy-threshold", "1"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto checks = [&](const std::string& outcome) {
    return metricValue(
        httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics").body,
        "fwd_upstream_health_checks_total{outcome=\"" + outcome + "\",upstream=\"azure\"}");
  };
  // GET /openai/models?api-version=... with the api-key: Azure answers 200.
  EXPECT_TRUE(waitFor([&] { return checks("ok") >= 1; }, std::chrono::seconds(10), "probes ok"));
  EXPECT_LE(checks("http_4xx"), 0);  // -1: no such series yet
  ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "update", "azure", "--api-key", "wrong"}));
  EXPECT_TRUE(waitFor([&] { return checks("http_4xx") >= 1; }, std::chrono::seconds(10),
                      "a probe with the wrong key fails"));
}

}  // namespace azure_test
}  // namespace fwd::harness
