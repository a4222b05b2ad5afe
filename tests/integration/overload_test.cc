// A bad day for a data plane: out of file descriptors, a stderr nobody reads. It must keep
// serving what it can, never spin, never block a worker, and say what happened in its metrics.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

// User plus system CPU time of a process so far, from /proc/PID/stat.
std::chrono::milliseconds cpuTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) {  // utime, stime
      ticks += std::stol(field);
    }
  }
  return std::chrono::milliseconds(ticks * 1000 / ::sysconf(_SC_CLK_TCK));
}

TEST(OverloadTest, RunningOutOfFileDescriptorsPausesAcceptingInsteadOfSpinning) {
  // A data plane at its file descriptor limit does not spin on accept: it pauses accepting,
  // logs the failure once, counts it, keeps serving the connections it has, and accepts again
  // once descriptors are free.
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("up1"));
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 128;  // inherited by the data plane; restored for this process at once
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  auto started = cluster.startDataPlane("dp1", {}, {"--workers", "1"});
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(started);
  ASSERT_EQ(cluster
                .fwdctl({"upstream", "add", "local", "--base-url",
                         cluster.upstream("up1").baseUrl(), "--model", "gpt-*"})
                .exit_code,
            0);
  std::string key = cluster.createKey("alice");
  ASSERT_TRUE(cluster.waitInSync());
  const Headers headers = {{"Authorization", "Bearer " + key},
                           {"Content-Type", "application/json"}};
  const std::string body = R"({"model":"gpt-4o"})";
  HttpConnection kept(cluster.dataPlane("dp1").http);
  ASSERT_EQ(kept.request("POST", "/v1/chat/completions", headers, body).status, 200);
  // Its record is sent before descriptors run out. Under UBSan (deploy/test.sh --sanitize) the
  // first call on an object of each polymorphic type checks the type's vtable through pipe(),
  // and with no descriptor left that check fails and reports a false "invalid vptr": the
  // records path (its protobuf and gRPC types) must have run once before.
  ASSERT_TRUE(waitFor(
      [&] {
        Response m = httpRequest(cluster.dataPlane("dp1").admin, "GET", "/metrics");
        return metricValue(m.body, "fwd_records_sent_total") >= 1;
      },
      std::chrono::seconds(10), "the first request's record sent"));

  // More connections than the data plane has descriptors left: the rest wait in its backlog.
  std::vector<int> flood;
  for (int i = 0; i < 200; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(cluster.dataPlane("dp1").http.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    flood.push_back(fd);
  }
  pid_t pid = cluster.dataPlane("dp1").process->pid();
  ASSERT_TRUE(waitFor(
      [&] {
        return cluster.dataPlane("dp1").process->stderrText().find("accept failed") !=
               std::string::npos;
      },
      std::chrono::seconds(5), "the data plane to run out of descriptors"));
  auto cpu_before = cpuTime(pid);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto cpu_used = cpuTime(pid) - cpu_before;
  EXPECT_LT(cpu_used, std::chrono::milliseconds(250)) << "the accept loop spins";

  // The connection it has is served.
  Response r = kept.request("POST", "/v1/chat/completions", headers, body);
  EXPECT_EQ(r.status, 200) << r.error;

  for (int fd : flood) {
    ::close(fd);
  }
  Response fresh;
  EXPECT_TRUE(waitFor(
      [&] {
        fresh = httpRequest(cluster.dataPlane("dp1").http, "POST", "/v1/chat/completions", headers,
                            body, std::chrono::seconds(2));
        return fresh.status == 200;
      },
      std::chrono::seconds(10), "a new connection to be served"))
      << fresh.error;
  Response m = httpRequest(cluster.dataPlane("dp1").admin, "GET", "/metrics");
  EXPECT_GT(metricValue(m.body, R"(fwd_accept_errors_total{listener="http"})"), 0) << m.body;
  std::string log = cluster.dataPlane("dp1").process->stderrText();
  size_t lines = 0;
  for (size_t at = log.find("accept failed"); at != std::string::npos;
       at = log.find("accept failed", at + 1)) {
    ++lines;
  }
  EXPECT_LE(lines, 2u) << log;
  EXPECT_NE(log.find("http listener: accepting again after"), std::string::npos) << log;
}

TEST(OverloadTest, AStderrNobodyReadsNeverStopsTraffic) {
  // Logging goes through a bounded queue: with stderr a full pipe that nobody reads, thousands
  // of requests that each log a line are all answered, the lines that do not fit are dropped
  // and counted, and other traffic goes on.
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("up1"));
  ASSERT_TRUE(cluster.startDataPlane("dp1", {}, {"--log-level", "debug"}));
  ASSERT_EQ(cluster
                .fwdctl({"upstream", "add", "local", "--base-url",
                         cluster.upstream("up1").baseUrl(), "--model", "gpt-*"})
                .exit_code,
            0);
  // Port 1 on loopback refuses: every request for dead-* fails and logs why (at debug).
  ASSERT_EQ(cluster
                .fwdctl({"upstream", "add", "dead", "--base-url", "http://127.0.0.1:1/v1",
                         "--model", "dead-*"})
                .exit_code,
            0);
  std::string key = cluster.createKey("alice");
  ASSERT_TRUE(cluster.waitInSync());
  cluster.dataPlane("dp1").process->stopReadingStderr();
  const Headers headers = {{"Authorization", "Bearer " + key},
                           {"Content-Type", "application/json"}};
  HttpConnection client(cluster.dataPlane("dp1").http);
  for (int i = 0; i < 6000; ++i) {
    Response r =
        client.request("POST", "/v1/chat/completions", headers,
                       R"({"model":"dead-)" + std::to_string(i) + R"("})", std::chrono::seconds(5));
    ASSERT_EQ(r.status, 502) << "request " << i << ": " << r.error;
  }
  Response ok = httpRequest(cluster.dataPlane("dp1").http, "POST", "/v1/chat/completions", headers,
                            R"({"model":"gpt-4o"})", std::chrono::seconds(5));
  EXPECT_EQ(ok.status, 200) << ok.error;
  Response m = httpRequest(cluster.dataPlane("dp1").admin, "GET", "/metrics");
  EXPECT_GT(metricValue(m.body, "fwd_log_dropped_lines_total"), 0) << m.body;
}

}  // namespace
}  // namespace fwd::harness
