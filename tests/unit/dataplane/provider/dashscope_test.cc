// The DashScope provider: OpenAI chat requests as DashScope text-generation requests (and the
// parameters it refuses, by name), its answers and streams as OpenAI's, its error codes as
// OpenAI's statuses and types.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dataplane/provider/provider.h"
#include "tests/unit/dataplane/provider/answer_feed.h"

namespace fwd::dataplane::provider {
namespace dashscope_test {

using Json = nlohmann::json;

Json translated(std::string_view body, Translation* t = nullptr) {
  std::string out;
  Translation tr = dashscope()->translateRequest("/v1/chat/completions", body, out);
  EXPECT_FALSE(tr.error.has_value()) << tr.error->message;
  if (t != nullptr) {
    *t = tr;
  }
  return Json::parse(out);
}

proxy::ApiError refused(std::string_view body, std::string_view path = "/v1/chat/completions") {
  std::string out;
  Translation tr = dashscope()->translateRequest(path, body, out);
  EXPECT_TRUE(tr.error.has_value()) << body;
  return tr.error.value_or(proxy::ApiError{});
}

// Feeds `answer` in pieces of `piece` bytes; returns what the client gets.
std::string translate(bool sse, std::string_view answer, bool include_usage = false,
                      size_t piece = 1 << 20) {
  auto tr = dashscope()->answerTranslator(sse, "qwen-plus", include_usage, sse);
  return answer_feed::feedAnswer(*tr, answer, piece);
}

std::vector<Json> eventsOf(const std::string& stream, bool& done) {
  return answer_feed::chunkEvents(stream, done);
}

TEST(DashScopeTest, ARequestBecomesInputAndParameters) {
  Translation t;
  Json r = translated(
      R"({"model":"qwen-plus","messages":[{"role":"system","content":"Be brief."},)"
      R"({"role":"user","content":[{"type":"text","text":"Hi "},{"type":"text","text":"there"}]}],)"
      R"("temperature":0.5,"max_completion_tokens":64,"stop":["END"],"seed":7,"user":"u-1",)"
      R"("tools":[{"type":"function","function":{"name":"f"}}],"enable_thinking":false})",
      &t);
  EXPECT_EQ(r["model"], "qwen-plus");
  EXPECT_EQ(r["input"]["messages"][0]["content"], "Be brief.");
  EXPECT_EQ(r["input"]["messages"][1]["content"], "Hi there");  // text parts joined
  const Json& p = r["parameters"];
  EXPECT_EQ(p["result_format"], "message");
  EXPECT_EQ(p["temperature"], 0.5);
  EXPECT_EQ(p["max_tokens"], 64);
  EXPECT_EQ(p["stop"][0], "END");
  EXPECT_EQ(p["seed"], 7);
  EXPECT_EQ(p["tools"][0]["function"]["name"], "f");
  EXPECT_EQ(p["enable_thinking"], false);
  EXPECT_FALSE(p.contains("user"));
  EXPECT_FALSE(p.contains("incremental_output"));
  EXPECT_FALSE(r.contains("messages"));
  EXPECT_FALSE(t.stream);

  Json s = translated(
      R"({"model":"qwen-plus","messages":[{"role":"user","content":"Hi"}],"stream":true,)"
      R"("stream_options":{"include_usage":true}})",
      &t);
  EXPECT_TRUE(t.stream);
  EXPECT_TRUE(t.include_usage);
  EXPECT_EQ(s["parameters"]["incremental_output"], true);
  EXPECT_FALSE(s["parameters"].contains("stream_options"));
}

TEST(DashScopeTest, WhatDashScopeCannotExpressIsA400NamingIt) {
  proxy::ApiError e = refused(
      R"({"model":"qwen-plus","messages":[{"role":"user","content":"Hi"}],"frequency_penalty":1})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "frequency_penalty");
  EXPECT_EQ(e.code, "unsupported_parameter");
  EXPECT_NE(e.message.find("provider dashscope"), std::string::npos) << e.message;

  e = refused(R"({"model":"qwen-plus","messages":[{"role":"user","content":[{"type":"text",)"
              R"("text":"What is this?"},{"type":"image_url","image_url":{"url":"x"}}]}]})");
  EXPECT_EQ(e.param, "messages[0].content");

  e = refused(R"({"model":"text-embedding-v3","input":"x"})", "/v1/embeddings");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.code, "unsupported_endpoint");
}

TEST(DashScopeTest, AnAnswerBecomesAChatCompletion) {
  std::string out = translate(
      false,
      R"({"output":{"choices":[{"finish_reason":"tool_calls","message":{"role":"assistant",)"
      R"("content":"","reasoning_content":"thinking","tool_calls":[{"index":0,"id":"call_1",)"
      R"("type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}]},)"
      R"("usage":{"input_tokens":11,"output_tokens":5,"total_tokens":16,)"
      R"("prompt_tokens_details":{"cached_tokens":4}},"request_id":"r-1"})");
  Json a = Json::parse(out);
  EXPECT_EQ(a["id"], "chatcmpl-r-1");
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["model"], "qwen-plus");
  const Json& m = a["choices"][0]["message"];
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["reasoning_content"], "thinking");
  EXPECT_EQ(m["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(m["tool_calls"][0]["type"], "function");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(a["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(a["usage"]["prompt_tokens"], 11);
  EXPECT_EQ(a["usage"]["completion_tokens"], 5);
  EXPECT_EQ(a["usage"]["total_tokens"], 16);
  EXPECT_EQ(a["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

constexpr char kStream[] =
    "id:1\nevent:result\n:HTTP_STATUS/200\ndata:{\"output\":{\"choices\":[{\"message\":"
    "{\"content\":\"Hel\",\"role\":\"assistant\"},\"finish_reason\":\"null\"}]},\"usage\":"
    "{\"total_tokens\":11,\"input_tokens\":10,\"output_tokens\":1},\"request_id\":\"r-2\"}\n\n"
    "id:2\nevent:result\n:HTTP_STATUS/200\ndata:{\"output\":{\"choices\":[{\"message\":"
    "{\"content\":\"lo\",\"role\":\"assistant\"},\"finish_reason\":\"stop\"}]},\"usage\":"
    "{\"total_tokens\":12,\"input_tokens\":10,\"output_tokens\":2},\"request_id\":\"r-2\"}\n\n";

TEST(DashScopeTest, AStreamBecomesChunkEventsAsItArrives) {
  for (size_t piece : {size_t{1} << 20, size_t{7}, size_t{1}}) {
    bool done = false;
    std::vector<Json> events = eventsOf(translate(true, kStream, true, piece), done);
    ASSERT_EQ(events.size(), 3u) << piece;
    EXPECT_TRUE(done);
    EXPECT_EQ(events[0]["object"], "chat.completion.chunk");
    EXPECT_EQ(events[0]["id"], "chatcmpl-r-2");
    EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(events[0]["choices"][0]["delta"]["content"], "Hel");
    EXPECT_TRUE(events[0]["choices"][0]["finish_reason"].is_null());  // DashScope's "null"
    EXPECT_FALSE(events[1]["choices"][0]["delta"].contains("role"));
    EXPECT_EQ(events[1]["choices"][0]["delta"]["content"], "lo");
    EXPECT_EQ(events[1]["choices"][0]["finish_reason"], "stop");
    EXPECT_TRUE(events[2]["choices"].empty());
    EXPECT_EQ(events[2]["usage"]["completion_tokens"], 2);
    EXPECT_EQ(events[2]["usage"]["total_tokens"], 12);
  }
  bool done = false;
  EXPECT_EQ(eventsOf(translate(true, kStream, false), done).size(), 2u);  // no usage chunk
  EXPECT_TRUE(done);
  // Each event goes out as it arrives, not at the end.
  auto tr = dashscope()->answerTranslator(true, "qwen-plus", false, true);
  tr->feed(std::string_view(kStream).substr(0, std::string_view(kStream).find("id:2")));
  EXPECT_NE(tr->out().find("\"Hel\""), std::string::npos);
}

TEST(DashScopeTest, ToolCallDeltasKeepTheirIdAndNameOnce) {
  std::string stream =
      "event:result\ndata:{\"output\":{\"choices\":[{\"message\":{\"content\":\"\",\"role\":"
      "\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
      "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":\"null\"}"
      "]},\"request_id\":\"r\"}\n\n"
      "event:result\ndata:{\"output\":{\"choices\":[{\"message\":{\"content\":\"\",\"role\":"
      "\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"\",\"type\":\"function\","
      "\"function\":{\"name\":\"\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]},"
      "\"request_id\":\"r\"}\n\n";
  bool done = false;
  std::vector<Json> events = eventsOf(translate(true, stream), done);
  ASSERT_EQ(events.size(), 2u);
  const Json& first = events[0]["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(first["id"], "call_1");
  EXPECT_EQ(first["function"]["name"], "get_weather");
  const Json& second = events[1]["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_FALSE(second.contains("id"));
  EXPECT_FALSE(second["function"].contains("name"));
  EXPECT_EQ(second["function"]["arguments"], "{}");
  EXPECT_EQ(events[1]["choices"][0]["finish_reason"], "tool_calls");
}

TEST(DashScopeTest, ErrorsTakeOpenAiStatusesTypesAndCodes) {
  auto error = [](int status, std::string_view body) {
    return dashscope()->errorAnswer(status, body);
  };
  proxy::ApiError key = error(401, R"({"code":"InvalidApiKey","message":"Invalid API-key )"
                                   R"(provided.","request_id":"r"})");
  EXPECT_EQ(key.status, 401);
  EXPECT_EQ(key.type, "authentication_error");
  EXPECT_EQ(key.code, "invalid_api_key");
  EXPECT_EQ(key.message, "Invalid API-key provided.");
  proxy::ApiError limited = error(429, R"({"code":"Throttling.RateQuota","message":"slow"})");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.type, "requests");
  EXPECT_EQ(limited.code, "rate_limit_exceeded");
  proxy::ApiError inspected = error(400, R"({"code":"DataInspectionFailed","message":"no"})");
  EXPECT_EQ(inspected.status, 400);
  EXPECT_EQ(inspected.code, "content_filter");
  proxy::ApiError owed = error(400, R"({"code":"Arrearage","message":"Access denied."})");
  EXPECT_EQ(owed.status, 429);
  EXPECT_EQ(owed.type, "insufficient_quota");
  proxy::ApiError missing = error(400, R"({"code":"InvalidParameter","message":"Model not )"
                                       R"(exist."})");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.code, "model_not_found");
  // An SSE error body, as DashScope answers a stream it refuses.
  proxy::ApiError event =
      error(400,
            "id:1\nevent:error\n:HTTP_STATUS/400\ndata:{\"code\":\"InvalidParameter\","
            "\"message\":\"Range of top_p should be (0.0, 1.0]\"}\n\n");
  EXPECT_EQ(event.status, 400);
  EXPECT_EQ(event.type, "invalid_request_error");
  EXPECT_EQ(event.message, "Range of top_p should be (0.0, 1.0]");

  // A stream that errs ends with the error as an OpenAI error event, no [DONE].
  bool done = false;
  std::vector<Json> events =
      eventsOf(translate(true,
                         "event:error\ndata:{\"code\":\"DataInspectionFailed\","
                         "\"message\":\"Output data may contain inappropriate content.\"}\n\n"),
               done);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["error"]["code"], "content_filter");
  EXPECT_FALSE(done);

  auto tr = dashscope()->answerTranslator(false, "qwen-plus", false, false);
  tr->feed("<html>oops</html>");
  std::optional<proxy::ApiError> bad = tr->finish();
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 502);
  auto coded = dashscope()->answerTranslator(false, "qwen-plus", false, false);
  coded->feed(R"({"code":"InvalidParameter","message":"bad"})");
  std::optional<proxy::ApiError> in_200 = coded->finish();
  ASSERT_TRUE(in_200.has_value());
  EXPECT_EQ(in_200->status, 400);
}

}  // namespace dashscope_test
}  // namespace fwd::dataplane::provider
