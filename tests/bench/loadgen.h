// What fwd_loadgen's modes share: the parsed flags, and the rate mode's per-thread loop
// (loadgen_rate.cc), which is written against epoll directly instead of Asio.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace fwd::bench::loadgen {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string mode = "rate";
  std::string host;
  std::uint16_t port = 0;
  std::string target = "/";
  std::string method;
  std::vector<std::string> headers;
  std::string body;
  bool has_body = false;
  int connections = 64;
  double rate = 1000;
  double duration_s = 10;
  double warmup_s = 1;
  int threads = 1;
  int streams = 0;
  double ramp_s = 2;
  double event_interval_s = 0;
  double timeout_s = 10;
  std::string trace_path;  // rate mode: each measured answer's schedule offset and latency
};

/// What one thread of a rate run observed; merged at the end.
struct RateStats {
  std::vector<std::int64_t> latencies_ns;  // measured requests only (after warm-up)
  // With --trace: (scheduled - measure_from, latency) of each 2xx in latencies_ns, in order.
  std::vector<std::pair<std::int64_t, std::int64_t>> trace_ns;
  std::uint64_t scheduled = 0;  // measured requests whose time came before the end
  std::uint64_t sent = 0;
  std::uint64_t completed = 0;                   // 2xx, measured
  std::uint64_t errors = 0;                      // connect/read/write errors and timeouts, measured
  std::map<unsigned, std::uint64_t> bad_status;  // non-2xx answers, measured
  std::uint64_t reconnects = 0;
};

/// The schedule of a rate run: connection i of N sends its request k at
/// start + (i + k*N) / rate; requests due at or after `end` are not sent, and those counted
/// from `measure_from` on are measured.
struct RateSchedule {
  Clock::time_point start;
  Clock::time_point measure_from;
  Clock::time_point end;
};

/// Runs the connections i = first, first + step, ... below o.connections on the calling thread
/// until each has sent its last scheduled request and had its answer (or timed out), and adds
/// what it saw to `stats`. `request` is the whole HTTP/1.1 request, sent as is each time.
void runRateConnections(const Options& o, const std::string& request,
                        const boost::asio::ip::tcp::endpoint& ep, int first, int step,
                        const RateSchedule& schedule, RateStats& stats);

}  // namespace fwd::bench::loadgen
