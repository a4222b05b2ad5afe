// The official OpenAI Node SDK (npm "openai" 6.x, pinned in tests/sdk) against a real fwd
// cluster: chat, streaming, embeddings, a multipart upload, the model list, and the SDK's error
// classes. gpt-4o-mini is also configured by name so that GET /v1/models lists it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <tuple>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

std::string findNode() {
  for (const char* p : {"/usr/local/bin/node", "/usr/bin/node"}) {
    if (::access(p, X_OK) == 0) {
      return p;
    }
  }
  auto r = runCommand("/bin/sh", {"-c", "command -v node"});
  std::string path = r.stdout_text.substr(0, r.stdout_text.find('\n'));
  return r.exit_code == 0 ? path : "";
}

// Runs tests/sdk/SCRIPT against data plane dp1 of `cluster` with `key`: every check must pass.
void runSdkScript(FwdCluster& cluster, const std::string& key, const std::string& script) {
  std::string node = findNode();
  ASSERT_FALSE(node.empty()) << "node is not installed (deploy/install-deps.sh installs it)";
  std::filesystem::path sdk_dir = FWD_SDK_TEST_DIR;
  ASSERT_TRUE(std::filesystem::exists(sdk_dir / "node_modules" / "openai"))
      << "the OpenAI SDK is not installed: run `npm ci` in tests/sdk (deploy/test.sh does)";
  auto& http = cluster.dataPlane("dp1").http;
  std::string base = "http://127.0.0.1:" + std::to_string(http.port) + "/v1";
  auto r = runCommand(node, {(sdk_dir / script).string()},
                      {{"FWD_BASE_URL", base}, {"FWD_API_KEY", key}}, std::chrono::seconds(90));
  std::cout << r.stdout_text;
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find(" 0 failed"), std::string::npos) << r.stdout_text;
}

TEST(OpenAiSdkTest, NodeSdkWorksAgainstFwd) {
  // Every check in tests/sdk/sdk_test.mjs passes through fwd-dataplane.
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("sdk"));
  ASSERT_TRUE(cluster.startDataPlane("dp1"));
  auto add =
      cluster.fwdctl({"upstream", "add", "fake", "--base-url", cluster.upstream("sdk").baseUrl(),
                      "--model", "gpt-*", "--model", "gpt-4o-mini", "--model", "text-embedding-*",
                      "--model", "fake-status-5*", "--model", "/v1/audio/*"});
  ASSERT_EQ(add.exit_code, 0) << add.stderr_text;
  // The 429 check cools the upstream that answered it (Retry-After: 1 s), so it gets an upstream
  // entry of its own: the 5xx check right after must still reach an upstream.
  auto limited = cluster.fwdctl({"upstream", "add", "rate-limited", "--base-url",
                                 cluster.upstream("sdk").baseUrl(), "--model", "fake-status-4*"});
  ASSERT_EQ(limited.exit_code, 0) << limited.stderr_text;
  std::string key = cluster.createKey("sdk");
  ASSERT_TRUE(cluster.waitInSync());
  runSdkScript(cluster, key, "sdk_test.mjs");
}

TEST(OpenAiSdkTest, NodeSdkParsesEveryConvertedAnswer) {
  // Every check in tests/sdk/stream_mode_test.mjs: answers fwd converted between streamed and
  // not, both ways, with tool calls, usage, errors and a cut stream.
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("sdk"));
  ASSERT_TRUE(cluster.startDataPlane("dp1"));
  const std::string base_url = cluster.upstream("sdk").baseUrl();
  for (auto [name, model, mode] :
       {std::tuple{"streams", "gpt-s*", "stream"}, std::tuple{"plain", "gpt-j*", "non-stream"}}) {
    auto add = cluster.fwdctl(
        {"upstream", "add", name, "--base-url", base_url, "--model", model, "--stream-mode", mode});
    ASSERT_EQ(add.exit_code, 0) << add.stderr_text;
  }
  std::string key = cluster.createKey("sdk");
  ASSERT_TRUE(cluster.waitInSync());
  runSdkScript(cluster, key, "stream_mode_test.mjs");
}

TEST(OpenAiSdkTest, NodeSdkTalksToAzureThroughFwd) {
  // Every check in tests/sdk/azure_test.mjs: an OpenAI client, an Azure upstream.
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("az", {"--azure-api-key", "az-secret", "--azure-deployments",
                                           "gpt4o-prod=gpt-4o-2024-08-06,embed=text-embedding-3-"
                                           "small"}));
  ASSERT_TRUE(cluster.startDataPlane("dp1"));
  const std::string root =
      "http://127.0.0.1:" + std::to_string(cluster.upstream("az").endpoint.port);
  const std::vector<std::string> azure = {
      "--provider", "azure",     "--base-url",          root,
      "--api-key",  "az-secret", "--azure-api-version", "2024-10-21"};
  auto add = [&](std::vector<std::string> args) {
    args.insert(args.begin() + 3, azure.begin(), azure.end());
    auto r = cluster.fwdctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  };
  add({"upstream", "add", "azure", "--azure-deployment", "gpt-4o=gpt4o-prod", "--azure-deployment",
       "text-embedding-3-small=embed", "--model", "gpt-4o*", "--model", "text-embedding-*"});
  add({"upstream", "add", "azure-conv", "--azure-deployment", "conv-4o=gpt4o-prod", "--model",
       "conv-*", "--stream-mode", "stream"});
  std::string key = cluster.createKey("sdk");
  ASSERT_TRUE(cluster.waitInSync());
  runSdkScript(cluster, key, "azure_test.mjs");
}

TEST(OpenAiSdkTest, NodeSdkTalksToDashScopeThroughFwd) {
  // Every check in tests/sdk/dashscope_test.mjs: an OpenAI client, DashScope's native API.
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream(
      "ds", {"--dashscope-api-key", "ds-secret", "--models", "qwen-plus,qwen-max,conv-qwen"}));
  ASSERT_TRUE(cluster.startDataPlane("dp1"));
  const std::string base_url =
      "http://127.0.0.1:" + std::to_string(cluster.upstream("ds").endpoint.port) + "/api/v1";
  for (const auto& [name, model, mode] :
       {std::tuple{"dashscope", "qwen-*", "passthrough"}, {"dashscope-conv", "conv-*", "stream"}}) {
    auto r =
        cluster.fwdctl({"upstream", "add", name, "--provider", "dashscope", "--base-url", base_url,
                        "--api-key", "ds-secret", "--model", model, "--stream-mode", mode});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }
  std::string key = cluster.createKey("sdk");
  ASSERT_TRUE(cluster.waitInSync());
  runSdkScript(cluster, key, "dashscope_test.mjs");
}

TEST(OpenAiSdkTest, NodeSdkTalksToReplicateThroughFwd) {
  // Every check in tests/sdk/replicate_test.mjs: an OpenAI client, Replicate's predictions.
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("rep", {"--replicate-api-key", "r8_secret", "--models",
                                            "mistralai/mistral-7b-instruct-v0.2,conv/mistral"}));
  ASSERT_TRUE(cluster.startDataPlane("dp1"));
  const std::string base_url =
      "http://127.0.0.1:" + std::to_string(cluster.upstream("rep").endpoint.port) + "/v1";
  for (const auto& [name, model, mode] : {std::tuple{"replicate", "mistralai/*", "passthrough"},
                                          {"replicate-conv", "conv/*", "stream"},
                                          {"replicate-rest", "acme/*", "passthrough"}}) {
    auto r =
        cluster.fwdctl({"upstream", "add", name, "--provider", "replicate", "--base-url", base_url,
                        "--api-key", "r8_secret", "--model", model, "--stream-mode", mode});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }
  std::string key = cluster.createKey("sdk");
  ASSERT_TRUE(cluster.waitInSync());
  runSdkScript(cluster, key, "replicate_test.mjs");
}

}  // namespace
}  // namespace fwd::harness
