// Request edits and the answer prefix with the real binaries: what an upstream receives after
// an upstream's and a route's edits (the route's win), a failover to an upstream with other
// edits, edits updated and cleared live, bad values refused by fwdctl and the control plane,
// and the prefix in JSON answers and in streams however the upstream splits them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using Json = nlohmann::json;

class EditsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startUpstream("down", {"--fail-status", "500"}));
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

  // What the upstream received, through the fake's x-fake-echo-body.
  Json received(const std::string& path, const std::string& body) {
    Response r = post(path, body, {{"x-fake-echo-body", "1"}});
    EXPECT_EQ(r.status, 200) << r.body;
    Json echoed = Json::parse(r.body, nullptr, false);
    if (!echoed.is_object() || !echoed["body"].is_string()) {
      ADD_FAILURE() << "not an echo: " << r.body;
      return Json();
    }
    return Json::parse(echoed["body"].get<std::string>(), nullptr, false);
  }

  // The content of choice 0 over a stream's events, and how many events carried content.
  static std::string streamedContent(const std::string& body, int* content_events = nullptr) {
    std::string content;
    size_t at = 0;
    while ((at = body.find("data: ", at)) != std::string::npos) {
      size_t end = body.find('\n', at);
      std::string data = body.substr(at + 6, end - at - 6);
      at = end;
      Json event = Json::parse(data, nullptr, false);
      if (!event.is_object() || !event.contains("choices") || event["choices"].empty()) {
        continue;
      }
      const Json& c = event["choices"][0];
      std::string piece =
          c.contains("delta") ? c["delta"].value("content", "") : c.value("text", "");
      if (!piece.empty() && content_events != nullptr) {
        ++*content_events;
      }
      content += piece;
    }
    return content;
  }

  FwdCluster cluster_;
  std::string key_;
};

constexpr char kChat[] = R"({"model":"gpt-4o","max_tokens":4000,"stop":"END",)"
                         R"("messages":[{"role":"system","content":""},)"
                         R"({"role":"assistant","content":"<think>plan</think> Sure."},)"
                         R"({"role":"user","content":"hi"}]})";

TEST_F(EditsTest, AnUpstreamsEditsReachItAndARoutesOverrideThem) {
  fwdctlOk({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(), "--model",
            "gpt-*", "--max-tokens-cap", "512", "--stop", "STOP", "--stop", "END",
            "--drop-empty-messages", "--strip-think"});
  ASSERT_TRUE(cluster_.waitInSync());
  Json got = received("/v1/chat/completions", kChat);
  EXPECT_EQ(got["max_tokens"], 512);
  EXPECT_EQ(got["stop"], Json::array({"END", "STOP"}));
  ASSERT_EQ(got["messages"].size(), 2u) << got.dump();
  EXPECT_EQ(got["messages"][0]["content"], "Sure.");
  EXPECT_EQ(got["messages"][1]["content"], "hi");
  EXPECT_EQ(got["model"], "gpt-4o");

  // A request without max_tokens gets the cap; text completions are edited too.
  got = received("/v1/completions", R"({"model":"gpt-4o","prompt":"x"})");
  EXPECT_EQ(got["max_tokens"], 512);
  EXPECT_EQ(got["stop"], Json::array({"STOP", "END"}));
  // Other endpoints keep their body byte for byte.
  const std::string embed = R"({"model":"gpt-4o", "input":"x"})";
  Response r = post("/v1/embeddings", embed, {{"x-fake-echo-body", "1"}});
  EXPECT_EQ(Json::parse(r.body)["body"], embed);

  // A route's values win field by field: its cap and stop words, the upstream's other edits;
  // --strip-think=false turns the upstream's off; the model rewrite joins the same parse.
  fwdctlOk({"route", "add", "small", "--prefix", "/small", "--upstream", "local",
            "--max-tokens-cap", "64", "--stop", "HALT", "--strip-think=false", "--rewrite-model",
            "gpt-4o-mini"});
  ASSERT_TRUE(cluster_.waitInSync());
  got = received("/small/v1/chat/completions", kChat);
  EXPECT_EQ(got["max_tokens"], 64);
  EXPECT_EQ(got["stop"], Json::array({"END", "HALT"}));
  EXPECT_EQ(got["model"], "gpt-4o-mini");
  ASSERT_EQ(got["messages"].size(), 2u) << got.dump();
  EXPECT_EQ(got["messages"][0]["content"], "<think>plan</think> Sure.");

  // Cleared on the route, the upstream's cap applies again; cleared on the upstream too, none.
  fwdctlOk({"route", "update", "small", "--clear-max-tokens-cap"});
  fwdctlOk({"upstream", "update", "local", "--clear-max-tokens-cap", "--clear-stop"});
  ASSERT_TRUE(cluster_.waitInSync());
  got = received("/small/v1/chat/completions", kChat);
  EXPECT_EQ(got["max_tokens"], 4000);
  EXPECT_EQ(got["stop"], Json::array({"END", "HALT"}));

  Json shown = cluster_.fwdctlJson({"route", "get", "small"});
  EXPECT_EQ(shown["edits"]["max_tokens_cap"], nullptr);
  EXPECT_EQ(shown["edits"]["stop"], Json::array({"HALT"}));
  EXPECT_EQ(shown["edits"]["strip_think"], false);
  shown = cluster_.fwdctlJson({"upstream", "get", "local"});
  EXPECT_EQ(shown["edits"]["drop_empty_messages"], true);
  EXPECT_EQ(shown["edits"]["stop"], Json::array());
}

TEST_F(EditsTest, AFailoverSendsTheNextUpstreamTheClientsBodyUnderItsOwnEdits) {
  // "down" answers 500 after receiving its cap of 10; "local" must get the client's body under
  // its own edits (no cap, its stop word), not the first attempt's edited body.
  fwdctlOk({"upstream", "add", "down", "--base-url", cluster_.upstream("down").baseUrl(), "--model",
            "gpt-*", "--priority", "0", "--max-tokens-cap", "10", "--stop", "A"});
  fwdctlOk({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(), "--model",
            "gpt-*", "--priority", "1", "--stop", "B"});
  ASSERT_TRUE(cluster_.waitInSync());
  Json got = received("/v1/chat/completions", kChat);
  EXPECT_EQ(got["max_tokens"], 4000);
  EXPECT_EQ(got["stop"], Json::array({"END", "B"}));
  EXPECT_EQ(got["messages"].size(), 3u);
}

TEST_F(EditsTest, BadEditsAreRefusedWithPreciseErrors) {
  auto r = cluster_.fwdctl({"upstream", "add", "local", "--base-url",
                            cluster_.upstream("up1").baseUrl(), "--max-tokens-cap", "0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("--max-tokens-cap must be at least 1"), std::string::npos)
      << r.stderr_text;
  r = cluster_.fwdctl({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(),
                       "--answer-prefix", std::string(4097, 'x')});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("upstream.edits.answer_prefix: 4097 bytes, at most 4096 allowed"),
            std::string::npos)
      << r.stderr_text;
  r = cluster_.fwdctl({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(),
                       "--stop", "a", "--stop", "a"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("upstream.edits.stop \"a\": given twice"), std::string::npos)
      << r.stderr_text;
  r = cluster_.fwdctl({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(),
                       "--max-tokens-cap", "2000000"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("max_tokens_cap 2000000: must be 1..1000000"), std::string::npos)
      << r.stderr_text;
}

TEST_F(EditsTest, TheAnswerPrefixLeadsTheFirstChoiceInJsonAndInStreamsHoweverSplit) {
  fwdctlOk({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(), "--model",
            "gpt-*", "--answer-prefix", "[fwd] \"ok\"\n"});
  // A route's empty prefix turns the upstream's off: the answers without it, to compare.
  fwdctlOk(
      {"route", "add", "raw", "--prefix", "/raw", "--upstream", "local", "--answer-prefix", ""});
  ASSERT_TRUE(cluster_.waitInSync());
  const std::string prefix = "[fwd] \"ok\"\n";

  Response plain = post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[]})");
  ASSERT_EQ(plain.status, 200) << plain.body;
  Json answer = Json::parse(plain.body);
  std::string content = answer["choices"][0]["message"]["content"];
  EXPECT_EQ(content.rfind(prefix, 0), 0u) << content;
  EXPECT_EQ(content.find(prefix, 1), std::string::npos);
  EXPECT_EQ(answer["object"], "chat.completion");

  Response text = post("/v1/completions", R"({"model":"gpt-4o","prompt":"x"})");
  std::string completed = Json::parse(text.body)["choices"][0]["text"];
  EXPECT_EQ(completed.rfind(prefix, 0), 0u) << completed;

  // Streams framed every way the fake can: the prefix is in the first content delta once, and
  // the rest of the stream is what the upstream sent.
  for (Headers framing :
       {Headers{}, Headers{{"x-fake-framing", "split"}}, Headers{{"x-fake-events-per-write", "3"}},
        Headers{{"x-fake-framing", "close"}},
        Headers{{"x-fake-framing", "split"}, {"x-fake-events-per-write", "4"}}}) {
    std::string how = framing.empty() ? "chunked" : framing.begin()->second;
    Response s =
        post("/v1/chat/completions", R"({"model":"gpt-4o","stream":true,"messages":[]})", framing);
    ASSERT_EQ(s.status, 200) << how << ": " << s.body;
    EXPECT_TRUE(s.complete) << how;
    int content_events = 0;
    std::string streamed = streamedContent(s.body, &content_events);
    EXPECT_EQ(streamed.rfind(prefix, 0), 0u) << how << ": " << s.body;
    EXPECT_EQ(streamed.find(prefix, 1), std::string::npos) << how;
    EXPECT_EQ(content_events, 5) << how;
    EXPECT_NE(s.body.find("data: [DONE]\n\n"), std::string::npos) << how;
    // Without the prefix the same stream has the same content after it.
    Response raw = post("/raw/v1/chat/completions",
                        R"({"model":"gpt-4o","stream":true,"messages":[]})", framing);
    ASSERT_EQ(raw.status, 200) << raw.body;
    EXPECT_EQ(prefix + streamedContent(raw.body), streamed) << how;
  }

  // Errors are never prefixed, nor answers through the route that turned the prefix off.
  Response failed = post("/v1/chat/completions", R"({"model":"gpt-4o","messages":[]})",
                         {{"x-fake-status", "404"}});
  EXPECT_EQ(failed.status, 404);
  EXPECT_EQ(failed.body.find("[fwd]"), std::string::npos);
  Response raw = post("/raw/v1/chat/completions", R"({"model":"gpt-4o","messages":[]})");
  std::string raw_content = Json::parse(raw.body)["choices"][0]["message"]["content"];
  EXPECT_EQ(raw_content.find("[fwd]"), std::string::npos);
  EXPECT_EQ(prefix + raw_content, content);
}

}  // namespace
}  // namespace fwd::harness
