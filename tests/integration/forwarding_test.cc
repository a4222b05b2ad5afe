// End to end through the real binaries: a client calls fwd-dataplane, which forwards to the
// fake upstream configured with fwdctl through fwd-controlplane.
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <atomic>
#include <thread>

#include "common/crypto/token.h"
#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

class ForwardingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1", {}, {"--max-body-bytes", "65536"}));
    auto r = cluster_.fwdctl({"upstream", "add", "local", "--base-url",
                              cluster_.upstream("up1").baseUrl(), "--api-key", "sk-upstream",
                              "--model", "gpt-*", "--model", "text-embedding-*", "--model",
                              "/v1/audio/*", "--timeout", "2s"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    key_ = cluster_.createKey("alice");
    ASSERT_FALSE(key_.empty());
    ASSERT_TRUE(cluster_.waitInSync());
  }

  nlohmann::json errorOf(const Response& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << r.body;
    if (!j.is_object() || !j.contains("error")) {
      return {};
    }
    auto e = j["error"];
    // Every error has the four OpenAI fields.
    for (const char* f : {"message", "type", "param", "code"}) {
      EXPECT_TRUE(e.contains(f)) << f << " missing in " << r.body;
    }
    EXPECT_EQ(r.header("content-type"), "application/json");
    return e;
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(ForwardingTest, ChatCompletionIsForwardedWithTheUpstreamCredential) {
  // The JSON answer comes back whole; the client's key is replaced by the upstream's; the
  // query string and the headers clients rely on survive.
  auto r = cluster_.call("dp1", "POST", "/v1/chat/completions?api-version=2024-06-01", key_,
                         R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["model"], "gpt-4o");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello from up1");
  EXPECT_EQ(r.header("x-fake-path"), "/v1/chat/completions?api-version=2024-06-01");
  EXPECT_EQ(r.header("x-fake-authorization"), "Bearer sk-upstream");
  EXPECT_EQ(r.header("x-request-id").rfind("fake-", 0), 0u);
  EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "999");
  EXPECT_EQ(r.header("x-fwd-upstream"), "local");
}

TEST_F(ForwardingTest, AzureStyleApiKeyHeaderAuthenticatesToo) {
  // `api-key: <key>` works like Bearer, and never reaches the upstream.
  auto r =
      cluster_.call("dp1", "POST", "/v1/embeddings", "",
                    R"({"model":"text-embedding-3-small","input":["a","b"]})", {{"api-key", key_}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["data"].size(), 2u);
  EXPECT_EQ(r.header("x-fake-authorization"), "Bearer sk-upstream");
}

TEST_F(ForwardingTest, StreamIsRelayedChunkByChunkAsItArrives) {
  // With 150 ms between upstream events, the client sees them spread out in time (not in one
  // burst at the end), ending with [DONE].
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  std::string all;
  auto r = streamRequest(cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
                         {{"Authorization", "Bearer " + key_},
                          {"Content-Type", "application/json"},
                          {"x-fake-chunks", "4"},
                          {"x-fake-chunk-delay-ms", "150"}},
                         R"({"model":"gpt-4o","stream":true,"messages":[]})",
                         [&](std::string_view piece, auto at) {
                           arrivals.push_back(at);
                           all.append(piece);
                           return true;
                         });
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.header("content-type").rfind("text/event-stream", 0), 0u);
  EXPECT_NE(all.find("data: [DONE]"), std::string::npos) << all;
  ASSERT_GE(arrivals.size(), 3u);
  auto spread = arrivals.back() - arrivals.front();
  EXPECT_GE(spread, std::chrono::milliseconds(300)) << "the stream arrived in one burst";
}

TEST_F(ForwardingTest, FastStreamArrivesWholeAndInOrder) {
  // 200 events sent back to back (so several share one read and one client write) all arrive,
  // in order, followed by [DONE].
  std::string all;
  auto r = streamRequest(cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
                         {{"Authorization", "Bearer " + key_},
                          {"Content-Type", "application/json"},
                          {"x-fake-chunks", "200"}},
                         R"({"model":"gpt-4o","stream":true})", [&](std::string_view piece, auto) {
                           all.append(piece);
                           return true;
                         });
  ASSERT_EQ(r.status, 200) << r.error;
  ASSERT_TRUE(r.complete);
  std::vector<std::string> contents;
  size_t pos = 0;
  while ((pos = all.find("data: ", pos)) != std::string::npos) {
    size_t end = all.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    std::string data = all.substr(pos + 6, end - pos - 6);
    pos = end + 2;
    if (data == "[DONE]") {
      contents.push_back(data);
      continue;
    }
    auto j = nlohmann::json::parse(data);
    if (!j["choices"].empty()) {
      contents.push_back(j["choices"][0]["delta"].value("content", ""));
    }
  }
  ASSERT_EQ(contents.size(), 201u);
  EXPECT_EQ(contents[0], "Hello");
  EXPECT_EQ(contents[3], " t3");
  EXPECT_EQ(contents[199], " t199");
  EXPECT_EQ(contents[200], "[DONE]");
}

TEST_F(ForwardingTest, AClientThatStopsReadingGetsTheWholeStreamWhenItResumes) {
  // fwd writes to the client without waiting while the kernel takes the bytes; a client that
  // stops reading fills its socket, and the rest waits for it. ~10 MB of events (more than the
  // socket buffers hold) with the client pausing after the first piece: every event arrives,
  // in order, and the response is complete.
  constexpr int kEvents = 40000;
  bool paused = false;
  size_t events = 0;
  std::string tail;  // the unfinished event at the end of the previous piece
  int last = -1;
  bool in_order = true;
  auto r = streamRequest(
      cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
      {{"Authorization", "Bearer " + key_},
       {"Content-Type", "application/json"},
       {"x-fake-chunks", std::to_string(kEvents)},
       {"x-fake-events-per-write", "500"}},
      R"({"model":"gpt-4o","stream":true})",
      [&](std::string_view piece, auto) {
        if (!paused) {
          paused = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        tail.append(piece);
        size_t at = 0;
        for (size_t end; (end = tail.find("\n\n", at)) != std::string::npos; at = end + 2) {
          ++events;
          // Content tokens are " t<i>" from the fourth event on; check they keep their order.
          size_t t = tail.find("\" t", at);
          if (t != std::string::npos && t < end) {
            int i = std::atoi(tail.c_str() + t + 3);
            in_order = in_order && i > last;
            last = i;
          }
        }
        tail.erase(0, at);
        return true;
      },
      std::chrono::seconds(30));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.complete) << r.error;
  EXPECT_EQ(events, static_cast<size_t>(kEvents) + 1);  // + [DONE]
  EXPECT_TRUE(in_order);
  EXPECT_EQ(last, kEvents - 1);
}

TEST_F(ForwardingTest, MultipartUploadIsForwardedByteForByte) {
  // The upstream receives exactly the bytes sent, binary and all, with the same boundary.
  std::string boundary = "----fwdtestboundary7MA4YWxkTrZu0gW";
  std::string file(20000, '\0');
  for (size_t i = 0; i < file.size(); ++i) {
    file[i] = static_cast<char>((i * 131 + 7) & 0xff);
  }
  std::string body = "--" + boundary +
                     "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--" +
                     boundary +
                     "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                     "Content-Type: audio/wav\r\n\r\n" +
                     file + "\r\n--" + boundary + "--\r\n";
  std::string content_type = "multipart/form-data; boundary=" + boundary;
  auto r = cluster_.call("dp1", "POST", "/v1/audio/transcriptions", key_, body,
                         {{"Content-Type", content_type}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["fake_received_bytes"], body.size());
  EXPECT_EQ(j["fake_sha256"], common::crypto::sha256Hex(body));
  EXPECT_EQ(j["fake_content_type"], content_type);
}

TEST_F(ForwardingTest, AnUploadLargerThanTheSocketBufferIsForwardedWhole) {
  // fwd hands a request to the kernel in one non-blocking send; 8 MiB is more than a loopback
  // socket takes at once (tcp_wmem tops out at 4 MiB), so the rest must follow asynchronously,
  // in order, on the same connection, and the next request must still find it usable.
  std::string boundary = "----fwdlargeupload";
  std::string file(8u << 20, '\0');
  for (size_t i = 0; i < file.size(); ++i) {
    file[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  std::string body = "--" + boundary +
                     "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                     "Content-Type: audio/wav\r\n\r\n" +
                     file + "\r\n--" + boundary + "--\r\n";
  std::string content_type = "multipart/form-data; boundary=" + boundary;
  // dp1 refuses bodies over 64 KiB; this one takes up to 16 MiB.
  ASSERT_TRUE(cluster_.startDataPlane("big", {}, {"--max-body-bytes", "16777216"}));
  ASSERT_TRUE(cluster_.waitInSync());
  HttpConnection conn(cluster_.dataPlane("big").http);
  ASSERT_EQ(conn.connect(std::chrono::seconds(2)), "");
  for (int i = 0; i < 2; ++i) {
    auto r =
        conn.request("POST", "/v1/audio/transcriptions",
                     {{"Authorization", "Bearer " + key_}, {"Content-Type", content_type}}, body);
    ASSERT_EQ(r.status, 200) << i << " " << r.error << " " << r.body;
    auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["fake_received_bytes"], body.size()) << i;
    EXPECT_EQ(j["fake_sha256"], common::crypto::sha256Hex(body)) << i;
  }
}

TEST_F(ForwardingTest, KeepAliveConnectionServesManyRequests) {
  // One client connection carries sequential requests (and reuses upstream connections).
  HttpConnection conn(cluster_.dataPlane("dp1").http);
  ASSERT_EQ(conn.connect(std::chrono::seconds(2)), "");
  for (int i = 0; i < 20; ++i) {
    auto r =
        conn.request("POST", "/v1/chat/completions",
                     {{"Authorization", "Bearer " + key_}, {"Content-Type", "application/json"}},
                     R"({"model":"gpt-4o-mini"})");
    ASSERT_EQ(r.status, 200) << i << " " << r.error;
  }
}

TEST_F(ForwardingTest, MissingOrWrongKeyIs401) {
  // No key, a wrong key and a revoked key are each refused with invalid_request_error.
  auto none = cluster_.call("dp1", "POST", "/v1/chat/completions", "", R"({"model":"gpt-4o"})");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(errorOf(none)["code"], "missing_api_key");
  auto wrong = cluster_.call("dp1", "POST", "/v1/chat/completions", "fwd-not-a-key",
                             R"({"model":"gpt-4o"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(errorOf(wrong)["code"], "invalid_api_key");
  EXPECT_EQ(wrong.body.find("fwd-not-a-key"), std::string::npos) << "the secret was echoed";

  ASSERT_EQ(cluster_.fwdctl({"key", "revoke", "alice"}).exit_code, 0);
  ASSERT_TRUE(cluster_.waitInSync());
  auto revoked =
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"gpt-4o"})");
  EXPECT_EQ(revoked.status, 401);
}

TEST_F(ForwardingTest, ARevokedKeyStopsOnAConnectionThatAlreadyUsedIt) {
  // A keep-alive connection remembers the key it authenticated with (no hash for a repeated
  // secret); a new snapshot must still end that key for the connection at once.
  HttpConnection conn(cluster_.dataPlane("dp1").http);
  ASSERT_EQ(conn.connect(std::chrono::seconds(2)), "");
  const Headers headers = {{"Authorization", "Bearer " + key_},
                           {"Content-Type", "application/json"}};
  for (int i = 0; i < 3; ++i) {
    auto ok = conn.request("POST", "/v1/chat/completions", headers, R"({"model":"gpt-4o"})");
    ASSERT_EQ(ok.status, 200) << i << " " << ok.error;
  }
  ASSERT_EQ(cluster_.fwdctl({"key", "revoke", "alice"}).exit_code, 0);
  ASSERT_TRUE(cluster_.waitInSync());
  auto revoked = conn.request("POST", "/v1/chat/completions", headers, R"({"model":"gpt-4o"})");
  EXPECT_EQ(revoked.status, 401) << revoked.error;
  EXPECT_EQ(errorOf(revoked)["code"], "invalid_api_key");
}

TEST_F(ForwardingTest, KeyModelRestrictionIs403AndUnknownModelIs404) {
  // A key limited to gpt-4o* may not call others; a model nobody serves is model_not_found.
  std::string limited = cluster_.createKey("bob", {"gpt-4o*"});
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(
      cluster_.call("dp1", "POST", "/v1/chat/completions", limited, R"({"model":"gpt-4o-mini"})")
          .status,
      200);
  auto denied =
      cluster_.call("dp1", "POST", "/v1/chat/completions", limited, R"({"model":"gpt-3.5-turbo"})");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(errorOf(denied)["code"], "model_not_allowed");
  auto unknown =
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"no-such-model"})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(errorOf(unknown)["code"], "model_not_found");
}

TEST_F(ForwardingTest, BadRequestsGetPreciseErrors) {
  // Malformed JSON 400, wrong types 400, oversized body 413, oversized headers 431, paths
  // outside /v1 404, dot segments 400 — each in OpenAI's error shape.
  auto malformed = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":)");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(errorOf(malformed)["code"], "invalid_json");
  auto wrong_type = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":1})");
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_EQ(errorOf(wrong_type)["param"], "model");
  auto too_big = cluster_.call("dp1", "POST", "/v1/chat/completions", key_,
                               R"({"model":"gpt-4o","x":")" + std::string(70000, 'a') + "\"}");
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(errorOf(too_big)["code"], "request_too_large");
  Headers big;
  for (int i = 0; i < 10; ++i) {
    big.emplace("x-big-" + std::to_string(i), std::string(8000, 'h'));
  }
  auto big_header =
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"gpt-4o"})", big);
  EXPECT_EQ(big_header.status, 431);
  EXPECT_EQ(errorOf(big_header)["code"], "request_header_too_large");
  auto outside = cluster_.call("dp1", "GET", "/admin", key_);
  EXPECT_EQ(outside.status, 404);
  errorOf(outside);
  auto dots = cluster_.call("dp1", "GET", "/v1/../secret", key_);
  EXPECT_EQ(dots.status, 400);
  errorOf(dots);
}

TEST_F(ForwardingTest, SlowUpstreamIs504) {
  // The upstream's 2 s timeout ends a stalled attempt with upstream_timeout.
  auto r = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"gpt-4o"})",
                         {{"x-fake-stall-ms", "5000"}});
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(errorOf(r)["code"], "upstream_timeout");
}

TEST_F(ForwardingTest, MidStreamCutEndsWithAnErrorEventAndNoDone) {
  // After the head went out no retry is possible: the client gets a final error event.
  std::string all;
  auto r = streamRequest(cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
                         {{"Authorization", "Bearer " + key_},
                          {"Content-Type", "application/json"},
                          {"x-fake-chunks", "10"},
                          {"x-fake-cut-after", "3"}},
                         R"({"model":"gpt-4o","stream":true})", [&](std::string_view piece, auto) {
                           all.append(piece);
                           return true;
                         });
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(all.find("data: {\"error\""), std::string::npos) << all;
  EXPECT_EQ(all.find("[DONE]"), std::string::npos) << all;
}

// The data of each SSE event in `body`, in order.
std::vector<std::string> eventData(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      break;
    }
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  return out;
}

TEST_F(ForwardingTest, EveryLegalUpstreamFramingIsRelayedWhole) {
  // fwd relays a chunked body with the upstream's own framing: chunk extensions, trailers, reads
  // that end inside a size line, and a body that ends when the upstream closes all arrive as
  // the same 5 events + [DONE], in a complete chunked response, on a connection that goes on;
  // whether the head and each event come in writes of their own or all in one.
  HttpConnection client(cluster_.dataPlane("dp1").http);
  Headers headers = {{"Authorization", "Bearer " + key_},
                     {"Content-Type", "application/json"},
                     {"x-fake-chunks", "5"}};
  const std::string body = R"({"model":"gpt-4o","stream":true})";
  Response plain = client.request("POST", "/v1/chat/completions", headers, body);
  ASSERT_EQ(plain.status, 200) << plain.error;
  const std::vector<std::string> expected = eventData(plain.body);
  ASSERT_EQ(expected.size(), 6u) << plain.body;
  for (const char* per_write : {"1", "100"}) {
    for (const char* framing : {"extensions", "trailers", "split", "close", "chunked"}) {
      const std::string what = std::string(framing) + ", events per write " + per_write;
      Headers h = headers;
      h.emplace("x-fake-framing", framing);
      h.emplace("x-fake-events-per-write", per_write);
      Response r = client.request("POST", "/v1/chat/completions", h, body);
      ASSERT_EQ(r.status, 200) << what << ": " << r.error;
      EXPECT_TRUE(r.complete) << what;
      EXPECT_EQ(r.header("transfer-encoding"), "chunked") << what;
      EXPECT_FALSE(r.hasHeader("x-fake-trailer")) << what;
      std::vector<std::string> got = eventData(r.body);
      ASSERT_EQ(got.size(), expected.size()) << what << ": " << r.body;
      for (size_t i = 0; i < got.size(); ++i) {
        // Ids differ per request; the content and its order do not.
        auto a = nlohmann::json::parse(got[i], nullptr, false);
        auto b = nlohmann::json::parse(expected[i], nullptr, false);
        if (a.is_discarded() || b.is_discarded()) {
          EXPECT_EQ(got[i], expected[i]) << what;
        } else {
          EXPECT_EQ(a["choices"], b["choices"]) << what;
        }
      }
    }
  }
  EXPECT_TRUE(client.isOpen());
}

TEST_F(ForwardingTest, BytesAfterTheEndOfAResponseRetireTheUpstreamConnection) {
  // An upstream that writes past the end of its chunked response is not trusted with another
  // request: each such response costs fwd a new upstream connection, while well-framed ones
  // share one. The junk never reaches the client, whose keep-alive connection goes on; also when
  // it comes in the same read as the head and the whole body.
  const Endpoint fake = cluster_.upstream("up1").endpoint;
  auto upstreamConnections = [&] {
    Response stats = httpRequest(fake, "GET", "/_fake/stats");
    auto j = nlohmann::json::parse(stats.body, nullptr, false);
    return j.is_object() ? j.value("connections", -1) : -1;
  };
  HttpConnection client(cluster_.dataPlane("dp1").http);
  Headers headers = {{"Authorization", "Bearer " + key_},
                     {"Content-Type", "application/json"},
                     {"x-fake-chunks", "2"}};
  const std::string body = R"({"model":"gpt-4o","stream":true})";
  ASSERT_EQ(client.request("POST", "/v1/chat/completions", headers, body).status, 200);
  ASSERT_EQ(httpRequest(fake, "POST", "/_fake/reset").status, 200);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(client.request("POST", "/v1/chat/completions", headers, body).status, 200);
  }
  EXPECT_EQ(upstreamConnections(), 1) << "well-framed responses: the stats call only";
  headers.emplace("x-fake-framing", "junk-after");
  for (int i = 0; i < 4; ++i) {
    Headers h = headers;
    h.emplace("x-fake-events-per-write", i % 2 == 0 ? "1" : "100");
    Response r = client.request("POST", "/v1/chat/completions", h, body);
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.error;
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.body.find("JUNK"), std::string::npos);
    EXPECT_EQ(eventData(r.body).size(), 3u) << r.body;
  }
  // The first junk response went out on the pooled connection, the next three on new ones.
  EXPECT_EQ(upstreamConnections(), 1 + 1 + 3);
  EXPECT_TRUE(client.isOpen());
}

TEST_F(ForwardingTest, ResponseHeadsUpToTheHeaderLimitAreRelayed) {
  // A response head longer than fwd's 16 KiB relay buffer (here 40 KB, one field) is relayed
  // whole, with the body that came in the same write; one over the 64 KiB limit is a 502 that
  // says so.
  HttpConnection client(cluster_.dataPlane("dp1").http);
  Headers headers = {{"Authorization", "Bearer " + key_},
                     {"Content-Type", "application/json"},
                     {"x-fake-chunks", "5"},
                     {"x-fake-events-per-write", "100"},
                     {"x-fake-head-bytes", "40000"}};
  Response big = client.request("POST", "/v1/chat/completions", headers,
                                R"({"model":"gpt-4o","stream":true})");
  ASSERT_EQ(big.status, 200) << big.error << big.body;
  EXPECT_TRUE(big.complete);
  EXPECT_GT(big.header("x-fake-pad").size(), 39000u);
  EXPECT_EQ(big.header("x-fake-pad").find_first_not_of('p'), std::string::npos);
  std::vector<std::string> events = eventData(big.body);
  ASSERT_EQ(events.size(), 6u) << big.body;
  EXPECT_EQ(events.back(), "[DONE]");
  // And a plain answer right after, on the same client connection.
  Response plain = client.request("POST", "/v1/chat/completions",
                                  {{"Authorization", "Bearer " + key_},
                                   {"Content-Type", "application/json"},
                                   {"x-fake-head-bytes", "20000"}},
                                  R"({"model":"gpt-4o"})");
  ASSERT_EQ(plain.status, 200) << plain.error;
  EXPECT_EQ(nlohmann::json::parse(plain.body)["object"], "chat.completion");

  headers.erase("x-fake-head-bytes");
  headers.emplace("x-fake-head-bytes", "70000");
  Response over = client.request("POST", "/v1/chat/completions", headers,
                                 R"({"model":"gpt-4o","stream":true})");
  EXPECT_EQ(over.status, 502) << over.body;
  auto e = errorOf(over);
  EXPECT_NE(e.value("message", "").find("header limit"), std::string::npos) << over.body;
}

TEST_F(ForwardingTest, BrokenChunkedFramingEndsTheStreamCleanly) {
  // A chunk-size line that is not hexadecimal is not relayed: the client gets the events before
  // it and a final error event naming the problem. A cut inside a chunk cannot be followed by
  // a chunk of fwd's own, so there the client sees a truncated response instead.
  Response bad = streamRequest(cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
                               {{"Authorization", "Bearer " + key_},
                                {"Content-Type", "application/json"},
                                {"x-fake-chunks", "5"},
                                {"x-fake-framing", "bad-chunk"}},
                               R"({"model":"gpt-4o","stream":true})",
                               [](std::string_view, auto) { return true; });
  ASSERT_EQ(bad.status, 200) << bad.error;
  std::vector<std::string> events = eventData(bad.body);
  ASSERT_EQ(events.size(), 2u) << bad.body;
  EXPECT_NE(events[1].find("malformed chunked framing"), std::string::npos) << events[1];
  EXPECT_EQ(bad.body.find("[DONE]"), std::string::npos);

  Response cut = streamRequest(cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
                               {{"Authorization", "Bearer " + key_},
                                {"Content-Type", "application/json"},
                                {"x-fake-chunks", "5"},
                                {"x-fake-framing", "cut-mid-chunk"}},
                               R"({"model":"gpt-4o","stream":true})",
                               [](std::string_view, auto) { return true; });
  ASSERT_EQ(cut.status, 200) << cut.error;
  EXPECT_FALSE(cut.complete);
  EXPECT_EQ(cut.body.find("\"error\""), std::string::npos) << cut.body;
  EXPECT_EQ(eventData(cut.body).size(), 1u) << cut.body;
}

TEST_F(ForwardingTest, MetricsCountRequestsByModelUpstreamAndStatus) {
  // /metrics exposes request counts, latency histograms and the config version.
  ASSERT_EQ(
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"gpt-4o"})").status,
      200);
  // The request is counted when it ends, which can be just after the client read the answer.
  const std::string series =
      R"(fwd_requests_total{route="default",model="gpt-4o",upstream="local",status="200"} 1)";
  Response m;
  EXPECT_TRUE(waitFor(
      [&] {
        m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
        return m.status == 200 && m.body.find(series) != std::string::npos;
      },
      std::chrono::seconds(2), "the request to be counted"))
      << m.body;
  EXPECT_NE(m.body.find("fwd_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.body.find("fwd_upstream_response_head_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.body.find("fwd_requests_in_flight"), std::string::npos);
  // Every worker's 100 ms housekeeping timer reports how late it ran.
  const std::string loop_delay = R"(fwd_worker_loop_delay_seconds_count{worker="0"})";
  EXPECT_TRUE(waitFor(
      [&] {
        m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
        return metricValue(m.body, loop_delay) > 0;
      },
      std::chrono::seconds(2), "a loop-delay sample"))
      << m.body;
  EXPECT_EQ(metricValue(m.body, "fwd_config_version"), cluster_.configVersion());
  EXPECT_EQ(metricValue(m.body, "fwd_control_plane_connected"), 1);
  EXPECT_EQ(httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/healthz").status, 200);
  EXPECT_EQ(httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/readyz").status, 200);
}

TEST_F(ForwardingTest, MalformedHttpIs400AndTheConnectionCloses) {
  // Bytes that are not HTTP get an OpenAI-shaped 400 bad_request, then the connection ends.
  std::string reply = rawExchange(cluster_.dataPlane("dp1").http.port, "NOT HTTP AT ALL\r\n\r\n");
  ASSERT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  auto body = nlohmann::json::parse(reply.substr(reply.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["error"]["code"], "bad_request");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
}

TEST(DataPlaneWithoutConfigTest, RequestsGet503NotReadyUntilAConfigArrives) {
  // A data plane that never reached its control plane and has no saved snapshot answers 503
  // not_ready (OpenAI-shaped) and reports not ready, rather than guessing.
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  cluster.killControlPlane();
  ASSERT_TRUE(cluster.startDataPlane("lonely"));
  auto r = cluster.call("lonely", "POST", "/v1/chat/completions", "fwd-any", R"({"model":"m"})");
  EXPECT_EQ(r.status, 503);
  auto e = nlohmann::json::parse(r.body)["error"];
  EXPECT_EQ(e["code"], "not_ready");
  EXPECT_TRUE(e.contains("message") && e.contains("type") && e.contains("param"));
  EXPECT_EQ(httpRequest(cluster.dataPlane("lonely").admin, "GET", "/readyz").status, 503);
}

}  // namespace
}  // namespace fwd::harness
