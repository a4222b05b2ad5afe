// Replicate (fwdctl upstream add --provider replicate) with the real binaries against tests/fakes
// in Replicate mode (fake_replicate.h): chat requests become predictions of the prompt rendered
// with each model's template; fwd takes the prediction whole (Prefer: wait), polls it until it is
// done, or follows its stream URL, and answers in OpenAI's shapes with usage from the
// prediction's metrics; Replicate's problems as OpenAI errors, parameters it cannot express
// refused by name, failover past a failed prediction and a 5xx, a cut stream, stream conversion
// on top of the translation, and predictions fwd stops waiting for canceled.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace replicate_test {

using Json = nlohmann::json;

constexpr char kKey[] = "r8_secret";
constexpr char kModel[] = "mistralai/mistral-7b-instruct-v0.2";
constexpr char kChat[] =
    R"({"model":"mistralai/mistral-7b-instruct-v0.2","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStreamChat[] = R"({"model":"mistralai/mistral-7b-instruct-v0.2","stream":true,)"
                               R"("messages":[{"role":"user","content":"hi"}]})";

class ReplicateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream(
        "rep", {"--replicate-api-key", kKey, "--models",
                std::string(kModel) + ",meta/meta-llama-3-8b-instruct,acme/old:5c7d5dc6"}));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    key_ = cluster_.createKey("team");
    ASSERT_FALSE(key_.empty());
  }

  // Replicate's base URL, https://api.replicate.com/v1 in production.
  std::string baseUrl() {
    return "http://127.0.0.1:" + std::to_string(cluster_.upstream("rep").endpoint.port) + "/v1";
  }

  void addReplicate(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"upstream",  "add",        "replicate", "--provider",
                                     "replicate", "--base-url", baseUrl(),   "--api-key",
                                     kKey,        "--model",    "*/*"};
    args.insert(args.end(), more.begin(), more.end());
    auto r = cluster_.fwdctl(args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  Response post(const std::string& body, Headers headers = {}) {
    return cluster_.call("dp1", "POST", "/v1/chat/completions", key_, body, headers);
  }

  static Json errorOf(const Response& r) {
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"] : Json();
  }

  static std::string chat(std::string_view model, std::string_view content, bool stream = false) {
    return Json{{"model", model},
                {"stream", stream},
                {"messages", Json::array({{{"role", "system"}, {"content", "Be brief."}},
                                          {{"role", "user"}, {"content", content}}})}}
        .dump();
  }

  double metric(const std::string& series) {
    return metricValue(httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics").body,
                       series);
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(ReplicateTest, AChatRequestIsAPredictionOfItsRenderedPrompt) {
  addReplicate({"--prompt-template", "meta/meta-llama-3-8b-instruct=llama3"});
  ASSERT_TRUE(cluster_.waitInSync());
  Response r = post(kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  Json a = Json::parse(r.body);
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["model"], kModel);
  EXPECT_EQ(a["id"].get<std::string>().rfind("chatcmpl-fakepred", 0), 0u) << a["id"];
  EXPECT_EQ(a["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(a["choices"][0]["message"]["content"], "Hello from rep");
  EXPECT_EQ(a["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(a["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(a["usage"]["completion_tokens"], 3);
  EXPECT_EQ(a["usage"]["total_tokens"], 13);

  // The prompt each model gets: the default template (Mistral's), or the one configured.
  Response mistral = post(chat(kModel, "ECHO_PROMPT"));
  ASSERT_EQ(mistral.status, 200) << mistral.body;
  EXPECT_EQ(Json::parse(mistral.body)["choices"][0]["message"]["content"],
            "<s>[INST] Be brief.\n\nECHO_PROMPT [/INST]");
  Response llama = post(chat("meta/meta-llama-3-8b-instruct", "ECHO_PROMPT"));
  ASSERT_EQ(llama.status, 200) << llama.body;
  EXPECT_EQ(Json::parse(llama.body)["choices"][0]["message"]["content"],
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nECHO_PROMPT<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");

  // A version of a model: POST /predictions with the version, which runs only as that model's.
  Response pinned = post(chat("acme/old:5c7d5dc6", "hi"));
  ASSERT_EQ(pinned.status, 200) << pinned.body;
  EXPECT_EQ(Json::parse(pinned.body)["choices"][0]["message"]["content"], "Hello from rep");
  Response borrowed = post(chat("acme/other:5c7d5dc6", "hi"));
  ASSERT_EQ(borrowed.status, 400) << borrowed.body;
  EXPECT_EQ(errorOf(borrowed)["type"], "invalid_request_error");

  // Each of these was answered by its first request (Prefer: wait): nothing was polled.
  Response stats = httpRequest(cluster_.upstream("rep").endpoint, "GET", "/_fake/stats");
  EXPECT_EQ(Json::parse(stats.body)["requests"], 5) << stats.body;
}

TEST_F(ReplicateTest, APredictionStillRunningIsPolledUntilDone) {
  addReplicate();
  ASSERT_TRUE(cluster_.waitInSync());
  const Endpoint& fake = cluster_.upstream("rep").endpoint;
  ASSERT_EQ(httpRequest(fake, "POST", "/_fake/reset").status, 200);
  auto start = std::chrono::steady_clock::now();
  Response r = post(kChat, {{"x-fake-replicate-polls", "2"}});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body)["choices"][0]["message"]["content"], "Hello from rep");
  EXPECT_EQ(Json::parse(r.body)["usage"]["completion_tokens"], 3);
  // Two reads found it processing, the third done: three polls, 500 ms apart, all on the
  // connection that created the prediction.
  EXPECT_GE(took, std::chrono::milliseconds(1400));
  Json stats = Json::parse(httpRequest(fake, "GET", "/_fake/stats").body);
  EXPECT_EQ(stats["requests"], 4) << stats;
  EXPECT_EQ(stats["connections"], 2) << stats;  // fwd's one, and this read's

  // Reads throttled by a 429 are tried again after its Retry-After.
  Response throttled =
      post(kChat, {{"x-fake-replicate-polls", "1"}, {"x-fake-replicate-throttle", "1"}});
  ASSERT_EQ(throttled.status, 200) << throttled.body;
  EXPECT_EQ(Json::parse(throttled.body)["choices"][0]["message"]["content"], "Hello from rep");

  // Polled into a failure: a failed attempt (502 with Replicate's error, no other upstream).
  Response failed = post(kChat, {{"x-fake-replicate-polls", "1"}, {"x-fake-replicate-fail", "1"}});
  ASSERT_EQ(failed.status, 502) << failed.body;
  EXPECT_NE(errorOf(failed)["message"].get<std::string>().find("failed: CUDA out of memory (fake)"),
            std::string::npos)
      << failed.body;
}

TEST_F(ReplicateTest, AStreamFollowsTheStreamUrlWithUsageFromThePrediction) {
  addReplicate();
  ASSERT_TRUE(cluster_.waitInSync());
  Response s = post(R"({"model":"mistralai/mistral-7b-instruct-v0.2","stream":true,)"
                    R"("stream_options":{"include_usage":true},)"
                    R"("messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.header("content-type").substr(0, 17), "text/event-stream");
  std::vector<std::string> e = sseData(s.body);
  ASSERT_EQ(e.size(), 8u) << s.body;  // five pieces, the finish chunk, the usage chunk, [DONE]
  std::string content;
  for (size_t i = 0; i < 5; ++i) {
    Json c = Json::parse(e[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    content += c["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(content, "Hello from rep t3 t4");
  EXPECT_EQ(Json::parse(e[0])["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(Json::parse(e[5])["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(Json::parse(e[6])["usage"]["completion_tokens"], 5);
  EXPECT_EQ(Json::parse(e[6])["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(e[7], "[DONE]");

  // Without the usage chunk asked, the prediction's usage still reaches the token counts.
  Response quiet = post(kStreamChat);
  ASSERT_EQ(quiet.status, 200) << quiet.body;
  EXPECT_EQ(sseData(quiet.body).size(), 7u) << quiet.body;
  EXPECT_TRUE(waitFor(
      [&] {
        return metric(std::string(R"(fwd_tokens_total{model=")") + kModel +
                      R"(",upstream="replicate",kind="completion"})") == 5 + 5;
      },
      std::chrono::seconds(5), "both streams' completion tokens"));
}

TEST_F(ReplicateTest, ProblemsAndRefusedParametersAreOpenAiErrors) {
  addReplicate();
  ASSERT_TRUE(cluster_.waitInSync());
  Response missing = post(chat("acme/nope", "hi"));
  ASSERT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(errorOf(missing)["code"], "model_not_found");

  Response credit = post(kChat, {{"x-fake-status", "402"}});
  ASSERT_EQ(credit.status, 429) << credit.body;
  EXPECT_EQ(errorOf(credit)["code"], "insufficient_quota");

  Response refused = post(
      R"({"model":"mistralai/mistral-7b-instruct-v0.2","messages":[{"role":"user","content":"hi"}],)"
      R"("tools":[{"type":"function","function":{"name":"f"}}]})");
  ASSERT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(errorOf(refused)["param"], "tools");
  EXPECT_EQ(errorOf(refused)["code"], "unsupported_parameter");
  EXPECT_EQ(refused.header("x-fake-upstream"), "");

  Response not_a_model = post(chat("gpt-4o", "hi"));
  ASSERT_EQ(not_a_model.status, 404) << not_a_model.body;
  EXPECT_EQ(errorOf(not_a_model)["param"], "model");

  // A stream whose prediction fails: OpenAI's error event, no [DONE].
  Response event = post(kStreamChat, {{"x-fake-replicate-fail", "1"}});
  ASSERT_EQ(event.status, 200) << event.body;
  std::vector<std::string> e = sseData(event.body);
  ASSERT_EQ(e.size(), 1u) << event.body;
  EXPECT_EQ(Json::parse(e[0])["error"]["message"],
            "Replicate's prediction failed: CUDA out of memory (fake)");

  ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "update", "replicate", "--api-key", "wrong"}));
  Response denied = post(kChat);
  ASSERT_EQ(denied.status, 401) << denied.body;
  EXPECT_EQ(errorOf(denied)["type"], "authentication_error");
  EXPECT_EQ(errorOf(denied)["code"], "invalid_api_key");
  EXPECT_EQ(errorOf(denied)["message"], "You did not pass a valid authentication token");
}

TEST_F(ReplicateTest, AFailedPredictionAndA5xxFailOverAndACutStreamEndsWithAnErrorEvent) {
  addReplicate({"--priority", "0"});
  ASSERT_TRUE(cluster_.startUpstream("backup", {"--models", kModel}));
  auto add =
      cluster_.fwdctl({"upstream", "add", "backup", "--base-url",
                       cluster_.upstream("backup").baseUrl(), "--model", "*/*", "--priority", "1"});
  ASSERT_EQ(add.exit_code, 0) << add.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  Response failed = post(kChat, {{"x-fake-replicate-fail", "1"}});
  ASSERT_EQ(failed.status, 200) << failed.body;
  EXPECT_EQ(failed.header("x-fwd-upstream"), "backup");
  EXPECT_EQ(Json::parse(failed.body)["choices"][0]["message"]["content"], "Hello from backup");

  Response polled = post(kChat, {{"x-fake-replicate-polls", "1"}, {"x-fake-replicate-fail", "1"}});
  ASSERT_EQ(polled.status, 200) << polled.body;
  EXPECT_EQ(polled.header("x-fwd-upstream"), "backup");

  // x-fake-status reaches the backup too: it fails there as well.
  Response down = post(kChat, {{"x-fake-status", "503"}});
  ASSERT_EQ(down.status, 502) << down.body;
  EXPECT_NE(down.body.find("all 2 upstream attempts failed"), std::string::npos) << down.body;

  Response cut = post(kStreamChat, {{"x-fake-cut-after", "2"}});
  ASSERT_EQ(cut.status, 200);
  EXPECT_EQ(cut.header("x-fwd-upstream"), "replicate");
  std::vector<std::string> e = sseData(cut.body);
  ASSERT_EQ(e.size(), 3u) << cut.body;  // two translated pieces, then fwd's error event
  EXPECT_EQ(Json::parse(e[1])["choices"][0]["delta"]["content"], " from");
  EXPECT_TRUE(Json::parse(e[2]).contains("error")) << e[2];
}

TEST_F(ReplicateTest, StreamConversionWorksOnTopOfTheTranslation) {
  addReplicate({"--stream-mode", "stream"});
  ASSERT_TRUE(cluster_.waitInSync());
  Response r = post(kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  Json a = Json::parse(r.body);
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["choices"][0]["message"]["content"], "Hello from rep t3 t4");
  EXPECT_EQ(a["usage"]["completion_tokens"], 5);

  ASSERT_TRUE(
      cluster_.fwdctlInSync({"upstream", "update", "replicate", "--stream-mode", "non-stream"}));
  Response s = post(kStreamChat);
  ASSERT_EQ(s.status, 200) << s.body;
  std::vector<std::string> ev = sseData(s.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back(), "[DONE]");
  EXPECT_NE(s.body.find("Hello from rep"), std::string::npos) << s.body;
}

TEST_F(ReplicateTest, APredictionFwdStopsWaitingForIsCanceled) {
  addReplicate({"--timeout", "1s"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto cancels = [&] {
    Response stats = httpRequest(cluster_.upstream("rep").endpoint, "GET", "/_fake/stats");
    return Json::parse(stats.body).value("replicate_cancels", -1);
  };
  ASSERT_EQ(cancels(), 0);
  // Still processing when the attempt's total timeout passes.
  Response slow = post(kChat, {{"x-fake-replicate-polls", "50"}});
  ASSERT_EQ(slow.status, 504) << slow.body;
  EXPECT_TRUE(waitFor([&] { return cancels() == 1; }, std::chrono::seconds(5),
                      "the polled prediction to be canceled"));

  // A client that leaves mid-stream.
  ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "update", "replicate", "--timeout", "1m"}));
  std::atomic<bool> got_event{false};
  std::thread client([&] {
    streamRequest(
        cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
        {{"Authorization", "Bearer " + key_},
         {"Content-Type", "application/json"},
         {"x-fake-chunks", "3"},
         {"x-fake-chunk-delay-ms", "20000"}},
        kStreamChat,
        [&](std::string_view, std::chrono::steady_clock::time_point) {
          got_event = true;
          return false;  // hang up after the first piece
        },
        std::chrono::seconds(30));
  });
  EXPECT_TRUE(
      waitFor([&] { return got_event.load(); }, std::chrono::seconds(5), "the first event"));
  client.join();
  EXPECT_TRUE(waitFor([&] { return cancels() == 2; }, std::chrono::seconds(5),
                      "the abandoned stream's prediction to be canceled"));

  // Predictions that ran to their end are not canceled.
  ASSERT_EQ(post(kChat).status, 200);
  ASSERT_EQ(post(kStreamChat).status, 200);
  ASSERT_EQ(post(kChat, {{"x-fake-replicate-polls", "1"}}).status, 200);
  EXPECT_EQ(cancels(), 2);
}

}  // namespace replicate_test
}  // namespace fwd::harness
