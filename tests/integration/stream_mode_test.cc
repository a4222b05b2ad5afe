// Stream conversion with the real binaries (fwdctl --stream-mode): what an upstream is asked
// for, what the client gets back (its Content-Type, the assembled answer or the events), a
// route's mode over its upstream's, a failover past a stream that broke before anything reached
// the client, and a passthrough request left byte for byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace stream_mode_test {

using Json = nlohmann::json;

class StreamModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    key_ = cluster_.createKey("team");
    ASSERT_FALSE(key_.empty());
  }

  void fwdctlOk(std::vector<std::string> args) {
    auto r = cluster_.fwdctl(std::move(args));
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  Response post(const std::string& path, const std::string& body, Headers headers = {}) {
    return cluster_.call("dp1", "POST", path, key_, body, headers);
  }

  // The data of each event of an SSE body, [DONE] included.
  static std::vector<std::string> events(const std::string& body) { return sseData(body); }

  FwdCluster cluster_;
  std::string key_;
};

constexpr char kChat[] = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStreamChat[] =
    R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]})";

TEST_F(StreamModeTest, AnUpstreamThatAlwaysStreamsAnswersAPlainClientWithOneCompletion) {
  fwdctlOk({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(), "--model",
            "gpt-*", "--stream-mode", "stream"});
  ASSERT_TRUE(cluster_.waitInSync());
  Response r = post("/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  Json a = Json::parse(r.body);
  EXPECT_EQ(a["object"], "chat.completion");
  // Five chunks streamed (a plain answer of the fake has three tokens).
  EXPECT_EQ(a["choices"][0]["message"]["content"], "Hello from up1 t3 t4");
  EXPECT_EQ(a["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(a["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(a["usage"]["completion_tokens"], 5);
  EXPECT_EQ(r.header("x-fwd-upstream"), "local");
  EXPECT_FALSE(r.header("x-request-id").empty());

  // A client that asked for a stream gets the upstream's stream as it came.
  Response s = post("/v1/chat/completions", kStreamChat);
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.header("content-type").substr(0, 17), "text/event-stream");
  EXPECT_EQ(events(s.body).size(), 6u);  // five chunks and [DONE]

  // Tool calls put together from their deltas; a text completion; the upstream's error event
  // as an OpenAI error with its status.
  r = post("/v1/chat/completions", kChat, {{"x-fake-tool-calls", "1"}, {"x-fake-chunks", "4"}});
  ASSERT_EQ(r.status, 200) << r.body;
  Json called = Json::parse(r.body);
  const Json& m = called["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null());
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], R"({"city":"Paris"})");
  EXPECT_EQ(m["tool_calls"][0]["id"], "call_fake");
  r = post("/v1/completions", R"({"model":"gpt-4o","prompt":"x"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body)["choices"][0]["text"], "Hello from up1 t3 t4");
  r = post("/v1/chat/completions", kChat, {{"x-fake-error-event", "1"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(Json::parse(r.body)["error"]["code"], "context_length_exceeded");

  // A key whose tokens are counted: the usage chunk fwd asked for stays in the answer (the
  // limits drop it only from a stream the client asked for without it).
  std::string counted = cluster_.createKeyInSync("counted", {"--tpm", "1000000"});
  ASSERT_FALSE(counted.empty());
  r = cluster_.call("dp1", "POST", "/v1/chat/completions", counted, kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body)["usage"]["completion_tokens"], 5);

  // Embeddings are not converted: their body goes as the client sent it.
  const std::string embed = R"({"model":"gpt-4o", "input":"x"})";
  r = post("/v1/embeddings", embed, {{"x-fake-echo-body", "1"}});
  EXPECT_EQ(Json::parse(r.body)["body"], embed);
}

TEST_F(StreamModeTest, AStreamCutBeforeTheClientHadAnythingFailsOverToTheNextUpstream) {
  ASSERT_TRUE(cluster_.startUpstream("up2"));
  fwdctlOk({"upstream", "add", "first", "--base-url", cluster_.upstream("up1").baseUrl(), "--model",
            "gpt-*", "--priority", "0", "--stream-mode", "stream"});
  fwdctlOk({"upstream", "add", "second", "--base-url", cluster_.upstream("up2").baseUrl(),
            "--model", "gpt-*", "--priority", "1"});
  fwdctlOk(
      {"route", "add", "chat", "--model", "gpt-4o", "--upstream", "first", "--upstream", "second"});
  ASSERT_TRUE(cluster_.waitInSync());
  // The cut reaches only the streamed attempt (the plain answer has no events to cut).
  Response r = post("/v1/chat/completions", kChat, {{"x-fake-cut-after", "2"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fwd-upstream"), "second");
  EXPECT_EQ(Json::parse(r.body)["choices"][0]["message"]["content"], "Hello from up2");

  // With no upstream left: fwd's 502, an OpenAI error, never half an answer.
  fwdctlOk({"route", "update", "chat", "--upstream", "first"});
  ASSERT_TRUE(cluster_.waitInSync());
  r = post("/v1/chat/completions", kChat, {{"x-fake-cut-after", "2"}});
  EXPECT_EQ(r.status, 502) << r.body;
  Json e = Json::parse(r.body);
  EXPECT_EQ(e["error"]["code"], "upstream_error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("mid-response"), std::string::npos)
      << r.body;
}

TEST_F(StreamModeTest, AnUpstreamThatNeverStreamsAnswersAStreamingClientWithEvents) {
  fwdctlOk({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(), "--model",
            "gpt-*", "--stream-mode", "non-stream"});
  ASSERT_TRUE(cluster_.waitInSync());
  Response r = post("/v1/chat/completions",
                    R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},)"
                    R"("messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  std::vector<std::string> data = events(r.body);
  ASSERT_EQ(data.size(), 5u) << r.body;  // role, content, finish, usage, [DONE]
  EXPECT_EQ(data.back(), "[DONE]");
  std::string content;
  for (size_t i = 0; i + 1 < data.size(); ++i) {
    Json chunk = Json::parse(data[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    if (!chunk["choices"].empty()) {
      content += chunk["choices"][0]["delta"].value("content", "");
    }
  }
  EXPECT_EQ(content, "Hello from up1");
  EXPECT_EQ(Json::parse(data[3])["usage"]["completion_tokens"], 3);

  // A 2xx answer that is no chat answer (the fake's echo) cannot become events: a 502 that
  // says so, never a broken stream.
  Response echo = post("/v1/chat/completions", kStreamChat, {{"x-fake-echo-body", "1"}});
  EXPECT_EQ(echo.status, 502) << echo.body;
  EXPECT_NE(echo.body.find("cannot convert"), std::string::npos) << echo.body;

  // The upstream's error answer before the stream: an OpenAI error, as OpenAI answers it.
  r = post("/v1/chat/completions", kStreamChat, {{"x-fake-error-event", "1"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json::parse(r.body)["error"]["param"], "messages");
  // An upstream error status passes as before.
  r = post("/v1/chat/completions", kStreamChat, {{"x-fake-status", "404"}});
  EXPECT_EQ(r.status, 404);
}

TEST_F(StreamModeTest, ARoutesModeWinsOverItsUpstreamsAndChangesLive) {
  fwdctlOk({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(), "--model",
            "gpt-*", "--stream-mode", "stream"});
  fwdctlOk({"route", "add", "plain", "--prefix", "/plain", "--upstream", "local", "--stream-mode",
            "passthrough"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto content = [&](const std::string& path) {
    Response r = post(path, kChat);
    EXPECT_EQ(r.status, 200) << r.body;
    Json a = Json::parse(r.body, nullptr, false);
    return a.is_object() ? a["choices"][0]["message"]["content"].get<std::string>() : "";
  };
  EXPECT_EQ(content("/plain/v1/chat/completions"), "Hello from up1");  // as asked
  EXPECT_EQ(content("/v1/chat/completions"), "Hello from up1 t3 t4");  // the upstream's
  auto got = cluster_.fwdctl({"-o", "json", "route", "get", "plain"});
  ASSERT_EQ(got.exit_code, 0) << got.stderr_text;
  EXPECT_EQ(Json::parse(got.stdout_text)["edits"]["stream_mode"], "passthrough");

  fwdctlOk({"route", "update", "plain", "--clear-stream-mode"});
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(content("/plain/v1/chat/completions"), "Hello from up1 t3 t4");
  fwdctlOk({"upstream", "update", "local", "--stream-mode", "passthrough"});
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(content("/v1/chat/completions"), "Hello from up1");

  // A mode that is none is refused by fwdctl.
  auto bad = cluster_.fwdctl({"upstream", "update", "local", "--stream-mode", "sometimes"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.stderr_text.find("--stream-mode must be passthrough, stream or non-stream"),
            std::string::npos)
      << bad.stderr_text;
}

}  // namespace stream_mode_test
}  // namespace fwd::harness
