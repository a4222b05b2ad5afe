// Notifiers: which addresses a webhook may not reach, URLs taken apart and redacted, what a
// valid notifier is, the request each kind of receiver gets, and delivery to a real loopback
// server — refused there unless the notifier allows private addresses, and UNAVAILABLE when
// the receiver does not answer in time.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controlplane/notify/deliver.h"
#include "controlplane/notify/destination.h"
#include "controlplane/notify/notifier_config.h"
#include "tests/unit/dataplane/scripted_http_server.h"

namespace fwd::controlplane::notify {
namespace notify_test {

using Json = nlohmann::json;
using test_support::ScriptedHttpServer;

common::net::IpAddress ip(const char* text) { return *common::net::parseIp(text); }

TEST(NotifyDestinationTest, PrivateAddressesAreKnownInBothFamilies) {
  for (const char* inside :
       {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fd00::1", "fe80::1",
        "::ffff:10.0.0.1", "ff02::1"}) {
    EXPECT_TRUE(isPrivateAddress(ip(inside))) << inside;
  }
  for (const char* outside :
       {"8.8.8.8", "172.32.0.1", "100.128.0.1", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(isPrivateAddress(ip(outside))) << outside;
  }
}

TEST(NotifyDestinationTest, UrlsAreTakenApartAndShownWithoutTheirSecretPath) {
  auto slack = parseWebhookUrl("https://hooks.slack.com/services/T0/B0/XyZ");
  ASSERT_TRUE(slack.ok()) << slack.status();
  EXPECT_TRUE(slack->tls);
  EXPECT_EQ(slack->host, "hooks.slack.com");
  EXPECT_EQ(slack->port, 443);
  EXPECT_EQ(slack->target, "/services/T0/B0/XyZ");
  auto v6 = parseWebhookUrl("http://[::1]:8080?x=1");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);
  EXPECT_EQ(v6->target, "/?x=1");
  EXPECT_EQ(redactedUrl("https://hooks.slack.com/services/T0/B0/XyZ"), "https://hooks.slack.com/…");
  EXPECT_EQ(redactedUrl("http://[::1]:8080/hook"), "http://[::1]:8080/…");
  EXPECT_EQ(redactedUrl("http://example.com"), "http://example.com/");
  for (const char* bad : {"ftp://example.com/x", "example.com/hook", "https://user:pw@example.com/",
                          "http://example.com:99999/", ""}) {
    EXPECT_EQ(parseWebhookUrl(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(NotifyDestinationTest, LoopbackIsRefusedUnlessAllowed) {
  auto url = parseWebhookUrl("http://localhost:9/hook");
  ASSERT_TRUE(url.ok());
  auto refused = vetDestination(*url, false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--allow-private-address"), std::string::npos)
      << refused.status();
  auto allowed = vetDestination(*url, true);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_FALSE(allowed->empty());
  auto nowhere = parseWebhookUrl("http://no-such-host.invalid/hook");
  EXPECT_EQ(vetDestination(*nowhere, true).status().code(), absl::StatusCode::kFailedPrecondition);
}

fwd::v1::Notifier notifier(const std::string& kind, const std::string& url) {
  fwd::v1::Notifier n;
  n.set_name("ops");
  n.set_kind(kind);
  n.set_url(url);
  if (kind == "matrix") {
    n.set_token("syt_secret");
  }
  return n;
}

TEST(NotifierConfigTest, DefaultsAndBadFieldsAreNamed) {
  fwd::v1::Notifier n = notifier("slack", "https://hooks.slack.com/services/x");
  ASSERT_TRUE(normalizeNotifier(n).ok());
  EXPECT_EQ(n.events_size(), 4);  // every event by default
  struct Case {
    std::function<void(fwd::v1::Notifier&)> change;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {[](auto& n) { n.set_name("Bad Name"); }, "notifier.name"},
           {[](auto& n) { n.set_kind("teams"); }, "notifier.kind"},
           {[](auto& n) { n.set_url("ftp://x"); }, "notifier.url"},
           {[](auto& n) { n.add_events("4xx"); }, "notifier.events: \"4xx\""},
           {[](auto& n) { n.set_token("t"); }, "only a matrix notifier takes a token"},
           {[](auto& n) { n.set_kind("matrix"); }, "a matrix notifier needs the access token"},
           {[](auto& n) { n.mutable_window()->set_nanos(1000); }, "notifier.window: 1s to 24h"},
       }) {
    fwd::v1::Notifier bad = notifier("slack", "https://hooks.slack.com/services/x");
    c.change(bad);
    absl::Status s = normalizeNotifier(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.says;
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s;
  }
  fwd::v1::Notifier shown = redacted(notifier("matrix", "https://m.org/_matrix/x?secret=1"));
  EXPECT_EQ(shown.url(), "https://m.org/…");
  EXPECT_TRUE(shown.token().empty());
  EXPECT_TRUE(shown.has_token());
  google::protobuf::FieldMask mask;
  EXPECT_FALSE(checkNotifierMask(mask).ok());
  mask.add_paths("name");
  EXPECT_FALSE(checkNotifierMask(mask).ok());
}

TEST(NotifyRequestTest, EachKindGetsTheRequestItsReceiverUnderstands) {
  Message m;
  m.event = "5xx";
  m.upstream = "openai";
  m.node = "dp1";
  m.text = "5xx from upstream openai";
  m.count = 3;
  m.time_ms = 1'796'085'000'000;
  auto url = [](const std::string& u) { return *parseWebhookUrl(u); };
  HttpRequest slack = requestFor(notifier("slack", "https://h/s/1"), url("https://h/s/1"), m, "t1");
  EXPECT_EQ(slack.method, "POST");
  EXPECT_EQ(slack.target, "/s/1");
  EXPECT_EQ(Json::parse(slack.body), Json::parse(R"({"text":"[fwd] 5xx from upstream openai"})"));
  HttpRequest feishu =
      requestFor(notifier("feishu", "https://f/hook/2"), url("https://f/hook/2"), m, "t1");
  EXPECT_EQ(
      Json::parse(feishu.body),
      Json::parse(R"({"msg_type":"text","content":{"text":"[fwd] 5xx from upstream openai"}})"));
  const std::string room = "https://m/_matrix/client/v3/rooms/!r:m/send/m.room.message";
  HttpRequest matrix = requestFor(notifier("matrix", room), url(room), m, "fwd-7");
  EXPECT_EQ(matrix.method, "PUT");
  EXPECT_EQ(matrix.target, "/_matrix/client/v3/rooms/!r:m/send/m.room.message/fwd-7");
  ASSERT_EQ(matrix.headers.size(), 1u);
  EXPECT_EQ(matrix.headers[0].second, "Bearer syt_secret");
  EXPECT_EQ(Json::parse(matrix.body),
            Json::parse(R"({"msgtype":"m.text","body":"[fwd] 5xx from upstream openai"})"));
  HttpRequest hook = requestFor(notifier("webhook", "http://w/x"), url("http://w/x"), m, "t1");
  Json j = Json::parse(hook.body);
  EXPECT_EQ(j["event"], "5xx");
  EXPECT_EQ(j["upstream"], "openai");
  EXPECT_EQ(j["node"], "dp1");
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["time"], "2026-12-01T00:30:00Z");
  EXPECT_EQ(j["notifier"], "ops");
}

TEST(NotifyDeliverTest, ALoopbackReceiverGetsTheMessageOnlyWhenPrivateAddressesAreAllowed) {
  std::mutex mu;
  std::vector<std::string> bodies;
  ScriptedHttpServer server([&](int fd, const std::string& head, const std::atomic<bool>&) {
    std::string body = ScriptedHttpServer::readBody(fd, head);
    {
      std::lock_guard lock(mu);
      bodies.push_back(body);
    }
    ScriptedHttpServer::sendAll(fd, ScriptedHttpServer::response(204, ""));
  });
  fwd::v1::Notifier n = notifier("webhook", server.baseUrl("/hook?k=1"));
  Message m;
  m.event = "test";
  m.text = "test message";
  auto refused = deliver(n, m, "t1", std::chrono::seconds(5));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(server.heads().empty());
  n.set_allow_private_address(true);
  auto status = deliver(n, m, "t1", std::chrono::seconds(5));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 204);
  ASSERT_EQ(server.heads().size(), 1u);
  EXPECT_TRUE(server.heads()[0].starts_with("POST /hook?k=1 HTTP/1.1\r\n")) << server.heads()[0];
  std::lock_guard lock(mu);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(Json::parse(bodies[0])["text"], "test message");
}

TEST(NotifyDeliverTest, AReceiverThatDoesNotAnswerIsUnavailableAfterTheTimeout) {
  ScriptedHttpServer server([](int, const std::string&, const std::atomic<bool>& stopping) {
    ScriptedHttpServer::stall(stopping, std::chrono::seconds(3));
  });
  fwd::v1::Notifier n = notifier("slack", server.baseUrl("/s"));
  n.set_allow_private_address(true);
  Message m;
  m.text = "x";
  auto start = std::chrono::steady_clock::now();
  auto status = deliver(n, m, "t1", std::chrono::milliseconds(300));
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable) << status.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(status.status().message().find("/s"), std::string::npos)  // the path stays secret
      << status.status();
}

}  // namespace notify_test
}  // namespace fwd::controlplane::notify
