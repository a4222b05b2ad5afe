// The data plane's client listener over TLS (--tls-cert, --tls-key), for deployments without a
// TLS-terminating load balancer: JSON answers, streams and keep-alive work as over plain HTTP;
// a client that does not speak TLS gets nothing and is counted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

class ClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::access("/usr/bin/openssl", X_OK), 0)
        << "the openssl CLI is needed to make test certificates";
    auto r = runCommand("/usr/bin/openssl",
                        {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                         "/CN=fwd-test-listener", "-addext", "subjectAltName=IP:127.0.0.1",
                         "-keyout", dir_.file("dp.key"), "-out", dir_.file("dp.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane(
        "dp1", {}, {"--tls-cert", dir_.file("dp.pem"), "--tls-key", dir_.file("dp.key")}));
    ASSERT_TRUE(cluster_.dataPlane("dp1").http.tls);
    ASSERT_EQ(cluster_
                  .fwdctl({"upstream", "add", "local", "--base-url",
                           cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"})
                  .exit_code,
              0);
    key_ = cluster_.createKey("alice");
    ASSERT_TRUE(cluster_.waitInSync());
  }

  TempDir dir_{"fwd-client-tls"};
  FwdCluster cluster_;
  std::string key_;
};

TEST_F(ClientTlsTest, JsonStreamsAndKeepAliveWorkOverTls) {
  // Several requests on one TLS connection: a JSON answer, a 50-event stream that arrives whole
  // with its [DONE], an error fwd writes itself, and a JSON answer again.
  HttpConnection client(cluster_.dataPlane("dp1").http);
  const Headers headers = {{"Authorization", "Bearer " + key_},
                           {"Content-Type", "application/json"}};
  Response json = client.request("POST", "/v1/chat/completions", headers, R"({"model":"gpt-4o"})");
  ASSERT_EQ(json.status, 200) << json.error;
  EXPECT_EQ(nlohmann::json::parse(json.body)["object"], "chat.completion");

  Headers stream_headers = headers;
  stream_headers.emplace("x-fake-chunks", "50");
  Response stream = client.request("POST", "/v1/chat/completions", stream_headers,
                                   R"({"model":"gpt-4o","stream":true})");
  ASSERT_EQ(stream.status, 200) << stream.error;
  EXPECT_TRUE(stream.complete);
  size_t events = 0;
  for (size_t at = stream.body.find("data: "); at != std::string::npos;
       at = stream.body.find("data: ", at + 1)) {
    ++events;
  }
  EXPECT_EQ(events, 51u) << stream.body;
  EXPECT_NE(stream.body.find("data: [DONE]"), std::string::npos);

  Response missing = client.request("POST", "/v1/chat/completions", headers, R"({"model":"x"})");
  EXPECT_EQ(missing.status, 404);
  Response again = client.request("POST", "/v1/chat/completions", headers, R"({"model":"gpt-4o"})");
  EXPECT_EQ(again.status, 200) << again.error;
  EXPECT_TRUE(client.isOpen());
}

TEST_F(ClientTlsTest, PlainHttpToTheTlsListenerGetsNoAnswerAndIsCounted) {
  // Plaintext on the TLS port fails the handshake: no HTTP answer leaks, the connection closes,
  // and fwd_tls_handshake_failures_total says so.
  std::string reply = rawExchange(cluster_.dataPlane("dp1").http.port,
                                  "GET /v1/models HTTP/1.1\r\nHost: fwd\r\n\r\n");
  EXPECT_EQ(reply.find("HTTP/1.1"), std::string::npos) << reply;
  Response m;
  EXPECT_TRUE(waitFor(
      [&] {
        m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
        return metricValue(m.body, "fwd_tls_handshake_failures_total") >= 1;
      },
      std::chrono::seconds(5), "the failed handshake to be counted"))
      << m.body;
}

}  // namespace
}  // namespace fwd::harness
