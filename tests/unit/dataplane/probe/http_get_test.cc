#include "dataplane/probe/http_get.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "tests/unit/dataplane/scripted_http_server.h"

namespace fwd::dataplane::probe {
namespace {

using std::chrono::milliseconds;
using test_support::ScriptedHttpServer;

HttpGetRequest localGet(std::uint16_t port, std::string target = "/v1/models",
                        milliseconds timeout = milliseconds(2'000)) {
  HttpGetRequest r;
  r.host = "127.0.0.1";
  r.port = std::to_string(port);
  r.host_header = "127.0.0.1:" + std::to_string(port);
  r.target = std::move(target);
  r.timeout = timeout;
  return r;
}

// Runs one httpGet to completion on a fresh io_context (as the fetcher's thread would).
HttpGetResult run(const HttpGetRequest& request) {
  boost::asio::io_context ioc;
  TlsClientContexts tls;
  std::optional<HttpGetResult> out;
  boost::asio::co_spawn(
      ioc, [&]() -> boost::asio::awaitable<void> { out = co_await httpGet(request, tls); },
      [](std::exception_ptr e) {
        if (e) {
          std::rethrow_exception(e);
        }
      });
  ioc.run();
  return out.value_or(HttpGetResult{HttpGetError::kIo, 0, "", false, "did not complete", {}});
}

// A port nothing listens on: bound, then closed.
std::uint16_t closedPort() {
  std::uint16_t port;
  {
    ScriptedHttpServer server([](int, const std::string&, const std::atomic<bool>&) {});
    port = server.port();
  }
  return port;
}

TEST(HttpGetTest, ReturnsStatusAndBodyAndSendsHostCredentialAndTarget) {
  // A 200 comes back with its body; the request carries the target, Host and Authorization.
  ScriptedHttpServer server([](int fd, const std::string&, const std::atomic<bool>&) {
    ScriptedHttpServer::sendAll(fd, ScriptedHttpServer::response(200, R"({"data":[]})"));
  });
  HttpGetRequest req = localGet(server.port(), "/base/v1/models?x=1");
  req.host_header = "upstream.example:8443";
  req.credential = "Bearer sk-upstream";
  HttpGetResult r = run(req);
  EXPECT_EQ(r.error, HttpGetError::kNone) << r.detail;
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.body, R"({"data":[]})");
  EXPECT_FALSE(r.truncated);
  ASSERT_EQ(server.heads().size(), 1u);
  const std::string head = server.heads()[0];
  EXPECT_EQ(head.rfind("GET /base/v1/models?x=1 HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Host: upstream.example:8443\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Authorization: Bearer sk-upstream\r\n"), std::string::npos) << head;
}

TEST(HttpGetTest, AnErrorStatusIsAResponseNotAFailure) {
  // A 503 is reported as status 503 with its body and no transport error, and is not ok().
  ScriptedHttpServer server([](int fd, const std::string&, const std::atomic<bool>&) {
    ScriptedHttpServer::sendAll(fd, ScriptedHttpServer::response(503, "down"));
  });
  HttpGetResult r = run(localGet(server.port()));
  EXPECT_EQ(r.error, HttpGetError::kNone) << r.detail;
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "down");
  EXPECT_FALSE(r.ok());
}

TEST(HttpGetTest, ABodyOverTheCapIsTruncatedNotRead) {
  // Only max_body_bytes of a longer body are kept, and truncated says so.
  ScriptedHttpServer server([](int fd, const std::string&, const std::atomic<bool>&) {
    ScriptedHttpServer::sendAll(fd, ScriptedHttpServer::response(200, std::string(100'000, 'x')));
  });
  HttpGetRequest req = localGet(server.port());
  req.max_body_bytes = 1'000;
  HttpGetResult r = run(req);
  EXPECT_EQ(r.error, HttpGetError::kNone) << r.detail;
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.body.size(), 1'000u);
}

TEST(HttpGetTest, AChunkedBodyDelimitedByCloseIsReadWhole) {
  // Chunked framing is decoded, and a body that ends with the connection close is complete.
  ScriptedHttpServer server([](int fd, const std::string& head, const std::atomic<bool>&) {
    if (head.find("/chunked") != std::string::npos) {
      ScriptedHttpServer::sendAll(
          fd,
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    } else {
      ScriptedHttpServer::sendAll(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close");
    }
  });
  HttpGetResult chunked = run(localGet(server.port(), "/chunked"));
  EXPECT_EQ(chunked.error, HttpGetError::kNone) << chunked.detail;
  EXPECT_EQ(chunked.body, "abcde");
  HttpGetResult eof = run(localGet(server.port(), "/eof"));
  EXPECT_EQ(eof.error, HttpGetError::kNone) << eof.detail;
  EXPECT_EQ(eof.body, "until-close");
}

TEST(HttpGetTest, APeerThatNeverAnswersTimesOutAtTheDeadline) {
  // The deadline bounds the whole call: a silent peer is a kTimeout after about `timeout`.
  ScriptedHttpServer server([](int, const std::string&, const std::atomic<bool>& stopping) {
    ScriptedHttpServer::stall(stopping, milliseconds(5'000));
  });
  auto start = std::chrono::steady_clock::now();
  HttpGetResult r = run(localGet(server.port(), "/v1/models", milliseconds(300)));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.error, HttpGetError::kTimeout) << r.detail;
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, milliseconds(2'000));
}

TEST(HttpGetTest, ABodyThatStallsTimesOutWithTheStatusKnown) {
  // A head followed by a stalled body is a timeout, and the status that arrived is reported.
  ScriptedHttpServer server([](int fd, const std::string&, const std::atomic<bool>& stopping) {
    ScriptedHttpServer::sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    ScriptedHttpServer::stall(stopping, milliseconds(5'000));
  });
  HttpGetResult r = run(localGet(server.port(), "/v1/models", milliseconds(300)));
  EXPECT_EQ(r.error, HttpGetError::kTimeout) << r.detail;
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.ok());
}

TEST(HttpGetTest, ARefusedConnectionIsAConnectError) {
  // Nothing listening: kConnect, not a timeout, and quickly.
  HttpGetResult r = run(localGet(closedPort()));
  EXPECT_EQ(r.error, HttpGetError::kConnect) << r.detail;
  EXPECT_FALSE(r.detail.empty());
}

TEST(HttpGetTest, GarbageIsMalformedAndAHangUpIsAnIoError) {
  // A peer that does not speak HTTP is kMalformed; one that closes without answering is kIo.
  ScriptedHttpServer server([](int fd, const std::string& head, const std::atomic<bool>&) {
    if (head.find("/garbage") != std::string::npos) {
      ScriptedHttpServer::sendAll(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
    }
  });
  EXPECT_EQ(run(localGet(server.port(), "/garbage")).error, HttpGetError::kMalformed);
  EXPECT_EQ(run(localGet(server.port(), "/hangup")).error, HttpGetError::kIo);
}

TEST(HttpGetTest, UpstreamGetAppendsThePathToTheBaseUrl) {
  // GET <base_url><path>: base path, Host header, credential and TLS mode come from the upstream.
  config::UpstreamTarget t;
  t.tls = true;
  t.insecure_skip_verify = true;
  t.host = "api.example.com";
  t.port = "443";
  t.host_header = "api.example.com";
  t.base_path = "/openai/v1";
  t.credential = "Bearer k";
  HttpGetRequest r = upstreamGet(t, "/models", milliseconds(1'234));
  EXPECT_TRUE(r.tls);
  EXPECT_TRUE(r.insecure_skip_verify);
  EXPECT_EQ(r.host, "api.example.com");
  EXPECT_EQ(r.port, "443");
  EXPECT_EQ(r.target, "/openai/v1/models");
  EXPECT_EQ(r.credential, "Bearer k");
  EXPECT_EQ(r.timeout, milliseconds(1'234));
}

}  // namespace
}  // namespace fwd::dataplane::probe
