// DashScope's native API (fwdctl upstream add --provider dashscope) with the real binaries
// against tests/fakes in DashScope mode (fake_dashscope.h): chat requests translated to
// text-generation requests, answers and streams (X-DashScope-SSE, incremental output) back to
// OpenAI's shapes with tool calls and usage, DashScope's error codes as OpenAI errors, parameters
// it cannot express refused by name, failover past its 5xx, a cut stream, stream conversion on
// top of the translation, and tokens counted from DashScope's usage.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace dashscope_test {

using Json = nlohmann::json;

constexpr char kKey[] = "ds-secret";
constexpr char kChat[] = R"({"model":"qwen-plus","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStreamChat[] =
    R"({"model":"qwen-plus","stream":true,"messages":[{"role":"user","content":"hi"}]})";

class DashScopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream(
        "ds", {"--dashscope-api-key", kKey, "--models", "qwen-plus,qwen-max"}));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    key_ = cluster_.createKey("team");
    ASSERT_FALSE(key_.empty());
  }

  // DashScope's base URL, https://dashscope.aliyuncs.com/api/v1 in production.
  std::string baseUrl() {
    return "http://127.0.0.1:" + std::to_string(cluster_.upstream("ds").endpoint.port) + "/api/v1";
  }

  void addDashScope(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"upstream",  "add",        "dashscope", "--provider",
                                     "dashscope", "--base-url", baseUrl(),   "--api-key",
                                     kKey,        "--model",    "qwen-*"};
    args.insert(args.end(), more.begin(), more.end());
    auto r = cluster_.fwdctl(args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  Response post(const std::string& path, const std::string& body, Headers headers = {}) {
    return cluster_.call("dp1", "POST", path, key_, body, headers);
  }

  static Json errorOf(const Response& r) {
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"] : Json();
  }

  // The data of each event of an SSE body, [DONE] included.
  static std::vector<std::string> events(const std::string& body) { return sseData(body); }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(DashScopeTest, AChatRequestIsTranslatedBothWays) {
  addDashScope();
  ASSERT_TRUE(cluster_.waitInSync());
  Response r = post("/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fake-path"), "/api/v1/services/aigc/text-generation/generation");
  EXPECT_EQ(r.header("x-fake-authorization"), std::string("Bearer ") + kKey);
  Json a = Json::parse(r.body);
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["model"], "qwen-plus");
  EXPECT_EQ(a["id"].get<std::string>().rfind("chatcmpl-ds-req-", 0), 0u) << a["id"];
  EXPECT_EQ(a["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(a["choices"][0]["message"]["content"], "Hello from ds");
  EXPECT_EQ(a["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(a["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(a["usage"]["completion_tokens"], 3);
  EXPECT_EQ(a["usage"]["total_tokens"], 13);

  Response t = post("/v1/chat/completions", kChat, {{"x-fake-tool-calls", "1"}});
  ASSERT_EQ(t.status, 200) << t.body;
  Json call = Json::parse(t.body)["choices"][0]["message"]["tool_calls"][0];
  EXPECT_EQ(call["id"], "call_fake");
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(Json::parse(t.body)["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(DashScopeTest, AStreamArrivesAsChunkEventsWithUsageWhenAsked) {
  addDashScope();
  ASSERT_TRUE(cluster_.waitInSync());
  Response s = post("/v1/chat/completions",
                    R"({"model":"qwen-plus","stream":true,"stream_options":{"include_usage":true},)"
                    R"("messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.header("content-type").substr(0, 17), "text/event-stream");
  std::vector<std::string> e = events(s.body);
  ASSERT_EQ(e.size(), 7u) << s.body;  // five chunks, the usage chunk, [DONE]
  std::string content;
  for (size_t i = 0; i < 5; ++i) {
    Json c = Json::parse(e[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    content += c["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(content, "Hello from ds t3 t4");  // incremental output: deltas, not the text so far
  EXPECT_EQ(Json::parse(e[0])["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(Json::parse(e[4])["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(Json::parse(e[5])["usage"]["completion_tokens"], 5);
  EXPECT_EQ(e[6], "[DONE]");

  // Tool call deltas: the id and name once, then argument pieces.
  Response t = post("/v1/chat/completions", kStreamChat, {{"x-fake-tool-calls", "1"}});
  ASSERT_EQ(t.status, 200) << t.body;
  std::string arguments;
  for (const std::string& data : events(t.body)) {
    if (data == "[DONE]") {
      continue;
    }
    Json c = Json::parse(data);
    if (c["choices"][0]["delta"].contains("tool_calls")) {
      arguments += c["choices"][0]["delta"]["tool_calls"][0]["function"].value("arguments", "");
    }
  }
  EXPECT_EQ(Json::parse(arguments)["city"], "Paris");

  // Tokens counted from DashScope's usage although this client asked for no usage chunk (the
  // worker counts them after the answer went out: wait for it).
  auto metric = [&](const std::string& series) {
    return metricValue(httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics").body,
                       series);
  };
  EXPECT_TRUE(waitFor(
      [&] {
        return metric(
                   R"(fwd_tokens_total{model="qwen-plus",upstream="dashscope",kind="completion"})") ==
               5 + 5;
      },
      std::chrono::seconds(5), "both streams' completion tokens"));
  EXPECT_EQ(metric(R"(fwd_usage_estimated_requests_total{model="qwen-plus",upstream="dashscope"})"),
            0);
}

TEST_F(DashScopeTest, DashScopeErrorsAndRefusedParametersAreOpenAiErrors) {
  addDashScope();
  ASSERT_TRUE(cluster_.waitInSync());
  Response filtered =
      post("/v1/chat/completions",
           R"({"model":"qwen-plus","messages":[{"role":"user","content":"FILTER_ME"}]})");
  ASSERT_EQ(filtered.status, 400) << filtered.body;
  EXPECT_EQ(errorOf(filtered)["code"], "content_filter");
  EXPECT_EQ(errorOf(filtered)["type"], "invalid_request_error");

  Response missing = post("/v1/chat/completions",
                          R"({"model":"qwen-nope","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(errorOf(missing)["code"], "model_not_found");

  // Refused before any connection: no upstream answered it.
  Response refused = post(
      "/v1/chat/completions",
      R"({"model":"qwen-plus","messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2}})");
  ASSERT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(errorOf(refused)["param"], "logit_bias");
  EXPECT_EQ(errorOf(refused)["code"], "unsupported_parameter");
  EXPECT_EQ(refused.header("x-fake-upstream"), "");

  Response embeddings = post("/v1/embeddings", R"({"model":"qwen-plus","input":"x"})");
  ASSERT_EQ(embeddings.status, 404) << embeddings.body;
  EXPECT_EQ(errorOf(embeddings)["code"], "unsupported_endpoint");

  // A stream DashScope ends with an error event: OpenAI's error event, no [DONE].
  Response event = post("/v1/chat/completions", kStreamChat, {{"x-fake-error-event", "1"}});
  ASSERT_EQ(event.status, 200) << event.body;
  std::vector<std::string> e = events(event.body);
  ASSERT_EQ(e.size(), 1u) << event.body;
  EXPECT_EQ(Json::parse(e[0])["error"]["code"], "content_filter");

  Response limited = post("/v1/chat/completions", kChat, {{"x-fake-status", "429"}});
  ASSERT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(errorOf(limited)["code"], "rate_limit_exceeded");
}

TEST_F(DashScopeTest, AWrongKeyIsAnAuthenticationError) {
  addDashScope();
  ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "update", "dashscope", "--api-key", "wrong"}));
  Response denied = post("/v1/chat/completions", kChat);
  ASSERT_EQ(denied.status, 401) << denied.body;
  EXPECT_EQ(errorOf(denied)["type"], "authentication_error");
  EXPECT_EQ(errorOf(denied)["code"], "invalid_api_key");
  EXPECT_EQ(errorOf(denied)["message"], "Invalid API-key provided.");
}

TEST_F(DashScopeTest, A5xxFailsOverAndACutStreamEndsWithAnErrorEvent) {
  addDashScope({"--priority", "0"});
  ASSERT_TRUE(cluster_.startUpstream("backup"));
  auto add = cluster_.fwdctl({"upstream", "add", "backup", "--base-url",
                              cluster_.upstream("backup").baseUrl(), "--model", "qwen-*",
                              "--priority", "1"});
  ASSERT_EQ(add.exit_code, 0) << add.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  const Endpoint& ds = cluster_.upstream("ds").endpoint;
  ASSERT_EQ(httpRequest(ds, "POST", "/_fake/fail-status?status=0").status, 200);
  Response r = post("/v1/chat/completions", kChat, {{"x-fake-status", "500"}});
  ASSERT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("all 2 upstream attempts failed"), std::string::npos) << r.body;

  Response cut = post("/v1/chat/completions", kStreamChat, {{"x-fake-cut-after", "2"}});
  ASSERT_EQ(cut.status, 200);
  EXPECT_EQ(cut.header("x-fwd-upstream"), "dashscope");
  std::vector<std::string> e = events(cut.body);
  ASSERT_EQ(e.size(), 3u) << cut.body;  // two translated chunks, then fwd's error event
  EXPECT_EQ(Json::parse(e[1])["choices"][0]["delta"]["content"], " from");
  EXPECT_TRUE(Json::parse(e[2]).contains("error")) << e[2];
}

TEST_F(DashScopeTest, StreamConversionWorksOnTopOfTheTranslation) {
  addDashScope({"--stream-mode", "stream"});
  ASSERT_TRUE(cluster_.waitInSync());
  Response r = post("/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  Json a = Json::parse(r.body);
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["choices"][0]["message"]["content"], "Hello from ds t3 t4");
  EXPECT_EQ(a["usage"]["completion_tokens"], 5);

  // DashScope's error event before any content: the client's error answer.
  Response e = post("/v1/chat/completions", kChat, {{"x-fake-error-event", "1"}});
  ASSERT_EQ(e.status, 400) << e.body;
  EXPECT_EQ(errorOf(e)["code"], "content_filter");

  ASSERT_TRUE(
      cluster_.fwdctlInSync({"upstream", "update", "dashscope", "--stream-mode", "non-stream"}));
  Response s = post("/v1/chat/completions", kStreamChat);
  ASSERT_EQ(s.status, 200) << s.body;
  std::vector<std::string> ev = events(s.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back(), "[DONE]");
  EXPECT_NE(s.body.find("Hello from ds"), std::string::npos) << s.body;
}

}  // namespace dashscope_test
}  // namespace fwd::harness
