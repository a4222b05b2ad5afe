// Failing well: route retry policies (conditions, going round the group, backoff), the retry
// budget under a full outage, outlier ejection, and cancelling the upstream request when the
// client hangs up — real binaries against the fake upstream.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The fake's /_fake/stats as JSON ({"name","client_aborts","requests"}).
nlohmann::json fakeStats(FakeUpstream& up) {
  auto r = httpRequest(up.endpoint, "GET", "/_fake/stats");
  return r.status == 200 ? nlohmann::json::parse(r.body) : nlohmann::json::object();
}

int served(FakeUpstream& up) { return fakeStats(up).value("requests", -1); }

class ResilienceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    key_ = cluster_.createKey("k");
  }

  void fwdctl(std::vector<std::string> args) {
    auto r = cluster_.fwdctl(args);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  }

  // Starts a fake upstream and registers it under the same name, serving no model by pattern
  // (routes send to it).
  void upstream(const std::string& name, std::vector<std::string> fake_args = {},
                std::vector<std::string> fwdctl_args = {}) {
    ASSERT_TRUE(cluster_.startUpstream(name, fake_args));
    std::vector<std::string> args = {
        "upstream", "add", name, "--base-url", cluster_.upstream(name).baseUrl(),
        "--model",  "none"};
    args.insert(args.end(), fwdctl_args.begin(), fwdctl_args.end());
    fwdctl(args);
  }

  Response chat(const std::string& model, Headers headers = {}) {
    return cluster_.call("dp1", "POST", "/v1/chat/completions", key_,
                         R"({"model":")" + model + R"("})", std::move(headers));
  }

  double metric(const std::string& series) {
    auto m = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
    return metricValue(m.body, series);
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(ResilienceTest, ARetryOn429GoesToTheNextUpstream) {
  // With --retry-on 429 a rate-limited upstream is a failure to retry elsewhere, not the answer.
  upstream("limited", {"--fail-status", "429"});
  upstream("spare");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "limited", "--upstream", "spare",
          "--retries", "1", "--retry-on", "429"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("m");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fwd-upstream"), "spare");
  EXPECT_EQ(served(cluster_.upstream("limited")), 1);
  EXPECT_EQ(metric(R"(fwd_upstream_retries_total{upstream="spare"})"), 1);
}

TEST_F(ResilienceTest, TheLastAttemptRelaysThe429ItGets) {
  // When no attempt is left, the 429 is the answer, relayed with its Retry-After.
  upstream("limited", {"--fail-status", "429"});
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "limited", "--retries", "1",
          "--retry-on", "429"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("m");
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.header("retry-after"), "1");
}

TEST_F(ResilienceTest, AFailureOutsideRetryOnIsNotRetried) {
  // --retry-on connect: a 503 ends the request at once; the second upstream sees nothing.
  upstream("broken", {"--fail-status", "503"});
  upstream("spare");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "broken", "--upstream", "spare",
          "--retries", "2", "--retry-on", "connect"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("m");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(served(cluster_.upstream("spare")), 0);
}

TEST_F(ResilienceTest, RetriesGoRoundTheGroupAndBackOffBeforeRepeating) {
  // Two attempts more than the group has: the next upstream first, then round again after a
  // backoff of 200-400 ms (base 200 ms would need --retry-backoff; the default base is 25 ms,
  // so here only the count of attempts and their order are asserted).
  upstream("x", {"--fail-status", "500"});
  upstream("y", {"--fail-status", "502"});
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "x", "--upstream", "y", "--retries",
          "3", "--retry-on", "5xx"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("m");
  EXPECT_EQ(r.status, 502);
  std::string msg = nlohmann::json::parse(r.body)["error"]["message"];
  EXPECT_NE(msg.find("all 4 upstream attempts failed"), std::string::npos) << msg;
  EXPECT_EQ(served(cluster_.upstream("x")), 2);
  EXPECT_EQ(served(cluster_.upstream("y")), 2);
}

TEST_F(ResilienceTest, TheRetryBudgetBoundsRetriesDuringAFullOutage) {
  // Every attempt fails slowly (300 ms, then 503). 30 concurrent requests with 5 retries each
  // would send 180 attempts. On one worker the budget (retries in flight ≤ 20% of the 30
  // requests in flight, at least 3) lets at most 6 requests retry at a time, so about 60
  // attempts reach the upstream and most requests fail at once instead of piling on.
  ASSERT_TRUE(cluster_.startDataPlane("one", {}, {"--workers", "1"}));
  upstream("down", {"--fail-status", "503", "--stall-ms", "300"});
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "down", "--retries", "5", "--retry-on",
          "5xx"});
  ASSERT_TRUE(cluster_.waitInSync());
  std::vector<std::thread> clients;
  std::atomic<int> failed{0};
  for (int c = 0; c < 30; ++c) {
    clients.emplace_back([&] {
      auto r = cluster_.call("one", "POST", "/v1/chat/completions", key_, R"({"model":"m"})");
      if (r.status == 502) {
        ++failed;
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(failed.load(), 30);
  int attempts = served(cluster_.upstream("down"));
  EXPECT_GE(attempts, 30);
  std::printf("retry budget: %d attempts for 30 requests with 5 retries each\n", attempts);
  EXPECT_LT(attempts, 90) << "retries were not bounded by the budget";
  auto m = httpRequest(cluster_.dataPlane("one").admin, "GET", "/metrics");
  EXPECT_GE(metricValue(m.body, R"(fwd_retry_budget_exhausted_total{route="r"})"), 15);
}

TEST_F(ResilienceTest, ConsecutiveFailuresEjectAnUpstreamButNeverTheWholeGroup) {
  // After 5 consecutive 503s the broken upstream is ejected: traffic stops reaching it (no more
  // failovers), the metrics say so, and a group whose members are all broken still routes to
  // one of them (at most half a group is ejected).
  upstream("broken", {"--fail-status", "503"});
  upstream("spare");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "broken", "--upstream", "spare"});
  ASSERT_TRUE(cluster_.waitInSync());
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(chat("m").status, 200);
  }
  EXPECT_EQ(served(cluster_.upstream("broken")), 5);
  EXPECT_EQ(metric(R"(fwd_upstream_ejections_total{upstream="broken"})"), 1);
  EXPECT_EQ(metric(R"(fwd_upstream_failures_total{upstream="broken",reason="http_5xx"})"), 5);

  // A group of one broken upstream keeps trying it: nothing else is alive.
  upstream("alone", {"--fail-status", "503"});
  fwdctl({"route", "add", "solo", "--model", "solo", "--upstream", "alone"});
  ASSERT_TRUE(cluster_.waitInSync());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(chat("solo").status, 502);
  }
  EXPECT_EQ(served(cluster_.upstream("alone")), 8);
}

// Sends a request on a raw socket and returns the socket, so the test can hang up mid-request.
int sendRaw(const Endpoint& to, const std::string& key, const std::string& extra_headers) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(to.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  std::string body = R"({"model":"m"})";
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    key + "\r\nContent-Type: application/json\r\n" + extra_headers +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(ResilienceTest, AClientHangingUpCancelsTheUpstreamRequestAtOnce) {
  // The upstream would take 20 s to answer; the client leaves after the request reached it.
  // fwd closes the upstream connection within a moment (the fake counts a client abort), and
  // the attempt is recorded as client_closed, not as an upstream failure.
  upstream("slow");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "slow"});
  ASSERT_TRUE(cluster_.waitInSync());
  int fd = sendRaw(cluster_.dataPlane("dp1").http, key_, "x-fake-stall-ms: 20000\r\n");
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(waitFor([&] { return served(cluster_.upstream("slow")) == 1; }, seconds(5),
                      "the request to reach the upstream"));
  auto hung_up = std::chrono::steady_clock::now();
  ::close(fd);
  ASSERT_TRUE(
      waitFor([&] { return fakeStats(cluster_.upstream("slow")).value("client_aborts", 0) == 1; },
              seconds(5), "the upstream to see fwd hang up"));
  EXPECT_LT(std::chrono::steady_clock::now() - hung_up, seconds(2));
  EXPECT_TRUE(waitFor(
      [&] {
        return metric(R"(fwd_upstream_attempts_total{upstream="slow",outcome="client_closed"})") ==
               1;
      },
      seconds(3), "the attempt to be counted as client_closed"));
  EXPECT_EQ(metric(R"(fwd_upstream_failures_total{upstream="slow",reason="reset"})"), -1);
}

TEST_F(ResilienceTest, AClientHangingUpMidStreamCancelsTheUpstreamToo) {
  // A stream whose next chunk is 20 s away: the client leaves after the first event and fwd
  // stops reading the upstream at once instead of at the next chunk.
  upstream("slow");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "slow"});
  ASSERT_TRUE(cluster_.waitInSync());
  std::atomic<bool> got_event{false};
  std::thread client([&] {
    streamRequest(
        cluster_.dataPlane("dp1").http, "POST", "/v1/chat/completions",
        {{"Authorization", "Bearer " + key_},
         {"Content-Type", "application/json"},
         {"x-fake-chunks", "3"},
         {"x-fake-chunk-delay-ms", "20000"}},
        R"({"model":"m","stream":true})",
        [&](std::string_view, std::chrono::steady_clock::time_point) {
          got_event = true;
          return false;  // hang up after the first piece
        },
        seconds(30));
  });
  ASSERT_TRUE(waitFor([&] { return got_event.load(); }, seconds(5), "the first event"));
  client.join();
  EXPECT_TRUE(waitFor(
      [&] {
        return metric(R"(fwd_upstream_attempts_total{upstream="slow",outcome="client_closed"})") ==
               1;
      },
      seconds(2), "the stream attempt to end as client_closed"));
}

// A listener whose accept queue is full and never drained: connects to it hang in SYN_SENT,
// which is how an upstream behind a black-holing firewall looks.
class FullBacklog {
 public:
  FullBacklog() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 4; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(c);
    }
  }
  ~FullBacklog() {
    for (int c : fillers_) {
      ::close(c);
    }
    ::close(fd_);
  }
  std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

std::string errorMessage(const Response& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].value("message", "") : r.body;
}

TEST_F(ResilienceTest, AConnectTimeoutMovesOnToTheNextUpstream) {
  // The first upstream never completes the TCP handshake; after its 300 ms connect timeout the
  // request goes to the next one, long before the 10 s default would have passed.
  FullBacklog hole;
  fwdctl({"upstream", "add", "hole", "--base-url", hole.baseUrl(), "--model", "none",
          "--connect-timeout", "300ms"});
  upstream("spare");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "hole", "--upstream", "spare"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto start = std::chrono::steady_clock::now();
  auto r = chat("m");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fwd-upstream"), "spare");
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(3));
  EXPECT_EQ(metric(R"(fwd_upstream_failures_total{upstream="hole",reason="connect_timeout"})"), 1);
}

TEST_F(ResilienceTest, TheFirstByteTimeoutIsSeparateFromTheTotal) {
  // A 300 ms first-byte limit under a 30 s total: an upstream that takes 3 s to start its
  // answer gets a 504 that names the first-byte timeout.
  upstream("slow", {}, {"--timeout", "30s", "--first-byte-timeout", "300ms"});
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "slow"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto start = std::chrono::steady_clock::now();
  auto r = chat("m", {{"x-fake-stall-ms", "3000"}});
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_NE(errorMessage(r).find("first-byte timeout"), std::string::npos) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
  EXPECT_EQ(metric(R"(fwd_upstream_failures_total{upstream="slow",reason="first_byte_timeout"})"),
            1);
}

TEST_F(ResilienceTest, StreamsHaveTheirOwnFirstByteTimeout) {
  // --stream-first-byte-timeout 300ms: a streamed request waiting 1 s for its head gets a 504,
  // the same wait for a non-streamed request is fine.
  upstream("slow", {}, {"--stream-first-byte-timeout", "300ms"});
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "slow"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto plain = chat("m", {{"x-fake-stall-ms", "1000"}});
  EXPECT_EQ(plain.status, 200) << plain.body;
  auto streamed = cluster_.call("dp1", "POST", "/v1/chat/completions", key_,
                                R"({"model":"m","stream":true})", {{"x-fake-stall-ms", "1000"}});
  EXPECT_EQ(streamed.status, 504) << streamed.body;
  EXPECT_NE(errorMessage(streamed).find("stream first-byte timeout"), std::string::npos)
      << streamed.body;
}

TEST_F(ResilienceTest, AnIdleTimeoutEndsAStalledStreamWithAnErrorEvent) {
  // Chunks 1.5 s apart against a 300 ms idle limit: the client gets the first event, then a
  // final error event naming the idle timeout, and no [DONE].
  upstream("slow", {}, {"--idle-timeout", "300ms"});
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "slow"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r =
      cluster_.call("dp1", "POST", "/v1/chat/completions", key_, R"({"model":"m","stream":true})",
                    {{"x-fake-chunks", "3"}, {"x-fake-chunk-delay-ms", "1500"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("idle timeout"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos) << r.body;
  // Counted once the request ends, which may be just after the client read its last byte.
  EXPECT_TRUE(waitFor(
      [&] {
        return metric(R"(fwd_upstream_failures_total{upstream="slow",reason="idle_timeout"})") ==
                   1 &&
               metric(R"(fwd_requests_total{route="r",model="m",upstream="slow",status="502"})") ==
                   1;
      },
      seconds(3), "the cut stream to be counted as an idle_timeout failure with status 502"));
}

TEST_F(ResilienceTest, ARouteOverridesTheUpstreamTimeouts) {
  // The upstream allows 30 s; the route's own --first-byte-timeout 300ms wins for its traffic.
  upstream("slow", {}, {"--timeout", "30s"});
  fwdctl(
      {"route", "add", "r", "--model", "m", "--upstream", "slow", "--first-byte-timeout", "300ms"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("m", {{"x-fake-stall-ms", "2000"}});
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_NE(errorMessage(r).find("300ms"), std::string::npos) << r.body;
}

TEST_F(ResilienceTest, ExplicitZeroRetriesTurnsFailoverOff) {
  // --retries 0: the first upstream's 503 is the end of it, the second is never tried.
  upstream("broken", {"--fail-status", "503"});
  upstream("spare");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "broken", "--upstream", "spare",
          "--retries", "0"});
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat("m").status, 502);
  EXPECT_EQ(served(cluster_.upstream("spare")), 0);
}

TEST_F(ResilienceTest, DenyListsWinOverAllowListsAndRouteGroups) {
  // "wide" allows gpt-* but denies gpt-4o-mini*: that model falls through to "narrow", and a
  // route whose group has only "wide" does not send it there either.
  upstream("wide", {}, {"--allow-model", "gpt-*", "--deny-model", "gpt-4o-mini*"});
  upstream("narrow", {}, {"--allow-model", "gpt-4o-mini", "--priority", "5"});
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat("gpt-4o").header("x-fwd-upstream"), "wide");
  EXPECT_EQ(chat("gpt-4o-mini").header("x-fwd-upstream"), "narrow");
  fwdctl({"route", "add", "r", "--model", "mini-*", "--upstream", "wide", "--rewrite-model", "x"});
  fwdctl({"upstream", "update", "wide", "--deny-model", "mini-*"});
  ASSERT_TRUE(cluster_.waitInSync());
  auto r = chat("mini-1");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(served(cluster_.upstream("wide")), 1);
}

bool setFailStatus(FakeUpstream& up, int status) {
  return httpRequest(up.endpoint, "POST", "/_fake/fail-status?status=" + std::to_string(status))
             .status == 200;
}

TEST_F(ResilienceTest, AnEjectedUpstreamComesBackAfterItsEjectionTime) {
  // Two failures eject "flaky" for 1 s (--eject-after 2 --eject-time 1s): meanwhile its traffic
  // goes to the spare without trying it; once the time is up (and it is healthy again) it gets
  // traffic back.
  upstream("flaky", {}, {"--eject-after", "2", "--eject-time", "1s"});
  upstream("spare");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "flaky", "--upstream", "spare"});
  ASSERT_TRUE(cluster_.waitInSync());
  ASSERT_TRUE(setFailStatus(cluster_.upstream("flaky"), 503));
  EXPECT_EQ(chat("m").header("x-fwd-upstream"), "spare");
  EXPECT_EQ(chat("m").header("x-fwd-upstream"), "spare");
  ASSERT_TRUE(setFailStatus(cluster_.upstream("flaky"), 0));
  int before = served(cluster_.upstream("flaky"));
  EXPECT_EQ(chat("m").header("x-fwd-upstream"), "spare");
  EXPECT_EQ(served(cluster_.upstream("flaky")), before) << "an ejected upstream was tried";
  EXPECT_EQ(metric(R"(fwd_upstream_ejections_total{upstream="flaky"})"), 1);
  EXPECT_EQ(metric(R"(fwd_upstream_ejected{upstream="flaky"})"), 1);
  EXPECT_EQ(metric(R"(fwd_upstream_ejected{upstream="spare"})"), 0);
  EXPECT_TRUE(waitFor([&] { return metric(R"(fwd_upstream_ejected{upstream="flaky"})") == 0; },
                      seconds(4), "the ejection to end"));
  EXPECT_TRUE(waitFor([&] { return chat("m").header("x-fwd-upstream") == "flaky"; }, seconds(4),
                      "the ejected upstream to get traffic again"));
}

TEST_F(ResilienceTest, AnUpstreamFailingItsHealthCheckIsTakenOutAndBroughtBack) {
  // GET /v1/models every second; one failure takes "checked" out of rotation, one success
  // brings it back, and fwd_upstream_healthy follows.
  upstream(
      "checked", {},
      {"--health-check-path", "/models", "--health-check-interval", "1s", "--health-check-timeout",
       "500ms", "--unhealthy-threshold", "1", "--healthy-threshold", "1"});
  upstream("spare");
  fwdctl({"route", "add", "r", "--model", "m", "--upstream", "checked", "--upstream", "spare"});
  ASSERT_TRUE(cluster_.waitInSync());
  ASSERT_TRUE(waitFor([&] { return metric(R"(fwd_upstream_healthy{upstream="checked"})") == 1; },
                      seconds(3), "the first health check"));
  EXPECT_EQ(chat("m").header("x-fwd-upstream"), "checked");
  ASSERT_TRUE(setFailStatus(cluster_.upstream("checked"), 500));
  ASSERT_TRUE(waitFor([&] { return metric(R"(fwd_upstream_healthy{upstream="checked"})") == 0; },
                      seconds(4), "the check to fail"));
  int before = served(cluster_.upstream("checked"));
  EXPECT_EQ(chat("m").header("x-fwd-upstream"), "spare");
  EXPECT_LE(served(cluster_.upstream("checked")) - before, 1) << "only probes, no traffic";
  ASSERT_TRUE(setFailStatus(cluster_.upstream("checked"), 0));
  EXPECT_TRUE(waitFor([&] { return chat("m").header("x-fwd-upstream") == "checked"; }, seconds(4),
                      "the upstream to pass its check and get traffic again"));
}

}  // namespace
}  // namespace fwd::harness
