// What an attacker or a bad day tries against the real binaries: request smuggling through odd
// framing, empty upstream answers, headers a client should not control, missing fields. Each
// test is a regression test for a defect found by probing fwd (issue 14).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using std::chrono::seconds;

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    auto r = cluster_.fwdctl({"upstream", "add", "local", "--base-url",
                              cluster_.upstream("up1").baseUrl(), "--api-key", "sk-upstream",
                              "--model", "gpt-*", "--timeout", "2s"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    key_ = cluster_.createKey("alice");
    ASSERT_FALSE(key_.empty());
    ASSERT_TRUE(cluster_.waitInSync());
  }

  // Requests the fake upstream has answered (its /_fake/stats), or -1.
  int upstreamRequests() {
    Response stats = httpRequest(cluster_.upstream("up1").endpoint, "GET", "/_fake/stats");
    auto j = nlohmann::json::parse(stats.body, nullptr, false);
    return j.is_object() ? j.value("requests", -1) : -1;
  }

  // A complete, valid chat request with `framing` as its framing fields and `body` after the
  // blank line: what a smuggler sends.
  std::string rawRequest(const std::string& framing, const std::string& body,
                         const std::string& version = "HTTP/1.1") {
    return "POST /v1/chat/completions " + version + "\r\nHost: fwd\r\nAuthorization: Bearer " +
           key_ + "\r\nContent-Type: application/json\r\n" + framing + "\r\n" + body;
  }

  FwdCluster cluster_;
  std::string key_;
};

// How many HTTP responses `raw` holds (status lines at the start of a line).
int responseCount(const std::string& raw) {
  int n = 0;
  for (size_t at = raw.find("HTTP/1.1 "); at != std::string::npos;
       at = raw.find("HTTP/1.1 ", at + 1)) {
    n += at == 0 || raw[at - 1] == '\n' ? 1 : 0;
  }
  return n;
}

TEST_F(HardeningTest, AmbiguousFramingIs400AndNothingIsSmuggledUpstream) {
  // RFC 9112 §6.1/§6.3: every framing fwd might read differently from a proxy in front of it
  // is refused with one 400 and the connection closes, so the bytes after the head (here a
  // second, complete chat request) never reach an upstream as a request of their own.
  const std::string chat = R"({"model":"gpt-4o","messages":[]})";
  const std::string smuggled =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: fwd\r\n"
      "Authorization: Bearer " +
      key_ +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(chat.size()) +
      "\r\n\r\n" + chat;
  const std::string chunked_smuggle =
      "0\r\n\r\n" + smuggled;  // valid as chunked, and a second request if read as no body
  struct Case {
    std::string framing;
    std::string body;
    std::string version = "HTTP/1.1";
  };
  const Case cases[] = {
      {"Transfer-Encoding: chunkedx\r\n", smuggled},
      {"Transfer-Encoding: chunked, gzip\r\n", smuggled},
      {"Transfer-Encoding: gzip, chunked\r\n", chunked_smuggle},
      {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", chunked_smuggle},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked_smuggle},
      {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", chunked_smuggle},
      {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", chunked_smuggle},
      {"Content-Length: 0\r\nContent-Length: 0\r\n", smuggled},
      {"Content-Length: 0, 0\r\n", smuggled},
      {"Content-Length: 0\r\nContent-Length: 100\r\n", smuggled},
      {"Content-Length: +0\r\n", smuggled},
      {"Transfer-Encoding: chunked\r\n", chunked_smuggle, "HTTP/1.0"},
      {"Transfer-Encoding : chunked\r\n", chunked_smuggle},
  };
  for (const Case& c : cases) {
    std::string reply =
        rawExchange(cluster_.dataPlane("dp1").http.port, rawRequest(c.framing, c.body, c.version));
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << c.framing << reply;
    EXPECT_EQ(responseCount(reply), 1) << c.framing << reply;
    EXPECT_NE(reply.find("Connection: close"), std::string::npos) << c.framing << reply;
    auto body = nlohmann::json::parse(reply.substr(reply.find("\r\n\r\n") + 4), nullptr, false);
    EXPECT_EQ(body["error"]["type"], "invalid_request_error") << c.framing << reply;
  }
  EXPECT_EQ(upstreamRequests(), 0) << "a smuggled request reached the upstream";

  // The well-framed forms of the same request still go through.
  char size_line[16];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chat.size());
  std::string chunked_body = size_line + chat + "\r\n0\r\n\r\n";
  for (const std::string& framing : {std::string("Transfer-Encoding: chunked\r\n"),
                                     "Content-Length: " + std::to_string(chat.size()) + "\r\n"}) {
    const std::string& body = framing.rfind("Transfer", 0) == 0 ? chunked_body : chat;
    std::string reply = rawExchange(cluster_.dataPlane("dp1").http.port,
                                    rawRequest(framing + "Connection: close\r\n", body));
    EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << framing << reply;
  }
  EXPECT_EQ(upstreamRequests(), 2);
}

TEST_F(HardeningTest, OverlongRequestLineIs414AndTooManyFieldsIs431) {
  // Edge-proxy limits: a request line over 8 KiB and more than 100 header fields are refused
  // before anything is routed, and the connection closes.
  std::string long_target = "/v1/chat/completions?q=" + std::string(9000, 'a');
  std::string reply = rawExchange(cluster_.dataPlane("dp1").http.port,
                                  "GET " + long_target + " HTTP/1.1\r\nHost: fwd\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 414", 0), 0u) << reply.substr(0, 200);
  EXPECT_NE(reply.find("\"uri_too_long\""), std::string::npos) << reply;

  // Longer than the whole 64 KiB head limit: still a request line problem.
  std::string huge_target = "/v1/models?q=" + std::string(70000, 'a');
  reply = rawExchange(cluster_.dataPlane("dp1").http.port,
                      "GET " + huge_target + " HTTP/1.1\r\nHost: fwd\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 414", 0), 0u) << reply.substr(0, 200);

  std::string many;
  for (int i = 0; i < 101; ++i) {
    many += "x-field-" + std::to_string(i) + ": 1\r\n";
  }
  reply = rawExchange(cluster_.dataPlane("dp1").http.port,
                      "GET /v1/models HTTP/1.1\r\n" + many + "\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 200);
  EXPECT_NE(reply.find("too many header fields"), std::string::npos) << reply;

  // 100 fields (Host among them) are fine.
  std::string hundred = "Host: fwd\r\nAuthorization: Bearer " + key_ + "\r\n";
  for (int i = 0; i < 97; ++i) {
    hundred += "x-field-" + std::to_string(i) + ": 1\r\n";
  }
  reply = rawExchange(cluster_.dataPlane("dp1").http.port,
                      "GET /v1/models HTTP/1.1\r\n" + hundred + "Connection: close\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply.substr(0, 200);
}

TEST_F(HardeningTest, AnEmptyUpstreamAnswerIsRelayedAtOnce) {
  // An upstream 200 or 302 with Content-Length: 0 reaches the client as it is, long before any
  // timeout, and the keep-alive connection serves the next request.
  HttpConnection client(cluster_.dataPlane("dp1").http);
  Headers headers = {{"Authorization", "Bearer " + key_},
                     {"Content-Type", "application/json"},
                     {"x-fake-empty", "1"}};
  const std::string body = R"({"model":"gpt-4o"})";
  for (const char* status : {"200", "302", "204"}) {
    Headers h = headers;
    h.emplace("x-fake-status", status);
    auto start = std::chrono::steady_clock::now();
    Response r = client.request("POST", "/v1/chat/completions", h, body, std::chrono::seconds(5));
    EXPECT_EQ(r.status, std::stoi(status)) << status << ": " << r.error;
    EXPECT_TRUE(r.complete) << status;
    EXPECT_EQ(r.body, "") << status;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << status;
  }
  Response next = client.request(
      "POST", "/v1/chat/completions",
      {{"Authorization", "Bearer " + key_}, {"Content-Type", "application/json"}}, body);
  EXPECT_EQ(next.status, 200) << next.error;
  EXPECT_TRUE(client.isOpen());
}

TEST_F(HardeningTest, AnEarlyErrorKeepsTheConnectionOnlyWhenNoBodyIsLeftUnread) {
  // A bodyless request refused before its body would be read (401) is answered keep-alive; one
  // whose body is still unread is answered with Connection: close (the body is not a request).
  HttpConnection client(cluster_.dataPlane("dp1").http);
  Response refused = client.request("GET", "/v1/models", {{"Authorization", "Bearer sk-wrong"}});
  EXPECT_EQ(refused.status, 401) << refused.error;
  EXPECT_NE(refused.header("Connection"), "close");
  Response next = client.request("GET", "/v1/models", {{"Authorization", "Bearer " + key_}});
  EXPECT_EQ(next.status, 200) << next.error;
  EXPECT_TRUE(client.isOpen());

  const std::string body = R"({"model":"gpt-4o"})";
  std::string raw = rawExchange(
      cluster_.dataPlane("dp1").http.port,
      "POST /v1/chat/completions HTTP/1.1\r\nHost: fwd\r\nAuthorization: Bearer sk-wrong\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(raw.rfind("HTTP/1.1 401", 0), 0u) << raw;
  EXPECT_NE(raw.find("Connection: close"), std::string::npos) << raw;
  EXPECT_EQ(responseCount(raw), 1) << raw;
}

TEST_F(HardeningTest, InterimResponsesAreDroppedAndTheAnswerRelayed) {
  // An upstream's 100, 102 or 103 ahead of its answer is not relayed as if it were the answer
  // (a client would then wait for a final response forever): the client gets the 200, whole,
  // for JSON and for a stream, on a connection that goes on.
  HttpConnection client(cluster_.dataPlane("dp1").http);
  for (const char* interim : {"100", "102", "103"}) {
    Headers h = {{"Authorization", "Bearer " + key_},
                 {"Content-Type", "application/json"},
                 {"x-fake-interim", interim}};
    Response json =
        client.request("POST", "/v1/chat/completions", h, R"({"model":"gpt-4o"})", seconds(5));
    ASSERT_EQ(json.status, 200) << interim << ": " << json.error;
    EXPECT_EQ(nlohmann::json::parse(json.body, nullptr, false)["object"], "chat.completion");
    EXPECT_FALSE(json.hasHeader("link")) << interim;
    Response stream = client.request("POST", "/v1/chat/completions", h,
                                     R"({"model":"gpt-4o","stream":true})", seconds(5));
    ASSERT_EQ(stream.status, 200) << interim << ": " << stream.error;
    EXPECT_NE(stream.body.find("data: [DONE]"), std::string::npos) << interim;
  }
  EXPECT_TRUE(client.isOpen());
}

TEST_F(HardeningTest, HopByHopAndAddressClaimsStopAtFwd) {
  // Fields the client's Connection header names (RFC 9110 §7.6.1) are not forwarded, and the
  // upstream learns the client's address from fwd alone: the client's X-Forwarded-For,
  // X-Real-IP and Forwarded are replaced by X-Forwarded-For with the peer address.
  Response r = cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"gpt-4o"})",
                             {{"Content-Type", "application/json"},
                              {"x-fake-echo-headers", "1"},
                              {"Connection", "keep-alive, X-Hop-Secret"},
                              {"X-Hop-Secret", "for fwd only"},
                              {"X-Forwarded-For", "6.6.6.6"},
                              {"X-Real-IP", "6.6.6.6"},
                              {"Forwarded", "for=6.6.6.6"},
                              {"X-Kept", "yes"}});
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j["headers"].is_array()) << r.body;
  std::vector<std::string> received;
  for (const auto& h : j["headers"]) {
    std::string line = h.get<std::string>();
    for (size_t i = 0; i < line.find(':'); ++i) {
      line[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
    }
    received.push_back(line);
  }
  auto has = [&](const std::string& line) {
    return std::find(received.begin(), received.end(), line) != received.end();
  };
  EXPECT_TRUE(has("x-forwarded-for: 127.0.0.1")) << r.body;
  EXPECT_TRUE(has("x-kept: yes")) << r.body;
  for (std::string gone : {"x-hop-secret", "x-real-ip", "forwarded", "connection"}) {
    EXPECT_TRUE(std::none_of(received.begin(), received.end(),
                             [&](const std::string& l) { return l.rfind(gone + ":", 0) == 0; }))
        << gone << " reached the upstream: " << r.body;
  }
  EXPECT_EQ(std::count_if(received.begin(), received.end(),
                          [](const std::string& l) { return l.rfind("x-forwarded-for:", 0) == 0; }),
            1)
      << r.body;
}

TEST_F(HardeningTest, AJsonBodyWithoutModelIs400WhereOpenAiRequiresOne) {
  // OpenAI answers 400 param "model" when chat, completions, embeddings, responses or speech
  // get no model; so does fwd, instead of routing by path to a 404, and the connection goes on.
  HttpConnection client(cluster_.dataPlane("dp1").http);
  for (const char* path : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                           "/v1/responses", "/v1/audio/speech"}) {
    for (const char* body : {R"({"messages":[]})", ""}) {
      Response r = client.request(
          "POST", path, {{"Authorization", "Bearer " + key_}, {"Content-Type", "application/json"}},
          body);
      EXPECT_EQ(r.status, 400) << path << " " << body << ": " << r.body;
      auto e = nlohmann::json::parse(r.body, nullptr, false)["error"];
      EXPECT_EQ(e["param"], "model") << r.body;
      EXPECT_EQ(e["code"], "missing_required_parameter") << r.body;
      EXPECT_EQ(e["type"], "invalid_request_error") << r.body;
    }
  }
  EXPECT_TRUE(client.isOpen());
  EXPECT_EQ(upstreamRequests(), 0);
}

TEST_F(HardeningTest, HeadLimitsAndClientTimeoutsAreFlags) {
  // --max-header-fields, --max-request-line-bytes, --max-header-bytes and --header-timeout set
  // what the defaults (100, 8 KiB, 64 KiB, 10 s) otherwise do; a slow head is cut at its timeout.
  ASSERT_TRUE(
      cluster_.startDataPlane("dp2", {},
                              {"--max-header-fields", "10", "--max-request-line-bytes", "300",
                               "--max-header-bytes", "2048", "--header-timeout", "300ms"}));
  ASSERT_TRUE(cluster_.waitInSync());
  const std::uint16_t port = cluster_.dataPlane("dp2").http.port;
  std::string eleven;
  for (int i = 0; i < 11; ++i) {
    eleven += "x-f" + std::to_string(i) + ": 1\r\n";
  }
  EXPECT_EQ(rawExchange(port, "GET /v1/models HTTP/1.1\r\n" + eleven + "\r\n").substr(0, 12),
            "HTTP/1.1 431");
  EXPECT_EQ(rawExchange(port, "GET /v1/models?" + std::string(300, 'q') + " HTTP/1.1\r\n\r\n")
                .substr(0, 12),
            "HTTP/1.1 414");
  EXPECT_EQ(
      rawExchange(port, "GET /v1/models HTTP/1.1\r\nx-big: " + std::string(3000, 'b') + "\r\n\r\n")
          .substr(0, 12),
      "HTTP/1.1 431");
  auto start = std::chrono::steady_clock::now();
  std::string slow =
      rawExchange(port, "GET /v1/models HTTP/1.1\r\nHost: fwd\r\n", std::chrono::seconds(5));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(slow.substr(0, 12), "HTTP/1.1 408") << slow;
  EXPECT_LT(took, std::chrono::seconds(2));
  // The same request, whole, is served.
  Response ok = httpRequest(cluster_.dataPlane("dp2").http, "GET", "/v1/models",
                            {{"Authorization", "Bearer " + key_}});
  EXPECT_EQ(ok.status, 200) << ok.error;
}

}  // namespace
}  // namespace fwd::harness
