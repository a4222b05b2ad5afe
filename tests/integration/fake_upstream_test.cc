// Self-tests of the integration harness: the real fake_upstream binary, started as a child
// process on port 0, answers every endpoint and injects every fault the integration tests of fwd
// rely on; ChildProcess and runCommand clean up after themselves.
#include "tests/integration/harness/fake_upstream.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness/binaries.h"
#include "tests/integration/harness/http_client.h"
#include "tests/integration/harness/process.h"
#include "tests/integration/harness/wait.h"

namespace fwd::harness {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const Headers kJsonType = {{"Content-Type", "application/json"}};

Headers withJson(Headers extra) {
  extra.emplace("Content-Type", "application/json");
  return extra;
}

// The JSON payloads of "data: ..." events, in order ("[DONE]" included as is).
std::vector<std::string> sseData(const std::string& body) {
  std::vector<std::string> events;
  size_t start = 0;
  for (size_t end = body.find("\n\n"); end != std::string::npos; end = body.find("\n\n", start)) {
    std::string event = body.substr(start, end - start);
    if (event.rfind("data: ", 0) == 0) {
      events.push_back(event.substr(6));
    }
    start = end + 2;
  }
  return events;
}

std::string sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

// Gone, or a zombie waiting for init to reap it (it no longer runs either way).
bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    return true;
  }
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) {
    return true;
  }
  char state = '?';
  int matched = std::fscanf(f, "%*d (%*[^)]) %c", &state);
  std::fclose(f);
  return matched == 1 && state == 'Z';
}

class FakeUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.start("up1", {"--models", "m1,m2"}));
    endpoint_ = Endpoint{"127.0.0.1", fake_.port(), false};
  }

  Response post(const std::string& target, const std::string& body, Headers headers = {},
                milliseconds timeout = std::chrono::seconds(10)) {
    return httpRequest(endpoint_, "POST", target, withJson(std::move(headers)), body, timeout);
  }

  Response get(const std::string& target) { return httpRequest(endpoint_, "GET", target); }

  FakeUpstreamProcess fake_;
  Endpoint endpoint_;
};

TEST_F(FakeUpstreamTest, ChatCompletionEchoesModelAndRequestHeaders) {
  // A chat completion echoes the model, names the upstream, and reports what it received.
  const std::string body = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  Response r = post("/v1/chat/completions?api-version=2024-01-01", body,
                    {{"Authorization", "Bearer sk-upstream"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.complete);
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "gpt-4o-mini");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello from up1");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(j["usage"]["total_tokens"], 13);
  EXPECT_GT(r.body.size(), 500u);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("x-fake-upstream"), "up1");
  EXPECT_EQ(r.header("X-Fake-Path"), "/v1/chat/completions?api-version=2024-01-01");
  EXPECT_EQ(r.header("x-fake-authorization"), "Bearer sk-upstream");
  EXPECT_EQ(r.header("x-fake-request-bytes"), std::to_string(body.size()));
  EXPECT_EQ(r.header("x-request-id").rfind("fake-", 0), 0u);
  EXPECT_EQ(r.header("openai-processing-ms"), "1");
  EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "999");
}

TEST_F(FakeUpstreamTest, StreamedChatSendsChunksUsageAndDone) {
  // A streamed chat sends N chunks of one token each, the usage chunk on request, then [DONE].
  Response r = post("/v1/chat/completions",
                    R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})",
                    {{"x-fake-chunks", "4"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  std::vector<std::string> events = sseData(r.body);
  ASSERT_EQ(events.size(), 6u);  // 4 chunks + usage + [DONE]
  std::string text;
  for (int i = 0; i < 4; ++i) {
    json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["model"], "m");
    text += chunk["choices"][0]["delta"]["content"].get<std::string>();
    EXPECT_EQ(chunk["choices"][0]["finish_reason"].is_null(), i < 3) << i;
  }
  EXPECT_EQ(text, "Hello from up1 t3");
  json usage = json::parse(events[4]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 4);
  EXPECT_EQ(events[5], "[DONE]");
}

TEST_F(FakeUpstreamTest, StreamWithoutUsageHasDefaultFiveChunks) {
  // Without headers a stream has five chunks and no usage chunk.
  Response r = post("/v1/chat/completions", R"({"model":"m","stream":true})");
  ASSERT_EQ(r.status, 200) << r.error;
  std::vector<std::string> events = sseData(r.body);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(json::parse(events[4])["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(events[5], "[DONE]");
}

TEST_F(FakeUpstreamTest, StreamArrivesIncrementally) {
  // Events are flushed one by one: their arrival times are spread by the chunk delay.
  std::vector<Clock::time_point> event_arrivals;
  const Clock::time_point start = Clock::now();
  Response r = streamRequest(endpoint_, "POST", "/v1/chat/completions",
                             withJson({{"x-fake-chunks", "4"}, {"x-fake-chunk-delay-ms", "100"}}),
                             R"({"model":"m","stream":true})",
                             [&](std::string_view piece, Clock::time_point arrival) {
                               for (size_t at = piece.find("\n\n"); at != std::string_view::npos;
                                    at = piece.find("\n\n", at + 2)) {
                                 event_arrivals.push_back(arrival);
                               }
                               return true;
                             });
  ASSERT_EQ(r.status, 200) << r.error;
  ASSERT_TRUE(r.complete);
  ASSERT_EQ(event_arrivals.size(), 5u);  // 4 chunks + [DONE]
  // Four 100 ms gaps: the first event arrives long before the last, and every gap is visible
  // (bounds leave room for a loaded CI machine; a buffered stream would show gaps near zero).
  EXPECT_GE(event_arrivals[4] - event_arrivals[0], milliseconds(350));
  EXPECT_LT(event_arrivals[0] - start, event_arrivals[4] - start - milliseconds(300));
  for (size_t i = 1; i < event_arrivals.size(); ++i) {
    EXPECT_GE(event_arrivals[i] - event_arrivals[i - 1], milliseconds(50)) << "event " << i;
  }
}

TEST_F(FakeUpstreamTest, EventsPerWriteKeepsTheEventsAndHeadBytesPadsTheHead) {
  // x-fake-events-per-write changes only how the stream is written, not what it says; and
  // x-fake-head-bytes: N makes the head about N bytes long with one x-fake-pad field.
  const std::string body = R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})";
  Response one = post("/v1/chat/completions", body, {{"x-fake-chunks", "10"}});
  Response grouped = post(
      "/v1/chat/completions", body,
      {{"x-fake-chunks", "10"}, {"x-fake-events-per-write", "4"}, {"x-fake-head-bytes", "30000"}});
  ASSERT_EQ(one.status, 200) << one.error;
  ASSERT_EQ(grouped.status, 200) << grouped.error;
  EXPECT_TRUE(grouped.complete);
  std::vector<std::string> a = sseData(one.body);
  std::vector<std::string> b = sseData(grouped.body);
  ASSERT_EQ(a.size(), 12u);  // 10 chunks + usage + [DONE]
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    EXPECT_EQ(json::parse(a[i])["choices"], json::parse(b[i])["choices"]) << i;
  }
  EXPECT_EQ(b.back(), "[DONE]");
  EXPECT_FALSE(one.hasHeader("x-fake-pad"));
  size_t pad = grouped.header("x-fake-pad").size();
  EXPECT_GT(pad, 29000u);
  EXPECT_LT(pad, 30000u);
}

TEST_F(FakeUpstreamTest, ClientCanHangUpMidStream) {
  // A stream callback returning false closes the connection; the fake keeps serving.
  int pieces = 0;
  Response r = streamRequest(endpoint_, "POST", "/v1/chat/completions",
                             withJson({{"x-fake-chunks", "50"}, {"x-fake-chunk-delay-ms", "20"}}),
                             R"({"model":"m","stream":true})",
                             [&](std::string_view, Clock::time_point) { return ++pieces < 2; });
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(pieces, 2);
  EXPECT_EQ(get("/v1/models").status, 200);
}

TEST_F(FakeUpstreamTest, CutAfterClosesWithoutFinalChunkOrDone) {
  // x-fake-cut-after: K sends K events and then drops the connection.
  Response r =
      post("/v1/chat/completions", R"({"model":"m","stream":true})", {{"x-fake-cut-after", "2"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.complete);
  EXPECT_FALSE(r.error.empty());
  std::vector<std::string> events = sseData(r.body);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
}

TEST_F(FakeUpstreamTest, StallDelaysTheResponseHead) {
  // x-fake-stall-ms holds the response head back; a shorter client timeout expires first.
  const Clock::time_point start = Clock::now();
  Response r = post("/v1/chat/completions", R"({"model":"m"})", {{"x-fake-stall-ms", "300"}});
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_GE(Clock::now() - start, milliseconds(300));
  Response timed_out = post("/v1/chat/completions", R"({"model":"m"})",
                            {{"x-fake-stall-ms", "2000"}}, milliseconds(100));
  EXPECT_EQ(timed_out.status, 0);
  EXPECT_FALSE(timed_out.error.empty());
}

TEST_F(FakeUpstreamTest, StallDoesNotBlockOtherRequests) {
  // A stalled request waits on a timer: with one thread, other requests are still answered.
  Response stalled;
  std::thread slow([&] {
    stalled = post("/v1/chat/completions", R"({"model":"m"})", {{"x-fake-stall-ms", "1500"}});
  });
  ASSERT_TRUE(waitFor([&] { return fake_.requests().value_or(0) >= 1; }, milliseconds(1000),
                      "the stalled request to arrive"));
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(get("/v1/models").status, 200);
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  slow.join();
  EXPECT_EQ(stalled.status, 200) << stalled.error;
}

TEST_F(FakeUpstreamTest, StatusHeaderAndModelPrefixGiveOpenAIErrors) {
  // x-fake-status and model fake-status-N answer N with an OpenAI error body; 429 adds
  // retry-after (1, or x-fake-retry-after).
  Response r = post("/v1/chat/completions", R"({"model":"m"})", {{"x-fake-status", "503"}});
  ASSERT_EQ(r.status, 503);
  json j = json::parse(r.body);
  EXPECT_EQ(j["error"]["message"], "fake upstream error 503");
  EXPECT_EQ(j["error"]["type"], "server_error");
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_TRUE(j["error"].contains("code"));
  EXPECT_EQ(r.header("x-fake-upstream"), "up1");

  Response by_model = post("/v1/chat/completions", R"({"model":"fake-status-400","stream":true})");
  EXPECT_EQ(by_model.status, 400);
  EXPECT_EQ(json::parse(by_model.body)["error"]["type"], "invalid_request_error");

  Response limited = post("/v1/embeddings", R"({"model":"fake-status-429","input":"x"})");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.header("retry-after"), "1");
  EXPECT_EQ(json::parse(limited.body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_FALSE(post("/v1/chat/completions", R"({"model":"m"})").hasHeader("retry-after"));
  Response longer = post("/v1/chat/completions", R"({"model":"m"})",
                         {{"x-fake-status", "429"}, {"x-fake-retry-after", "30"}});
  EXPECT_EQ(longer.header("retry-after"), "30");
}

TEST_F(FakeUpstreamTest, CloseHeaderDropsTheConnectionWithoutAnswer) {
  // x-fake-close: 1 closes the connection before any response byte.
  Response r = post("/v1/chat/completions", R"({"model":"m"})", {{"x-fake-close", "1"}});
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
}

TEST_F(FakeUpstreamTest, CompletionsAnswerAndStream) {
  // The legacy completions endpoint answers text_completion objects, streamed or not.
  Response r = post("/v1/completions", R"({"model":"davinci","prompt":"x"})");
  ASSERT_EQ(r.status, 200) << r.error;
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "Hello from up1");
  Response s = post("/v1/completions", R"({"model":"davinci","prompt":"x","stream":true})",
                    {{"x-fake-chunks", "2"}});
  std::vector<std::string> events = sseData(s.body);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(json::parse(events[0])["choices"][0]["text"], "Hello");
  EXPECT_EQ(json::parse(events[1])["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(events[2], "[DONE]");
}

TEST_F(FakeUpstreamTest, EmbeddingsReturnOneVectorPerInput) {
  // An array input gets one 8-float embedding per element; a string input gets one.
  Response r = post("/v1/embeddings", R"({"model":"emb","input":["a","b","c"]})");
  ASSERT_EQ(r.status, 200) << r.error;
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "emb");
  ASSERT_EQ(j["data"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(j["data"][i]["index"], i);
    EXPECT_EQ(j["data"][i]["embedding"].size(), 8u);
  }
  EXPECT_EQ(json::parse(post("/v1/embeddings", R"({"model":"e","input":"a"})").body)["data"].size(),
            1u);
}

TEST_F(FakeUpstreamTest, Base64EmbeddingsDecodeToTheSameFloats) {
  // encoding_format "base64" (the OpenAI SDKs' default) carries the same vector as float32 LE.
  json floats = json::parse(post("/v1/embeddings", R"({"model":"e","input":"a"})").body);
  Response r = post("/v1/embeddings", R"({"model":"e","input":"a","encoding_format":"base64"})");
  ASSERT_EQ(r.status, 200) << r.error;
  std::string encoded = json::parse(r.body)["data"][0]["embedding"].get<std::string>();
  unsigned char decoded[64];
  int n = EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(encoded.data()),
                          static_cast<int>(encoded.size()));
  ASSERT_GE(n, 32);  // EVP_DecodeBlock counts padding bytes too
  float values[8];
  std::memcpy(values, decoded, sizeof(values));
  for (int k = 0; k < 8; ++k) {
    EXPECT_EQ(values[k], floats["data"][0]["embedding"][k].get<float>()) << k;
  }
}

TEST_F(FakeUpstreamTest, TranscriptionEchoesDigestOfTheRawMultipartBody) {
  // The transcription answer carries size, SHA-256 and Content-Type of the exact bytes received.
  const std::string boundary = "----fwdtestboundary";
  static constexpr char kAudio[] = "RIFF\0\0\0\0WAVE\r\n--not-a-boundary\xff\xfe";
  std::string audio(kAudio, sizeof kAudio - 1);  // NULs included, the terminator not
  std::string body = "--" + boundary +
                     "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--" +
                     boundary +
                     "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                     "Content-Type: audio/wav\r\n\r\n" +
                     audio + "\r\n--" + boundary + "--\r\n";
  const std::string content_type = "multipart/form-data; boundary=" + boundary;
  Response r = httpRequest(endpoint_, "POST", "/v1/audio/transcriptions",
                           {{"Content-Type", content_type}}, body);
  ASSERT_EQ(r.status, 200) << r.error;
  json j = json::parse(r.body);
  EXPECT_EQ(j["text"], "transcribed by up1");
  EXPECT_EQ(j["fake_received_bytes"], body.size());
  EXPECT_EQ(j["fake_sha256"], sha256Hex(body));
  EXPECT_EQ(j["fake_content_type"], content_type);
}

TEST_F(FakeUpstreamTest, ModelsListTheConfiguredModels) {
  // GET .../models lists the --models flag.
  Response r = get("/openai/v1/models");
  ASSERT_EQ(r.status, 200) << r.error;
  json j = json::parse(r.body);
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["id"], "m1");
  EXPECT_EQ(j["data"][1]["id"], "m2");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

TEST_F(FakeUpstreamTest, PostFakeModelsChangesTheListAndCanMakeItFail) {
  // POST /_fake/models swaps the list, makes GET .../models answer an error status and back,
  // refuses a malformed body, and is not counted as a served request.
  ASSERT_TRUE(fake_.reset());
  Response set = post("/_fake/models", R"({"models":["x","y","z"]})");
  ASSERT_EQ(set.status, 200) << set.body;
  json j = json::parse(get("/v1/models").body);
  ASSERT_EQ(j["data"].size(), 3u);
  EXPECT_EQ(j["data"][2]["id"], "z");

  ASSERT_EQ(post("/_fake/models", R"({"status":503})").status, 200);
  Response failing = get("/v1/models");
  EXPECT_EQ(failing.status, 503);
  EXPECT_TRUE(json::parse(failing.body).contains("error"));
  EXPECT_EQ(post("/v1/chat/completions", R"({"model":"m"})").status, 200);  // only /models fails

  ASSERT_EQ(post("/_fake/models", R"({"status":0})").status, 200);
  EXPECT_EQ(json::parse(get("/v1/models").body)["data"].size(), 3u);  // the list is kept
  EXPECT_EQ(post("/_fake/models", R"({"status":"bad"})").status, 400);
  EXPECT_EQ(post("/_fake/models", "[1]").status, 400);
  EXPECT_EQ(get("/_fake/models").status, 404);
  // Three GET .../models, the chat, and the 404 (an unknown endpoint is a request like others).
  EXPECT_EQ(fake_.requests(), 5u);
}

TEST(FakeUpstreamFlagsTest, ModelsStatusAndStallAffectOnlyTheModelList) {
  // --models-status and --models-stall-ms make a model list that fails or is slow; chat is not.
  FakeUpstreamProcess fake;
  ASSERT_TRUE(fake.start("nolist", {"--models-status", "404", "--models-stall-ms", "300"}));
  Endpoint endpoint{"127.0.0.1", fake.port(), false};
  auto start = Clock::now();
  Response models = httpRequest(endpoint, "GET", "/v1/models");
  EXPECT_GE(Clock::now() - start, milliseconds(300));
  EXPECT_EQ(models.status, 404);
  start = Clock::now();
  EXPECT_EQ(httpRequest(endpoint, "POST", "/v1/chat/completions", kJsonType, "{}").status, 200);
  EXPECT_LT(Clock::now() - start, milliseconds(300));
}

TEST_F(FakeUpstreamTest, UnknownPathsAndBadBodiesGetOpenAIErrors) {
  // Unknown endpoints are 404 and a non-JSON body is 400, both in OpenAI's error shape.
  Response r = get("/v1/nothing-here?x=1");
  ASSERT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(r.header("x-fake-path"), "/v1/nothing-here?x=1");
  EXPECT_EQ(post("/v1/models", "{}").status, 404);
  Response bad = post("/v1/chat/completions", "not json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(json::parse(bad.body).contains("error"));
}

TEST_F(FakeUpstreamTest, OversizedBodyIsRejectedWith413) {
  // A declared body over 64 MiB is refused from the header alone.
  Response r =
      httpRequest(endpoint_, "POST", "/v1/chat/completions",
                  {{"Content-Type", "application/json"}, {"Content-Length", "70000000"}}, "{}");
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_TRUE(json::parse(r.body).contains("error"));
}

TEST_F(FakeUpstreamTest, StatsCountRequestsAndResetZeroesThem) {
  // /_fake/stats counts served requests (not stats calls); /_fake/reset zeroes the count.
  ASSERT_TRUE(fake_.reset());
  EXPECT_EQ(fake_.requests(), 0u);
  get("/v1/models");
  post("/v1/chat/completions", R"({"model":"m"})");
  post("/v1/chat/completions", R"({"model":"m"})", {{"x-fake-status", "500"}});
  Response stats = get("/_fake/stats");
  ASSERT_EQ(stats.status, 200);
  json j = json::parse(stats.body);
  EXPECT_EQ(j["name"], "up1");
  EXPECT_EQ(j["requests"], 3);
  EXPECT_EQ(fake_.requests(), 3u);
  ASSERT_TRUE(fake_.reset());
  EXPECT_EQ(fake_.requests(), 0u);
}

TEST_F(FakeUpstreamTest, KeepAliveServesManyRequestsOnOneConnection) {
  // One connection carries several requests, each with its own x-request-id.
  HttpConnection connection(endpoint_);
  std::string previous_id;
  for (int i = 0; i < 5; ++i) {
    Response r =
        connection.request("POST", "/v1/chat/completions", kJsonType,
                           i % 2 == 0 ? R"({"model":"m"})" : R"({"model":"m","stream":true})");
    ASSERT_EQ(r.status, 200) << r.error;
    ASSERT_TRUE(r.complete);
    EXPECT_TRUE(connection.isOpen());
    EXPECT_NE(r.header("x-request-id"), previous_id);
    previous_id = r.header("x-request-id");
  }
}

TEST_F(FakeUpstreamTest, SigtermExitsZero) {
  // SIGTERM stops the fake cleanly with exit code 0.
  EXPECT_EQ(fake_.process().stop(SIGTERM, std::chrono::seconds(5)), 0);
}

TEST(FakeUpstreamFlagsTest, FailStatusAnswersEveryRequestWithAnError) {
  // --fail-status makes an always-broken upstream; /_fake/stats keeps working.
  FakeUpstreamProcess fake;
  ASSERT_TRUE(fake.start("broken", {"--fail-status", "502"}));
  Endpoint endpoint{"127.0.0.1", fake.port(), false};
  Response chat = httpRequest(endpoint, "POST", "/v1/chat/completions", kJsonType, "{}");
  EXPECT_EQ(chat.status, 502);
  EXPECT_EQ(json::parse(chat.body)["error"]["message"], "fake upstream error 502");
  EXPECT_EQ(httpRequest(endpoint, "GET", "/v1/models").status, 502);
  EXPECT_EQ(fake.requests(), 2u);
}

TEST(FakeUpstreamFlagsTest, FailStatusCanBeSwitchedAtRunTime) {
  // POST /_fake/fail-status?status=N breaks a running upstream, status=0 heals it; bad values
  // are refused.
  FakeUpstreamProcess fake;
  ASSERT_TRUE(fake.start("flaky"));
  Endpoint endpoint{"127.0.0.1", fake.port(), false};
  EXPECT_EQ(httpRequest(endpoint, "POST", "/v1/chat/completions", kJsonType, "{}").status, 200);
  EXPECT_EQ(httpRequest(endpoint, "POST", "/_fake/fail-status?status=503").status, 200);
  EXPECT_EQ(httpRequest(endpoint, "POST", "/v1/chat/completions", kJsonType, "{}").status, 503);
  EXPECT_EQ(httpRequest(endpoint, "POST", "/_fake/fail-status?status=0").status, 200);
  EXPECT_EQ(httpRequest(endpoint, "POST", "/v1/chat/completions", kJsonType, "{}").status, 200);
  EXPECT_EQ(httpRequest(endpoint, "POST", "/_fake/fail-status?status=42").status, 400);
  EXPECT_EQ(httpRequest(endpoint, "POST", "/_fake/fail-status").status, 400);
}

TEST(FakeUpstreamFlagsTest, AStallEndsWhenTheClientHangsUp) {
  // A client that leaves during x-fake-stall-ms ends the stall and is counted in client_aborts.
  FakeUpstreamProcess fake;
  ASSERT_TRUE(fake.start("stally"));
  Endpoint endpoint{"127.0.0.1", fake.port(), false};
  Response r = httpRequest(endpoint, "POST", "/v1/chat/completions",
                           {{"Content-Type", "application/json"}, {"x-fake-stall-ms", "20000"}},
                           "{}", std::chrono::milliseconds(300));
  EXPECT_EQ(r.status, 0);  // the client gave up and closed
  EXPECT_TRUE(waitFor(
      [&] {
        auto stats = httpRequest(endpoint, "GET", "/_fake/stats");
        return stats.status == 200 && json::parse(stats.body)["client_aborts"] == 1;
      },
      std::chrono::seconds(3), "the fake to count the abort"));
}

TEST(FakeUpstreamFlagsTest, ThreadsShareOneCounterAcrossConnections) {
  // With --threads 2, connections spread over both workers and every request is counted once.
  FakeUpstreamProcess fake;
  ASSERT_TRUE(fake.start("multi", {"--threads", "2"}));
  Endpoint endpoint{"127.0.0.1", fake.port(), false};
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      HttpConnection connection(endpoint);
      for (int i = 0; i < 25; ++i) {
        if (connection.request("POST", "/v1/chat/completions", kJsonType, R"({"model":"m"})")
                .status == 200) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(fake.requests(), 100u);
}

TEST(FakeUpstreamFlagsTest, ServesHttpsWithAGeneratedCertificate) {
  // --tls-cert/--tls-key serve HTTPS and announce "listening https".
  if (::access("/usr/bin/openssl", X_OK) != 0 && ::access("/bin/openssl", X_OK) != 0) {
    GTEST_SKIP() << "openssl CLI not installed";
  }
  TempDir dir = tempDir("fake-tls");
  CommandResult gen =
      runCommand(::access("/usr/bin/openssl", X_OK) == 0 ? "/usr/bin/openssl" : "/bin/openssl",
                 {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                  "/CN=127.0.0.1", "-keyout", dir.file("key.pem"), "-out", dir.file("cert.pem")});
  ASSERT_EQ(gen.exit_code, 0) << gen.stderr_text;
  FakeUpstreamProcess fake;
  ASSERT_TRUE(
      fake.start("secure", {"--tls-cert", dir.file("cert.pem"), "--tls-key", dir.file("key.pem")}));
  EXPECT_TRUE(fake.tls());
  EXPECT_EQ(fake.baseUrl().rfind("https://", 0), 0u);
  Response r = httpRequest("POST", fake.baseUrl() + "/chat/completions", kJsonType,
                           R"({"model":"m","stream":true})");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(sseData(r.body).back(), "[DONE]");
  EXPECT_EQ(httpRequest(Endpoint{"127.0.0.1", fake.port(), false}, "GET", "/v1/models").status, 0);
}

TEST(FakeUpstreamFlagsTest, BadFlagsExitWithUsage) {
  // A malformed flag is refused with exit code 2 and a message naming it.
  CommandResult r = runCommand(FAKE_UPSTREAM_BIN, {"--listen", "nowhere"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("host:port"), std::string::npos) << r.stderr_text;
}

TEST(ChildProcessTest, DestructorStopsAndReapsTheChild) {
  // Nothing outlives a ChildProcess: after its destructor the pid no longer exists.
  pid_t pid = -1;
  {
    ChildProcess child;
    ASSERT_TRUE(child.start(FAKE_UPSTREAM_BIN, {"--listen", "127.0.0.1:0"}));
    ASSERT_TRUE(child.waitForListening("http", std::chrono::seconds(10)));
    pid = child.pid();
    EXPECT_TRUE(child.running());
  }
  EXPECT_TRUE(processGone(pid));
}

TEST(ChildProcessTest, ChildDiesWithTheTestProcess) {
  // A test process that dies without cleaning up takes its children with it (PDEATHSIG).
  // As subreaper this test inherits the orphan, so it can reap it instead of leaving a zombie.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t test_process = ::fork();
  ASSERT_GE(test_process, 0);
  if (test_process == 0) {
    // Stands in for a crashing test: starts a child, reports its pid, exits without cleanup.
    ::close(pipe_fds[0]);
    auto* child = new ChildProcess();  // leaked on purpose: no destructor runs
    pid_t pid = -1;
    if (child->start(FAKE_UPSTREAM_BIN, {"--listen", "127.0.0.1:0"}) &&
        child->waitForListening("http", std::chrono::seconds(10))) {
      pid = child->pid();
    }
    ssize_t ignored = ::write(pipe_fds[1], &pid, sizeof(pid));
    (void)ignored;
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  pid_t orphan = -1;
  ASSERT_EQ(::read(pipe_fds[0], &orphan, sizeof(orphan)), static_cast<ssize_t>(sizeof(orphan)));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(test_process, &status, 0);
  ASSERT_GT(orphan, 0);
  int orphan_status = 0;
  EXPECT_TRUE(waitFor(
      [&] {
        pid_t r = ::waitpid(orphan, &orphan_status, WNOHANG);
        return r == orphan || (r < 0 && errno == ECHILD);
      },
      milliseconds(5000), "the orphaned fake_upstream to be killed"));
  EXPECT_TRUE(WIFSIGNALED(orphan_status) && WTERMSIG(orphan_status) == SIGKILL);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(ChildProcessTest, StopEscalatesToSigkill) {
  // A child that ignores SIGTERM is killed after the grace period.
  ChildProcess child;
  ASSERT_TRUE(child.start("/bin/sh", {"-c", "trap '' TERM; echo ready; exec sleep 30"}));
  ASSERT_TRUE(child.waitForLine("ready", std::chrono::seconds(5)));
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(child.stop(SIGTERM, milliseconds(200)), 128 + SIGKILL);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(processGone(child.pid()));
}

TEST(ChildProcessTest, CapturesOutputEnvAndExitCode) {
  // Both streams are captured, the extra env reaches the child, and the exit code is reported.
  ChildProcess child;
  ASSERT_TRUE(child.start("/bin/sh", {"-c", "echo \"out $FWD_X\"; echo err >&2; exit 3"},
                          {{"FWD_X", "42"}}));
  EXPECT_EQ(child.waitForLine("out", std::chrono::seconds(5)), "out 42");
  EXPECT_EQ(child.waitForExit(std::chrono::seconds(5)), 3);
  EXPECT_EQ(child.stdoutText(), "out 42\n");
  EXPECT_EQ(child.stderrText(), "err\n");
  // The child is gone: waiting for a line it never printed returns at once.
  const Clock::time_point start = Clock::now();
  EXPECT_FALSE(child.waitForLine("never", std::chrono::seconds(10)));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST(ChildProcessTest, StartReportsExecFailure) {
  // A binary that cannot be executed fails start() with the reason.
  ChildProcess child;
  ::testing::AssertionResult started = child.start("/nonexistent/fwd-binary", {});
  EXPECT_FALSE(started);
  EXPECT_NE(std::string(started.message()).find("No such file"), std::string::npos);
}

TEST(ChildProcessTest, RunCommandTimesOutAndKills) {
  // runCommand returns output and exit code, and kills a command that overruns its timeout.
  CommandResult ok = runCommand("/bin/sh", {"-c", "printf hello; exit 7"});
  EXPECT_EQ(ok.exit_code, 7);
  EXPECT_EQ(ok.stdout_text, "hello");
  const Clock::time_point start = Clock::now();
  CommandResult slow = runCommand("/bin/sh", {"-c", "exec sleep 30"}, {}, milliseconds(200));
  EXPECT_TRUE(slow.timed_out);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST(WaitTest, WaitForReportsWhatTimedOut) {
  // waitFor succeeds as soon as the condition holds and names the condition when it never does.
  int calls = 0;
  EXPECT_TRUE(waitFor([&] { return ++calls == 3; }, milliseconds(1000), "third call"));
  ::testing::AssertionResult never = waitFor([] { return false; }, milliseconds(20), "never");
  EXPECT_FALSE(never);
  EXPECT_NE(std::string(never.message()).find("never"), std::string::npos);
}

TEST(WaitTest, TempDirIsRemovedAtDestruction) {
  // TempDir creates a private directory and removes it with its contents.
  std::filesystem::path path;
  {
    TempDir dir = tempDir();
    path = dir.path();
    ASSERT_TRUE(std::filesystem::is_directory(path));
    FILE* f = std::fopen(dir.file("x").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace fwd::harness
