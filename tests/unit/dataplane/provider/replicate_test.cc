// The Replicate provider: OpenAI chat requests as predictions (the prompt rendered with each
// model's template, the parameters it refuses by name), what fwd does with each prediction it
// gets back (answer, follow its stream, poll it, fail), predictions and Replicate's streams as
// OpenAI's answers, its problems as OpenAI's errors; and which follow-up URLs fwd goes to.
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <nlohmann/json.hpp>

#include "dataplane/config/compiled_config.h"
#include "dataplane/provider/provider.h"
#include "dataplane/proxy/client_request.h"
#include "tests/unit/dataplane/provider/answer_feed.h"

namespace fwd::dataplane::provider {
namespace replicate_test {

using Json = nlohmann::json;

std::shared_ptr<const Provider> withTemplates(
    std::vector<std::pair<std::string, std::string>> templates = {}) {
  ReplicateOptions options;
  options.prompt_templates = std::move(templates);
  return replicate(std::move(options));
}

Json translated(std::string_view body, Translation* t = nullptr,
                std::shared_ptr<const Provider> p = withTemplates()) {
  std::string out;
  Translation tr = p->translateRequest("/v1/chat/completions", body, out);
  EXPECT_FALSE(tr.error.has_value()) << tr.error->message;
  if (t != nullptr) {
    *t = tr;
  }
  return Json::parse(out);
}

proxy::ApiError refused(std::string_view body, std::string_view path = "/v1/chat/completions") {
  std::string out;
  Translation tr = withTemplates()->translateRequest(path, body, out);
  EXPECT_TRUE(tr.error.has_value()) << body;
  return tr.error.value_or(proxy::ApiError{});
}

std::string promptOf(std::string_view messages, std::string_view model = "o/m",
                     std::shared_ptr<const Provider> p = withTemplates()) {
  std::string body =
      R"({"model":")" + std::string(model) + R"(","messages":)" + std::string(messages) + "}";
  return translated(body, nullptr, std::move(p))["input"]["prompt"].get<std::string>();
}

std::string translate(AnswerTranslator& tr, std::string_view answer, size_t piece = 1 << 20) {
  return answer_feed::feedAnswer(tr, answer, piece);
}

std::vector<Json> eventsOf(const std::string& stream, bool& done) {
  return answer_feed::chunkEvents(stream, done);
}

constexpr std::string_view kConversation =
    R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},)"
    R"({"role":"assistant","content":"Hello!"},{"role":"user","content":"Name a colour."}])";

TEST(ReplicateTest, ARequestBecomesAPredictionOfTheRenderedPrompt) {
  Translation t;
  Json r = translated(
      R"({"model":"mistralai/mistral-7b-instruct-v0.2","messages":[{"role":"user","content":"Hi"}],)"
      R"("temperature":0.5,"max_completion_tokens":64,"stop":["END","###"],"seed":7,"user":"u-1",)"
      R"("top_k":40,"stream":true,"stream_options":{"include_usage":true}})",
      &t);
  EXPECT_TRUE(t.stream);
  EXPECT_TRUE(t.include_usage);
  EXPECT_EQ(r["stream"], true);
  EXPECT_FALSE(r.contains("version"));
  const Json& in = r["input"];
  EXPECT_EQ(in["prompt"], "<s>[INST] Hi [/INST]");
  EXPECT_EQ(in["prompt_template"], "{prompt}");  // the model must not wrap it again
  EXPECT_EQ(in["temperature"], 0.5);
  EXPECT_EQ(in["max_tokens"], 64);
  EXPECT_EQ(in["max_new_tokens"], 64);
  EXPECT_EQ(in["stop_sequences"], "END,###");
  EXPECT_EQ(in["seed"], 7);
  EXPECT_EQ(in["top_k"], 40);
  EXPECT_FALSE(in.contains("user"));  // dropped

  Json pinned =
      translated(R"({"model":"o/m:5c7d5dc6","messages":[{"role":"user","content":"x"}]})", &t);
  EXPECT_EQ(pinned["version"], "o/m:5c7d5dc6");  // the version runs only as o/m's
  EXPECT_EQ(pinned["stream"], false);
  EXPECT_FALSE(t.include_usage);
}

// The head of the create request for `model` (a stream or not), compiled as data planes do.
std::string createHead(std::string_view model, bool stream, std::chrono::milliseconds first_byte) {
  fwd::v1::Snapshot s;
  fwd::v1::Upstream* u = s.add_upstreams();
  u->set_name("rep");
  u->set_base_url("https://api.replicate.com/v1");
  u->set_api_key("r8_key");
  u->add_models("*");
  u->set_provider(fwd::v1::PROVIDER_REPLICATE);
  auto c = config::CompiledConfig::compile(s, [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(c.ok()) << c.status();
  const config::UpstreamTarget& t = (*c)->upstreams().at(0);
  std::string_view message =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: fwd\r\nAuthorization: Bearer fwd-key\r\n"
      "Content-Length: 2\r\n\r\n{}";
  proxy::ClientRequestParser parser;
  boost::beast::error_code ec;
  while (!message.empty() && !parser.is_done() && !ec) {
    message.remove_prefix(parser.put(boost::asio::buffer(message.data(), message.size()), ec));
  }
  EXPECT_FALSE(ec) << ec.message();
  std::string body = "{\"input\":{}}";
  OutgoingRequest r{parser, "/chat/completions", body, "", model, true, stream, first_byte};
  std::string out;
  t.provider->writeRequestHead(r, t, out);
  return out;
}

TEST(ReplicateTest, APredictionIsCreatedForTheModelWaitingWithinTheFirstByteTimeout) {
  using std::chrono::milliseconds;
  std::string head = createHead("meta/llama-3", false, milliseconds(30'000));
  EXPECT_EQ(head.rfind("POST /v1/models/meta/llama-3/predictions HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nPrefer: wait=29\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nAuthorization: Bearer r8_key\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("fwd-key"), std::string::npos) << head;
  EXPECT_NE(createHead("o/m", false, milliseconds(600'000)).find("Prefer: wait=60\r\n"),
            std::string::npos);
  // A stream is followed from its stream URL: nothing to wait for.
  EXPECT_EQ(createHead("o/m", true, milliseconds(30'000)).find("Prefer"), std::string::npos);
  EXPECT_EQ(createHead("o/m:abc", false, milliseconds(30'000)).rfind("POST /v1/predictions ", 0),
            0u);
}

TEST(ReplicateTest, EachTemplateRendersTheConversation) {
  EXPECT_EQ(promptOf(kConversation),
            "<s>[INST] Be brief.\n\nHi [/INST] Hello!</s>[INST] Name a colour. [/INST]");
  auto p = withTemplates({{"*", "chatml"},
                          {"meta/llama-3:v2", "plain"},
                          {"meta/llama-3", "llama3"},
                          {"meta/llama-2", "llama2"},
                          {"base/model", "plain"}});
  EXPECT_EQ(promptOf(kConversation, "any/model", p),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n"
            "<|im_start|>assistant\n");
  // A version of a model takes the model's template.
  EXPECT_EQ(promptOf(kConversation, "meta/llama-3:abc", p),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // ... unless that version has its own, whatever the order of the entries.
  EXPECT_EQ(promptOf(kConversation, "meta/llama-3:v2", p),
            "Be brief.\n\nHi\n\nHello!\n\nName a colour.");
  EXPECT_EQ(promptOf(kConversation, "meta/llama-2", p),
            "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s>"
            "<s>[INST] Name a colour. [/INST]");
  EXPECT_EQ(promptOf(kConversation, "base/model", p),
            "Be brief.\n\nHi\n\nHello!\n\nName a colour.");
  // A last assistant message is a prefill: the prompt ends inside it. Consecutive messages of
  // one role are one turn; developer is system.
  EXPECT_EQ(promptOf(R"([{"role":"developer","content":"Terse."},{"role":"user","content":"a"},)"
                     R"({"role":"user","content":[{"type":"text","text":"b"}]},)"
                     R"({"role":"assistant","content":"Sure:"}])"),
            "<s>[INST] Terse.\n\na\n\nb [/INST] Sure:");
}

TEST(ReplicateTest, WhatAPredictionCannotExpressIsRefusedByName) {
  struct Case {
    std::string body;
    std::string param;
    int status;
  };
  const std::string msg = R"("messages":[{"role":"user","content":"x"}])";
  std::vector<Case> cases = {
      {R"({"model":"o/m",)" + msg + R"(,"tools":[]})", "tools", 400},
      {R"({"model":"o/m",)" + msg + R"(,"n":2})", "n", 400},
      {R"({"model":"o/m",)" + msg + R"(,"logprobs":true})", "logprobs", 400},
      {R"({"model":"o/m",)" + msg + R"(,"response_format":{"type":"json_object"}})",
       "response_format", 400},
      {R"({"model":"o/m",)" + msg + R"(,"stop":["a,b"]})", "stop", 400},
      {R"({"model":"o/m","messages":[{"role":"tool","content":"x"}]})", "messages[0].role", 400},
      {R"({"model":"o/m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
       "messages[0].content", 400},
      {R"({"model":"o/m","messages":[{"role":"assistant","content":null,"tool_calls":[]}]})",
       "messages[0].tool_calls", 400},
      {R"({"model":"gpt-4o",)" + msg + "}", "model", 404},
      {R"({"model":"../x",)" + msg + "}", "model", 404},
      {R"({"model":"o/..:v",)" + msg + "}", "model", 404},
      {R"({"model":"o/m"})", "messages", 400},
  };
  for (const Case& c : cases) {
    proxy::ApiError e = refused(c.body);
    EXPECT_EQ(e.status, c.status) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    EXPECT_FALSE(e.message.empty());
  }
  EXPECT_EQ(refused(R"({"model":"o/m",)" + msg + R"(,"tools":[]})").code, "unsupported_parameter");
  proxy::ApiError endpoint = refused(R"({"model":"o/m","input":"x"})", "/v1/embeddings");
  EXPECT_EQ(endpoint.status, 404);
  EXPECT_EQ(endpoint.code, "unsupported_endpoint");
}

TEST(ReplicateTest, APredictionIsAnsweredFollowedPolledOrFailed) {
  auto p = withTemplates();
  const std::string urls = R"("urls":{"get":"https://api.replicate.com/v1/predictions/p1",)"
                           R"("stream":"https://stream.replicate.com/v1/files/abc",)"
                           R"("cancel":"https://api.replicate.com/v1/predictions/p1/cancel"})";
  Translation stream;
  stream.stream = true;
  Translation whole;

  NextStep done =
      p->nextStep(R"({"id":"p1","status":"succeeded","output":["a"],)" + urls + "}", whole);
  EXPECT_EQ(done.kind, NextStep::Kind::kAnswer);

  NextStep follow = p->nextStep(R"({"id":"p1","status":"starting",)" + urls + "}", stream);
  EXPECT_EQ(follow.kind, NextStep::Kind::kFetch);
  EXPECT_TRUE(follow.event_stream);
  EXPECT_EQ(follow.url, "https://stream.replicate.com/v1/files/abc");
  EXPECT_EQ(follow.usage_url, "https://api.replicate.com/v1/predictions/p1");
  EXPECT_EQ(follow.delay.count(), 0);
  EXPECT_EQ(follow.cancel_url, "https://api.replicate.com/v1/predictions/p1/cancel");

  NextStep poll = p->nextStep(R"({"id":"p1","status":"processing",)" + urls + "}", whole);
  EXPECT_EQ(poll.kind, NextStep::Kind::kFetch);
  EXPECT_FALSE(poll.event_stream);
  EXPECT_EQ(poll.url, "https://api.replicate.com/v1/predictions/p1");
  EXPECT_EQ(poll.delay.count(), 500);
  EXPECT_EQ(poll.cancel_url, "https://api.replicate.com/v1/predictions/p1/cancel");
  // A model that cannot stream has no stream URL: polled, whatever was asked.
  NextStep no_stream = p->nextStep(
      R"({"id":"p1","status":"starting","urls":{"get":"https://api.replicate.com/v1/predictions/p1"}})",
      stream);
  EXPECT_FALSE(no_stream.event_stream);

  NextStep failed = p->nextStep(
      R"({"id":"p1","status":"failed","error":"CUDA out of memory",)" + urls + "}", whole);
  EXPECT_EQ(failed.kind, NextStep::Kind::kFail);
  EXPECT_EQ(failed.error.status, 502);
  EXPECT_EQ(failed.error.message, "Replicate's prediction p1 failed: CUDA out of memory");
  EXPECT_EQ(p->nextStep("not json", whole).kind, NextStep::Kind::kFail);
  EXPECT_EQ(p->nextStep(R"({"status":"processing"})", whole).kind, NextStep::Kind::kFail);
}

TEST(ReplicateTest, APredictionIsAChatCompletionOrAWholeStream) {
  const std::string prediction =
      R"({"id":"p1","status":"succeeded","output":["Hello"," there"],)"
      R"("metrics":{"input_token_count":12,"output_token_count":2,"predict_time":0.3}})";
  auto p = withTemplates();
  auto json = p->answerTranslator(false, "o/m", false, false);
  EXPECT_FALSE(json->eventStream(false));
  Json answer = Json::parse(translate(*json, prediction, 7));
  EXPECT_EQ(answer["id"], "chatcmpl-p1");
  EXPECT_EQ(answer["object"], "chat.completion");
  EXPECT_EQ(answer["model"], "o/m");
  EXPECT_EQ(answer["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(answer["choices"][0]["message"]["content"], "Hello there");
  EXPECT_EQ(answer["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(answer["usage"]["prompt_tokens"], 12);
  EXPECT_EQ(answer["usage"]["completion_tokens"], 2);
  EXPECT_EQ(answer["usage"]["total_tokens"], 14);
  EXPECT_EQ(json->unsentUsage(), "");

  // A stream was asked, the model could not stream: the whole output as one stream.
  auto as_stream = p->answerTranslator(false, "o/m", false, true);
  EXPECT_TRUE(as_stream->eventStream(false));
  bool done = false;
  std::vector<Json> events = eventsOf(translate(*as_stream, prediction), done);
  EXPECT_TRUE(done);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events[0]["choices"][0]["delta"]["content"], "Hello there");
  EXPECT_EQ(events[1]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(Json::parse(as_stream->unsentUsage())["usage"]["completion_tokens"], 2);

  auto failed = p->answerTranslator(false, "o/m", false, false);
  failed->feed(R"({"id":"p2","status":"failed","error":"boom"})");
  auto e = failed->finish();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 502);
}

TEST(ReplicateTest, ReplicatesStreamBecomesChunksWithUsageReadAfterIt) {
  const std::string stream =
      "event: output\nid: 1:0\ndata: Hello\n\n"
      "event: output\nid: 1:1\ndata:  wide\ndata: world\n\n"
      ": keep-alive\n\n"
      "event: done\ndata: {}\n\n";
  auto tr = withTemplates()->answerTranslator(true, "o/m", true, true);
  std::string out;
  for (size_t at = 0; at < stream.size(); at += 5) {
    tr->feed(std::string_view(stream).substr(at, 5));
    out += tr->out();
    tr->out().clear();
  }
  // The usage comes from the prediction, read once the stream is done.
  ASSERT_TRUE(tr->wantsUsage());
  tr->usageFrom(
      R"({"status":"succeeded","metrics":{"input_token_count":9,"output_token_count":3}})");
  EXPECT_FALSE(tr->wantsUsage());
  ASSERT_FALSE(tr->finish().has_value());
  out += tr->out();
  bool done = false;
  std::vector<Json> events = eventsOf(out, done);
  EXPECT_TRUE(done);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events[0]["choices"][0]["delta"]["content"], "Hello");
  EXPECT_EQ(events[1]["choices"][0]["delta"]["content"], " wide\nworld");
  EXPECT_FALSE(events[1]["choices"][0]["delta"].contains("role"));
  EXPECT_EQ(events[2]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(events[3]["usage"]["total_tokens"], 12);
  EXPECT_TRUE(events[3]["choices"].empty());
  EXPECT_EQ(events[0]["id"], events[3]["id"]);

  // Its error event ends the stream with an OpenAI error event, no [DONE].
  auto failing = withTemplates()->answerTranslator(true, "o/m", false, true);
  std::string failed =
      translate(*failing,
                "event: output\ndata: Hi\n\nevent: error\ndata: {\"detail\":\"CUDA OOM\"}\n\n"
                "event: done\ndata: {\"reason\":\"error\"}\n\n");
  EXPECT_NE(failed.find(R"("message":"Replicate's prediction failed: CUDA OOM")"),
            std::string::npos)
      << failed;
  EXPECT_EQ(failed.find("[DONE]"), std::string::npos);
  // A stream that ends without its done event was cut short.
  auto cut = withTemplates()->answerTranslator(true, "o/m", false, true);
  std::string short_one = translate(*cut, "event: output\ndata: Hi\n\n");
  EXPECT_NE(short_one.find("ended before the prediction was done"), std::string::npos);
  EXPECT_EQ(short_one.find("[DONE]"), std::string::npos);
}

TEST(ReplicateTest, ProblemsBecomeOpenAiErrors) {
  auto p = withTemplates();
  proxy::ApiError auth = p->errorAnswer(
      401,
      R"({"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401})");
  EXPECT_EQ(auth.status, 401);
  EXPECT_EQ(auth.type, "authentication_error");
  EXPECT_EQ(auth.code, "invalid_api_key");
  EXPECT_EQ(auth.message, "You did not pass a valid authentication token");
  proxy::ApiError credit = p->errorAnswer(402, R"({"title":"Insufficient credit","status":402})");
  EXPECT_EQ(credit.status, 429);
  EXPECT_EQ(credit.code, "insufficient_quota");
  EXPECT_EQ(credit.message, "Insufficient credit");
  proxy::ApiError invalid = p->errorAnswer(422, R"({"detail":"- input: prompt is required"})");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.type, "invalid_request_error");
  proxy::ApiError missing = p->errorAnswer(404, "");
  EXPECT_EQ(missing.code, "model_not_found");
  EXPECT_EQ(p->errorAnswer(429, "{}").code, "rate_limit_exceeded");
}

TEST(ReplicateTest, FollowUpsGoOnlyToTheUpstreamsHostOrReplicatesOwn) {
  const std::string_view home = withTemplates()->followUpDomain();
  EXPECT_EQ(home, "replicate.com");
  config::UpstreamTarget t;
  t.tls = true;
  t.host = "api.replicate.com";
  t.port = "443";
  std::string why;
  auto stream = followUpTarget(t, "https://stream.replicate.com/v1/files/abc?x=1", home, why);
  ASSERT_TRUE(stream.has_value()) << why;
  EXPECT_EQ(stream->host, "stream.replicate.com");
  EXPECT_EQ(stream->port, "443");
  EXPECT_EQ(stream->host_header, "stream.replicate.com");
  EXPECT_EQ(stream->target, "/v1/files/abc?x=1");
  EXPECT_EQ(stream->pool_key, "https://stream.replicate.com");
  EXPECT_TRUE(followUpTarget(t, "https://api.replicate.com:8443/v1/p/1", home, why).has_value());
  EXPECT_TRUE(followUpTarget(t, "https://replicate.com/x", home, why).has_value());

  EXPECT_FALSE(followUpTarget(t, "https://evil.example/v1/files/abc", home, why).has_value());
  EXPECT_EQ(why,
            "a follow-up URL goes to evil.example, not to api.replicate.com or a host of "
            "replicate.com");
  EXPECT_FALSE(followUpTarget(t, "https://replicate.com.evil.example/x", home, why).has_value());
  EXPECT_FALSE(followUpTarget(t, "http://stream.replicate.com/x", home, why).has_value());
  EXPECT_FALSE(followUpTarget(t, "not a url", home, why).has_value());

  config::UpstreamTarget local;
  local.host = "127.0.0.1";
  local.port = "8080";
  auto same = followUpTarget(local, "http://127.0.0.1:9090/stream/v1/files/1", home, why);
  ASSERT_TRUE(same.has_value()) << why;
  EXPECT_EQ(same->host_header, "127.0.0.1:9090");
  EXPECT_EQ(same->pool_key, "http://127.0.0.1:9090");
  EXPECT_FALSE(followUpTarget(local, "http://127.0.0.2/x", home, why).has_value());
  // An upstream outside Replicate's domain (a proxy of it): its own host only, whatever domain
  // it shares with others (example.co.uk is under a public suffix).
  config::UpstreamTarget proxy;
  proxy.tls = true;
  proxy.host = "api.example.co.uk";
  EXPECT_TRUE(followUpTarget(proxy, "https://api.example.co.uk/x", home, why).has_value());
  EXPECT_FALSE(followUpTarget(proxy, "https://stream.example.co.uk/x", home, why).has_value());
  EXPECT_EQ(why, "a follow-up URL goes to stream.example.co.uk, not to api.example.co.uk");
  EXPECT_FALSE(followUpTarget(proxy, "https://stream.replicate.com/x", home, why).has_value());
  EXPECT_FALSE(followUpTarget(proxy, "https://evil.co.uk/x", home, why).has_value());
}

}  // namespace replicate_test
}  // namespace fwd::dataplane::provider
