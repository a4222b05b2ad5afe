// fwdctl notify with the real binaries: a notifier is added, shown (its URL redacted, its token
// never), changed, tested against a live receiver (the request each kind sends) and removed;
// a URL on loopback is refused unless --allow-private-address, and bad flags are usage errors.
// An outage's failed requests reach the receiver as one message and a summary, not one each.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "tests/integration/cluster/fwd_cluster.h"
#include "tests/unit/dataplane/scripted_http_server.h"

namespace fwd::harness {
namespace notify_test {

using Json = nlohmann::json;
using test_support::ScriptedHttpServer;

/// A receiver that answers `status` and keeps each request (head and body).
class Receiver {
 public:
  explicit Receiver(int status = 200)
      : server_([this, status](int fd, const std::string& head, const std::atomic<bool>&) {
          const std::string body = ScriptedHttpServer::readBody(fd, head);
          {
            std::lock_guard lock(mu_);
            requests_.push_back(head.substr(0, head.find("\r\n\r\n") + 4) + body);
          }
          ScriptedHttpServer::sendAll(fd, ScriptedHttpServer::response(status, "{}"));
        }) {}

  std::string url(const std::string& path) const { return server_.baseUrl(path); }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  ScriptedHttpServer server_;
};

class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.startControlPlane()); }
  FwdCluster cluster_;
};

TEST_F(NotifyTest, ANotifierIsAddedShownTestedChangedAndRemoved) {
  Receiver receiver;
  const std::string url = receiver.url("/hooks/T0/s3cr3t-path");
  // Loopback is where internal services listen: refused unless allowed.
  CommandResult refused =
      cluster_.fwdctl({"notify", "add", "ops", "--kind", "webhook", "--url", url});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.stderr_text.find("--allow-private-address"), std::string::npos)
      << refused.stderr_text;
  Json added = cluster_.fwdctlJson({"notify", "add", "ops", "--kind", "webhook", "--url", url,
                                    "--on", "5xx,budget_exceeded", "--allow-private-address"});
  EXPECT_EQ(added["name"], "ops");
  EXPECT_EQ(added["url"], url.substr(0, url.find("/hooks")) + "/…");
  EXPECT_EQ(added["events"], Json::parse(R"(["5xx","budget_exceeded"])"));
  EXPECT_EQ(added["window"], "5m");
  CommandResult dup = cluster_.fwdctl(
      {"notify", "add", "ops", "--kind", "slack", "--url", url, "--allow-private-address"});
  EXPECT_NE(dup.exit_code, 0);
  EXPECT_NE(dup.stderr_text.find("already exists"), std::string::npos) << dup.stderr_text;

  CommandResult listed = cluster_.fwdctl({"notify", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.stderr_text;
  EXPECT_NE(listed.stdout_text.find("ops"), std::string::npos);
  EXPECT_EQ(listed.stdout_text.find("s3cr3t"), std::string::npos) << listed.stdout_text;

  CommandResult tested = cluster_.fwdctl({"notify", "test", "ops"});
  ASSERT_EQ(tested.exit_code, 0) << tested.stderr_text;
  EXPECT_EQ(tested.stdout_text, "test message to \"ops\": HTTP 200 (delivered)\n");
  ASSERT_EQ(receiver.requests().size(), 1u);
  const std::string got = receiver.requests()[0];
  EXPECT_TRUE(got.starts_with("POST /hooks/T0/s3cr3t-path HTTP/1.1\r\n")) << got;
  Json body = Json::parse(got.substr(got.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["event"], "test");
  EXPECT_EQ(body["notifier"], "ops");
  EXPECT_EQ(body["text"], "test message from fwd (notifier \"ops\")");

  Json updated = cluster_.fwdctlJson(
      {"notify", "update", "ops", "--on", "upstream_ejected", "--window", "30s"});
  EXPECT_EQ(updated["events"], Json::parse(R"(["upstream_ejected"])"));
  EXPECT_EQ(updated["window"], "30s");
  Json got_one = cluster_.fwdctlJson({"notify", "get", "ops"});
  EXPECT_EQ(got_one["window"], "30s");
  EXPECT_EQ(got_one["allow_private_address"], true);

  ASSERT_EQ(cluster_.fwdctl({"notify", "remove", "ops"}).exit_code, 0);
  CommandResult gone = cluster_.fwdctl({"notify", "get", "ops"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.stderr_text.find("not found"), std::string::npos) << gone.stderr_text;
  EXPECT_EQ(cluster_.fwdctlJson({"notify", "list"})["notifiers"], Json::array());
  // The control plane's log never shows the URL's path.
  EXPECT_EQ(cluster_.controlPlaneProcess()->stderrText().find("s3cr3t"), std::string::npos);
}

TEST_F(NotifyTest, MatrixGetsARoomMessageWithItsTokenWhichIsNeverShown) {
  Receiver receiver;
  const std::string room =
      receiver.url("/_matrix/client/v3/rooms/!ops:example.org/send/m.room.message");
  ASSERT_EQ(cluster_
                .fwdctl({"notify", "add", "room", "--kind", "matrix", "--url", room, "--token",
                         "syt_very_secret", "--allow-private-address"})
                .exit_code,
            0);
  Json shown = cluster_.fwdctlJson({"notify", "get", "room"});
  EXPECT_EQ(shown["has_token"], true);
  EXPECT_EQ(shown.dump().find("syt_very_secret"), std::string::npos);
  ASSERT_EQ(cluster_.fwdctl({"notify", "test", "room"}).exit_code, 0);
  ASSERT_EQ(receiver.requests().size(), 1u);
  const std::string got = receiver.requests()[0];
  EXPECT_TRUE(got.starts_with(
      "PUT /_matrix/client/v3/rooms/!ops:example.org/send/m.room.message/fwd-test-"))
      << got;
  EXPECT_NE(got.find("Authorization: Bearer syt_very_secret\r\n"), std::string::npos) << got;
  Json body = Json::parse(got.substr(got.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["msgtype"], "m.text");
  EXPECT_EQ(cluster_.controlPlaneProcess()->stderrText().find("syt_very_secret"),
            std::string::npos);
}

TEST_F(NotifyTest, AReceiverThatRefusesMakesTestFail) {
  Receiver receiver(403);
  ASSERT_EQ(cluster_
                .fwdctl({"notify", "add", "ops", "--kind", "slack", "--url", receiver.url("/s"),
                         "--allow-private-address"})
                .exit_code,
            0);
  CommandResult tested = cluster_.fwdctl({"notify", "test", "ops"});
  EXPECT_NE(tested.exit_code, 0);
  EXPECT_NE(tested.stderr_text.find("HTTP 403"), std::string::npos) << tested.stderr_text;
  CommandResult no_token = cluster_.fwdctl({"notify", "add", "m", "--kind", "matrix", "--url",
                                            receiver.url("/m"), "--allow-private-address"});
  EXPECT_NE(no_token.exit_code, 0);
  EXPECT_NE(no_token.stderr_text.find("access token"), std::string::npos) << no_token.stderr_text;
  CommandResult bad_kind =
      cluster_.fwdctl({"notify", "add", "x", "--kind", "teams", "--url", receiver.url("/m")});
  EXPECT_EQ(bad_kind.exit_code, 2);
  CommandResult bad_event = cluster_.fwdctl(
      {"notify", "add", "x", "--kind", "slack", "--url", receiver.url("/m"), "--on", "4xx"});
  EXPECT_EQ(bad_event.exit_code, 2);
}

TEST_F(NotifyTest, AnOutageSendsAFewMessagesNotThousands) {
  Receiver receiver;
  ASSERT_TRUE(cluster_.startUpstream("up1"));
  ASSERT_TRUE(cluster_.startDataPlane("dp1"));
  ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "add", "local", "--base-url",
                                     cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"}));
  const std::string key = cluster_.createKeyInSync("team-a", {});
  ASSERT_EQ(
      cluster_
          .fwdctl({"notify", "add", "ops", "--kind", "webhook", "--url", receiver.url("/hook"),
                   "--on", "all_upstreams_failed", "--window", "2s", "--allow-private-address"})
          .exit_code,
      0);
  const std::string chat = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
  ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", key, chat).status, 200);
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(
        cluster_.call("dp1", "POST", "/v1/chat/completions", key, chat, {{"x-fake-status", "500"}})
            .status,
        502);
  }
  // One message at once, then one summary when the 2 s window closes: every failure counted.
  std::uint64_t counted = 0;
  std::vector<Json> messages;
  ASSERT_TRUE(waitFor(
      [&] {
        messages.clear();
        counted = 0;
        for (const std::string& r : receiver.requests()) {
          messages.push_back(Json::parse(r.substr(r.find("\r\n\r\n") + 4)));
          counted += messages.back()["count"].get<std::uint64_t>();
        }
        return counted >= 30;
      },
      std::chrono::seconds(15), "30 failures told"));
  EXPECT_EQ(counted, 30u);
  EXPECT_LE(messages.size(), 3u);
  EXPECT_EQ(messages[0]["event"], "all_upstreams_failed");
  EXPECT_EQ(messages[0]["upstream"], "local");
  EXPECT_EQ(messages[0]["node"], "dp1");
  EXPECT_EQ(messages[0]["key"], "team-a");
  EXPECT_EQ(messages[0]["count"], 1);
}

}  // namespace notify_test
}  // namespace fwd::harness
