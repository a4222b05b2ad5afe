// A rolling restart behind a real load balancer (Debian's HAProxy, health-checking /readyz,
// retries off): every request and stream the clients send during it succeeds. This holds only
// because a data plane told to stop fails /readyz at once but keeps its listener serving for
// --drain-grace, long enough for the balancer's next check to take it out of rotation.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kHaproxy = "/usr/sbin/haproxy";

TEST(RollingRestartTest, ThreeDataPlanesRestartOneByOneBehindHaproxyWithoutAFailedRequest) {
  // Steady JSON and streaming load through HAProxy (retries 0, /readyz checked every 200 ms)
  // while each of 3 data planes is stopped with SIGTERM and started again: zero failures.
  ASSERT_EQ(::access(kHaproxy, X_OK), 0)
      << "HAProxy is not installed: deploy/test.sh installs it (Debian package haproxy)";
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("up1"));
  const std::vector<std::string> nodes = {"dp1", "dp2", "dp3"};
  std::string servers;
  for (const std::string& node : nodes) {
    // Fixed ports, so the node comes back where HAProxy expects it. A port freeLoopbackPort() found
    // may be taken by another test's process before the data plane binds it: try fresh ones.
    std::uint16_t http = 0;
    std::uint16_t admin = 0;
    ::testing::AssertionResult started = ::testing::AssertionFailure();
    for (int attempt = 0; attempt < 5 && !started; ++attempt) {
      http = freeLoopbackPort();
      admin = freeLoopbackPort();
      started =
          cluster.startDataPlane(node, {},
                                 {"--listen", "127.0.0.1:" + std::to_string(http), "--admin-listen",
                                  "127.0.0.1:" + std::to_string(admin), "--drain-grace", "1s"});
    }
    ASSERT_TRUE(started);
    servers += "  server " + node + " 127.0.0.1:" + std::to_string(http) + " check port " +
               std::to_string(admin) + "\n";
  }
  ASSERT_EQ(cluster
                .fwdctl({"upstream", "add", "local", "--base-url",
                         cluster.upstream("up1").baseUrl(), "--model", "gpt-*"})
                .exit_code,
            0);
  const std::string key = cluster.createKey("alice");
  ASSERT_TRUE(cluster.waitInSync());

  const std::uint16_t front = freeLoopbackPort();
  const std::uint16_t stats = freeLoopbackPort();
  const std::string config = cluster.dir().file("haproxy.cfg");
  std::ofstream(config) << "global\n"
                           "  maxconn 1000\n"
                           "defaults\n"
                           "  mode http\n"
                           "  retries 0\n"
                           "  timeout connect 2s\n"
                           "  timeout client 30s\n"
                           "  timeout server 30s\n"
                           "frontend fe\n"
                           "  bind 127.0.0.1:"
                        << front
                        << "\n"
                           "  default_backend dataplanes\n"
                           "backend dataplanes\n"
                           "  balance roundrobin\n"
                           "  option httpchk GET /readyz\n"
                           "  http-check expect status 200\n"
                           "  default-server inter 200ms fall 1 rise 1\n"
                        << servers
                        << "listen stats\n"
                           "  bind 127.0.0.1:"
                        << stats
                        << "\n"
                           "  stats enable\n"
                           "  stats uri /stats\n";
  ChildProcess haproxy;
  haproxy.setName("haproxy");
  ASSERT_TRUE(haproxy.start(kHaproxy, {"-db", "-f", config}));
  const Endpoint fe{"127.0.0.1", front, false};
  const Endpoint stats_endpoint{"127.0.0.1", stats, false};
  // Up in HAProxy's eyes: the status column of its CSV stats line for the server.
  auto upInHaproxy = [&](const std::string& node) {
    Response r = httpRequest(stats_endpoint, "GET", "/stats;csv");
    size_t at = r.body.find("\ndataplanes," + node + ",");
    if (at == std::string::npos) {
      return false;
    }
    std::string line = r.body.substr(at + 1, r.body.find('\n', at + 1) - at - 1);
    std::vector<std::string> fields;
    for (size_t from = 0;;) {
      size_t comma = line.find(',', from);
      fields.push_back(line.substr(from, comma - from));
      if (comma == std::string::npos) {
        break;
      }
      from = comma + 1;
    }
    return fields.size() > 17 && fields[17] == "UP";  // pxname,svname,...,status is the 18th
  };
  for (const std::string& node : nodes) {
    ASSERT_TRUE(waitFor([&] { return upInHaproxy(node); }, seconds(10), node + " UP in HAProxy"))
        << haproxy.stderrText();
  }

  const Headers headers = {{"Authorization", "Bearer " + key},
                           {"Content-Type", "application/json"}};
  std::atomic<bool> stop{false};
  std::atomic<int> json_ok{0};
  std::atomic<int> streams_ok{0};
  std::mutex failures_mu;  // guards failures
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(failures_mu);
    failures.push_back(what);
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&] {
      HttpConnection c(fe);
      while (!stop) {
        Response r = c.request("POST", "/v1/chat/completions", headers, R"({"model":"gpt-4o"})",
                               seconds(10));
        if (r.status == 200 && r.complete) {
          ++json_ok;
        } else {
          fail("json: " + std::to_string(r.status) + " " + r.error + " " + r.body);
          c.close();
        }
      }
    });
  }
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back([&] {
      while (!stop) {
        Headers h = headers;
        h.emplace("x-fake-chunks", "5");
        h.emplace("x-fake-chunk-delay-ms", "60");
        Response r = streamRequest(
            fe, "POST", "/v1/chat/completions", h, R"({"model":"gpt-4o","stream":true})",
            [](std::string_view, auto) { return true; }, seconds(10));
        if (r.status == 200 && r.complete && r.body.find("[DONE]") != std::string::npos) {
          ++streams_ok;
        } else {
          fail("stream: " + std::to_string(r.status) + " " + r.error + " " + r.body);
        }
      }
    });
  }

  std::this_thread::sleep_for(milliseconds(500));  // load before the first restart
  for (const std::string& node : nodes) {
    ASSERT_TRUE(cluster.restartDataPlane(node));
    ASSERT_TRUE(waitFor([&] { return upInHaproxy(node); }, seconds(10), node + " back UP"));
  }
  std::this_thread::sleep_for(milliseconds(500));  // and after the last
  stop = true;
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, the first: " << failures.front();
  EXPECT_GT(json_ok.load(), 100);
  EXPECT_GT(streams_ok.load(), 10);
}

}  // namespace
}  // namespace fwd::harness
