// Stream conversion, both ways: a stream's chunks assembled into the one answer a client that
// asked for none gets (content, tool calls from their deltas, several choices, logprobs,
// refusal, reasoning, usage), and a JSON answer as the chunk events of a stream; an answer that
// carries an error, is not JSON, is empty or too large is an error, never half an answer.
#include "dataplane/stream/convert.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fwd::dataplane::stream {
namespace convert_test {

using Json = nlohmann::json;
using Direction = AnswerConverter::Direction;

std::string event(const Json& chunk) { return "data: " + chunk.dump() + "\n\n"; }

Json chunk(Json choices, Json usage = nullptr) {
  Json c = {{"id", "chatcmpl-1"},           {"object", "chat.completion.chunk"},
            {"created", 1700000000},        {"model", "gpt-4o-2024-08-06"},
            {"system_fingerprint", "fp_1"}, {"choices", std::move(choices)}};
  if (!usage.is_null()) {
    c["usage"] = std::move(usage);
  }
  return c;
}

Json delta(Json d, int index = 0, Json finish = nullptr) {
  return Json::array({{{"index", index}, {"delta", std::move(d)}, {"finish_reason", finish}}});
}

const Json kUsage = {{"prompt_tokens", 9}, {"completion_tokens", 3}, {"total_tokens", 12}};

// The events of a plain chat stream: role, two content pieces, finish, usage, [DONE].
std::string chatStream() {
  return event(chunk(delta({{"role", "assistant"}, {"content", ""}}))) +
         event(chunk(delta({{"content", "Hello"}}))) +
         event(chunk(delta({{"content", " there"}}))) +
         event(chunk(delta(Json::object(), 0, "stop"))) + event(chunk(Json::array(), kUsage)) +
         "data: [DONE]\n\n";
}

// Assembles `stream` fed in pieces of `piece` bytes.
Json assemble(const std::string& stream, size_t piece = 1 << 20, Api api = Api::kChat) {
  AnswerConverter c(Direction::kStreamToJson, api, false);
  for (size_t at = 0; at < stream.size(); at += piece) {
    c.feed(std::string_view(stream).substr(at, piece));
  }
  std::optional<proxy::ApiError> e = c.finish();
  EXPECT_FALSE(e.has_value()) << e->message;
  return Json::parse(c.out());
}

// The error `stream` assembles to; `from_upstream`: whether the upstream sent it.
std::optional<proxy::ApiError> assembleError(const std::string& stream,
                                             bool from_upstream = false) {
  AnswerConverter c(Direction::kStreamToJson, Api::kChat, false);
  c.feed(stream);
  std::optional<proxy::ApiError> e = c.finish();
  EXPECT_EQ(c.upstreamSentError(), from_upstream) << stream;
  return e;
}

// The chunks of the events in `stream`, in order, and whether it ended with [DONE].
std::vector<Json> chunksOf(const std::string& stream, bool& done) {
  std::vector<Json> out;
  done = false;
  size_t at = 0;
  while (at < stream.size()) {
    size_t end = stream.find("\n\n", at);
    EXPECT_NE(end, std::string::npos);
    std::string line = stream.substr(at, end - at);
    EXPECT_TRUE(line.starts_with("data: ")) << line;
    std::string data = line.substr(6);
    if (data == "[DONE]") {
      done = true;
    } else {
      EXPECT_FALSE(done) << "an event after [DONE]";
      out.push_back(Json::parse(data));
    }
    at = end + 2;
  }
  return out;
}

TEST(ConvertTest, OnlyChatAndTextCompletionsConvert) {
  EXPECT_EQ(convertibleApi("/v1/chat/completions"), Api::kChat);
  EXPECT_EQ(convertibleApi("/v1/completions"), Api::kCompletions);
  EXPECT_FALSE(convertibleApi("/v1/embeddings"));
  EXPECT_FALSE(convertibleApi("/v1/responses"));
}

TEST(ConvertTest, AStreamBecomesOneChatCompletionWithItsUsage) {
  Json a = assemble(chatStream());
  EXPECT_EQ(a["id"], "chatcmpl-1");
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["created"], 1700000000);
  EXPECT_EQ(a["model"], "gpt-4o-2024-08-06");
  EXPECT_EQ(a["system_fingerprint"], "fp_1");
  ASSERT_EQ(a["choices"].size(), 1u);
  const Json& c = a["choices"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_EQ(c["message"]["content"], "Hello there");
  EXPECT_TRUE(c["message"]["refusal"].is_null());
  EXPECT_FALSE(c["message"].contains("tool_calls"));
  EXPECT_EQ(c["finish_reason"], "stop");
  EXPECT_TRUE(c["logprobs"].is_null());
  EXPECT_EQ(a["usage"], kUsage);
  // The keys in OpenAI's order.
  std::string text = assemble(chatStream()).dump();
  EXPECT_LT(text.find("\"choices\""), text.find("\"usage\""));
}

TEST(ConvertTest, AzuresOpeningEventWithoutIdOrModelYieldsToTheChunks) {
  // Azure opens a stream with {"choices":[],"id":"","created":0,"model":"",
  // "prompt_filter_results":[...]}: its blanks are not the answer's id, created and model.
  Json opening = {{"choices", Json::array()},
                  {"created", 0},
                  {"id", ""},
                  {"model", ""},
                  {"object", ""},
                  {"prompt_filter_results", Json::array({{{"prompt_index", 0}}})}};
  Json a = assemble(event(opening) + chatStream());
  EXPECT_EQ(a["id"], "chatcmpl-1");
  EXPECT_EQ(a["created"], 1700000000);
  EXPECT_EQ(a["model"], "gpt-4o-2024-08-06");
  EXPECT_EQ(a["choices"][0]["message"]["content"], "Hello there");
}

TEST(ConvertTest, HowTheStreamIsCutIntoReadsChangesNothing) {
  std::string stream = chatStream();
  Json whole = assemble(stream);
  EXPECT_EQ(assemble(stream, 1), whole);
  EXPECT_EQ(assemble(stream, 7), whole);
  // CRLF line ends and a comment line are SSE too.
  std::string crlf;
  for (char ch : ": keep-alive\n\n" + stream) {
    crlf += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
  }
  EXPECT_EQ(assemble(crlf, 5), whole);
}

TEST(ConvertTest, ToolCallsArePutTogetherFromTheirDeltasByIndex) {
  auto call = [](int index, Json fields) {
    fields["index"] = index;
    return Json{{"tool_calls", Json::array({std::move(fields)})}};
  };
  std::string stream =
      event(chunk(delta({{"role", "assistant"}, {"content", nullptr}}))) +
      event(chunk(delta(call(0, {{"id", "call_a"},
                                 {"type", "function"},
                                 {"function", {{"name", "get_weather"}, {"arguments", ""}}}})))) +
      event(chunk(delta(call(0, {{"function", {{"arguments", "{\"city\":"}}}})))) +
      event(chunk(delta(call(1, {{"id", "call_b"},
                                 {"type", "function"},
                                 {"function", {{"name", "get_time"}, {"arguments", "{}"}}}})))) +
      event(chunk(delta(call(0, {{"function", {{"arguments", "\"Paris\"}"}}}})))) +
      event(chunk(delta(Json::object(), 0, "tool_calls"))) + "data: [DONE]\n\n";
  Json a = assemble(stream, 3);
  const Json& m = a["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null());
  ASSERT_EQ(m["tool_calls"].size(), 2u);
  EXPECT_EQ(m["tool_calls"][0],
            Json({{"id", "call_a"},
                  {"type", "function"},
                  {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}));
  EXPECT_EQ(m["tool_calls"][1]["id"], "call_b");
  EXPECT_EQ(m["tool_calls"][1]["function"]["name"], "get_time");
  EXPECT_EQ(a["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_FALSE(a.contains("usage"));  // none came
}

TEST(ConvertTest, SeveralChoicesLogprobsRefusalAndReasoningAreKeptApart) {
  auto lp = [](const char* token) {
    return Json{{"content", Json::array({{{"token", token}, {"logprob", -0.5}}})}};
  };
  Json both = Json::array({{{"index", 1}, {"delta", {{"content", "B1"}}}, {"logprobs", lp("B1")}},
                           {{"index", 0}, {"delta", {{"content", "A1"}}}, {"logprobs", lp("A1")}}});
  std::string stream =
      event(chunk(both)) + event(chunk(delta({{"content", "A2"}}, 0))) +
      event(chunk(delta({{"reasoning_content", "think"}}, 1))) +
      event(chunk(delta({{"refusal", "no"}}, 1))) +
      event(chunk(
          Json::array({{{"index", 0},
                        {"delta", Json::object()},
                        {"logprobs", lp("A2")},
                        {"finish_reason", "length"}},
                       {{"index", 1}, {"delta", Json::object()}, {"finish_reason", "stop"}}})));
  Json a = assemble(stream);
  ASSERT_EQ(a["choices"].size(), 2u);
  const Json& first = a["choices"][0];
  const Json& second = a["choices"][1];
  EXPECT_EQ(first["index"], 0);
  EXPECT_EQ(first["message"]["content"], "A1A2");
  EXPECT_EQ(first["finish_reason"], "length");
  ASSERT_EQ(first["logprobs"]["content"].size(), 2u);
  EXPECT_EQ(first["logprobs"]["content"][1]["token"], "A2");
  EXPECT_EQ(second["index"], 1);
  EXPECT_EQ(second["message"]["content"], "B1");
  EXPECT_EQ(second["message"]["refusal"], "no");
  EXPECT_EQ(second["message"]["reasoning_content"], "think");
  EXPECT_EQ(second["finish_reason"], "stop");
}

TEST(ConvertTest, UpstreamsWhitespaceAndEscapesSurviveTheAssembly) {
  // Values copied as written (ids, logprobs arrays) keep their meaning whatever the spacing;
  // escaped text is unescaped and escaped again.
  std::string stream =
      "data: { \"id\" : \"c\\u0041\" , \"choices\" : [ { \"index\" : 0 , \"delta\" : "
      "{ \"content\" : \"a\\\"b\\n\" } , \"logprobs\" : { \"content\" : [ 1 , 2 ] } "
      "} ] }\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":{\"content\":[ ]},"
      "\"finish_reason\" : \"stop\" }]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":{\"content\":[3]}}]}\n\n";
  Json a = assemble(stream);
  EXPECT_EQ(a["id"], "cA");
  EXPECT_EQ(a["choices"][0]["message"]["content"], "a\"b\n");
  EXPECT_EQ(a["choices"][0]["logprobs"]["content"], Json({1, 2, 3}));
  EXPECT_EQ(a["choices"][0]["finish_reason"], "stop");
}

TEST(ConvertTest, MalformedJsonInsideAValueCopiedAsWrittenIsABadGateway) {
  // Found by the fuzzer: on-demand reads delimit a logprobs array, usage object or id without
  // checking inside it; the answer must never carry the upstream's malformed JSON.
  for (const std::string& bad :
       {std::string(R"({"choices":[{"index":0,"delta":{"content":"B"},)"
                    R"("logprobs":{"content":[{"token":"B";,"logprob":-1}]}}]})"),
        std::string(R"({"usage":{"prompt_tokens":1;},"choices":[]})"),
        std::string(R"({"id":tru,"choices":[]})")}) {
    std::optional<proxy::ApiError> e = assembleError("data: " + bad + "\n\n");
    ASSERT_TRUE(e) << bad;
    EXPECT_EQ(e->status, 502);
  }
}

TEST(ConvertTest, ATextCompletionStreamBecomesOneTextCompletion) {
  auto piece = [](const char* text, Json finish) {
    return event(
        {{"id", "cmpl-1"},
         {"object", "text_completion"},
         {"created", 1},
         {"model", "gpt-3.5-turbo-instruct"},
         {"choices", Json::array({{{"text", text},
                                   {"index", 0},
                                   {"logprobs", {{"tokens", {text}}, {"token_logprobs", {-0.1}}}},
                                   {"finish_reason", finish}}})}});
  };
  Json a = assemble(piece("Once", nullptr) + piece(" upon", "length") + "data: [DONE]\n\n", 4,
                    Api::kCompletions);
  EXPECT_EQ(a["object"], "text_completion");
  EXPECT_EQ(a["choices"][0]["text"], "Once upon");
  EXPECT_EQ(a["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(a["choices"][0]["logprobs"]["tokens"], Json({"Once", " upon"}));
  EXPECT_FALSE(a["choices"][0].contains("message"));
}

TEST(ConvertTest, AStreamThatCarriesAnErrorIsThatError) {
  std::optional<proxy::ApiError> e =
      assembleError(event(chunk(delta({{"role", "assistant"}}))) +
                        event({{"error",
                                {{"message", "This model's maximum context length is 8192 tokens"},
                                 {"type", "invalid_request_error"},
                                 {"param", "messages"},
                                 {"code", "context_length_exceeded"}}}}),
                    true);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->type, "invalid_request_error");
  EXPECT_EQ(e->code, "context_length_exceeded");
  EXPECT_EQ(e->param, "messages");
  EXPECT_EQ(e->message, "This model's maximum context length is 8192 tokens");
  // vLLM puts the HTTP status in "code".
  e = assembleError(event({{"error", {{"message", "overloaded"}, {"code", 503}}}}), true);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 503);
  e = assembleError(event({{"error", "boom"}}), true);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 502);
  EXPECT_EQ(e->message, "boom");
}

TEST(ConvertTest, WhatIsNotAStreamOfChunksIsABadGateway) {
  for (const std::string& stream :
       {std::string("data: {not json\n\n"), std::string("data: [DONE]\n\n"), std::string(),
        std::string("data: [1,2]\n\n"),
        // An event cut before its blank line is not one.
        std::string("data: {\"choices\":[]}")}) {
    std::optional<proxy::ApiError> e = assembleError(stream);
    ASSERT_TRUE(e) << stream;
    EXPECT_EQ(e->status, 502) << stream;
    EXPECT_EQ(e->type, "api_error");
  }
}

TEST(ConvertTest, AJsonAnswerBecomesTheEventsOfARealStream) {
  Json answer = {{"id", "chatcmpl-9"},
                 {"object", "chat.completion"},
                 {"created", 1700000001},
                 {"model", "gpt-4o"},
                 {"choices", Json::array({{{"index", 0},
                                           {"message", {{"role", "assistant"}, {"content", "Hi!"}}},
                                           {"logprobs", nullptr},
                                           {"finish_reason", "stop"}}})},
                 {"usage", kUsage},
                 {"system_fingerprint", "fp_9"}};
  for (bool include_usage : {false, true}) {
    AnswerConverter c(Direction::kJsonToStream, Api::kChat, include_usage);
    std::string text = answer.dump();
    c.feed(std::string_view(text).substr(0, 10));
    c.feed(std::string_view(text).substr(10));
    ASSERT_FALSE(c.finish());
    EXPECT_EQ(c.contentType(), "text/event-stream");
    bool done = false;
    std::vector<Json> chunks = chunksOf(c.out(), done);
    EXPECT_TRUE(done);
    ASSERT_EQ(chunks.size(), include_usage ? 4u : 3u);
    for (const Json& ch : chunks) {
      EXPECT_EQ(ch["id"], "chatcmpl-9");
      EXPECT_EQ(ch["object"], "chat.completion.chunk");
      EXPECT_EQ(ch["created"], 1700000001);
      EXPECT_EQ(ch["model"], "gpt-4o");
      EXPECT_EQ(ch["system_fingerprint"], "fp_9");
      EXPECT_EQ(ch.contains("usage"), include_usage);
    }
    EXPECT_EQ(chunks[0]["choices"][0]["delta"],
              Json({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}));
    EXPECT_EQ(chunks[1]["choices"][0]["delta"], Json({{"content", "Hi!"}}));
    EXPECT_TRUE(chunks[1]["choices"][0]["finish_reason"].is_null());
    EXPECT_EQ(chunks[2]["choices"][0]["delta"], Json::object());
    EXPECT_EQ(chunks[2]["choices"][0]["finish_reason"], "stop");
    if (include_usage) {
      EXPECT_EQ(chunks[3]["choices"], Json::array());
      EXPECT_EQ(chunks[3]["usage"], kUsage);
      EXPECT_TRUE(chunks[2]["usage"].is_null());
    }
  }
}

TEST(ConvertTest, ToolCallsAndSeveralChoicesSurviveTheRoundTrip) {
  Json answer = {
      {"id", "chatcmpl-2"},
      {"object", "chat.completion"},
      {"created", 5},
      {"model", "m"},
      {"choices",
       Json::array(
           {{{"index", 0},
             {"message",
              {{"role", "assistant"},
               {"content", nullptr},
               {"refusal", nullptr},
               {"tool_calls",
                Json::array({{{"id", "call_1"},
                              {"type", "function"},
                              {"function", {{"name", "f"}, {"arguments", "{\"a\":1}"}}}},
                             {{"id", "call_2"},
                              {"type", "function"},
                              {"function", {{"name", "g"}, {"arguments", "{}"}}}}})}}},
             {"logprobs", nullptr},
             {"finish_reason", "tool_calls"}},
            {{"index", 1},
             {"message", {{"role", "assistant"}, {"content", "text"}, {"refusal", nullptr}}},
             {"logprobs", nullptr},
             {"finish_reason", "stop"}}})},
      {"usage", kUsage}};
  std::string events;
  ASSERT_FALSE(eventsFromJson(Api::kChat, answer.dump(), true, events));
  Json back = assemble(events, 13);
  EXPECT_EQ(back["choices"], answer["choices"]);
  EXPECT_EQ(back["usage"], kUsage);
  EXPECT_EQ(back["id"], "chatcmpl-2");
}

TEST(ConvertTest, ATextCompletionBecomesTextCompletionEvents) {
  Json answer = {
      {"id", "cmpl-3"},
      {"object", "text_completion"},
      {"created", 7},
      {"model", "instruct"},
      {"choices",
       Json::array(
           {{{"text", "abc"}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", "stop"}}})},
      {"usage", kUsage}};
  std::string events;
  ASSERT_FALSE(eventsFromJson(Api::kCompletions, answer.dump(), false, events));
  bool done = false;
  std::vector<Json> chunks = chunksOf(events, done);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0]["object"], "text_completion");
  EXPECT_EQ(chunks[0]["choices"][0]["text"], "abc");
  EXPECT_EQ(chunks[1]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(assemble(events, 2, Api::kCompletions)["choices"][0]["text"], "abc");
}

TEST(ConvertTest, AJsonErrorBodyIsTheUpstreamsError) {
  AnswerConverter c(Direction::kJsonToStream, Api::kChat, false);
  c.feed(R"({"error":{"message":"slow down","code":429}})");
  std::optional<proxy::ApiError> e = c.finish();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 429);
  EXPECT_TRUE(c.upstreamSentError());
  AnswerConverter broken(Direction::kJsonToStream, Api::kChat, false);
  broken.feed("{");
  ASSERT_TRUE(broken.finish());
  EXPECT_FALSE(broken.upstreamSentError());
}

TEST(ConvertTest, AJsonAnswerThatIsNoAnswerIsAnError) {
  std::string events;
  std::optional<proxy::ApiError> e = eventsFromJson(Api::kChat, "{\"choices\":", false, events);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 502);
  e = eventsFromJson(Api::kChat, "{\"id\":\"x\"}", false, events);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 502);
  e = eventsFromJson(Api::kChat,
                     R"({"error":{"message":"bad","type":"invalid_request_error","code":null}})",
                     false, events);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->message, "bad");
}

TEST(ConvertTest, AnAnswerTooLargeToHoldIsAnError) {
  AnswerConverter c(Direction::kJsonToStream, Api::kChat, false);
  std::string mib(1 << 20, ' ');
  for (size_t i = 0; i <= kMaxConvertedAnswer >> 20; ++i) {
    c.feed(mib);
  }
  std::optional<proxy::ApiError> e = c.finish();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 502);
  EXPECT_NE(e->message.find("over 8 MiB of text"), std::string::npos);
  EXPECT_FALSE(c.upstreamSentError());
  EXPECT_TRUE(c.out().empty());
}

}  // namespace convert_test
}  // namespace fwd::dataplane::stream
