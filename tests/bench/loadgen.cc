// fwd_loadgen: the open-loop HTTP/1.1 load generator behind deploy/bench.sh (Debian has no wrk2).
//
//   --mode rate  N keep-alive connections send requests at a fixed total rate for D seconds. Each
//                request has a scheduled send time (connection i of N sends at
//                start + (i + k*N)/rate); its latency is measured from that scheduled time, not
//                from when it was actually written, so a stalled server is charged for every
//                request it delayed (no coordinated omission, as in wrk2). Prints one JSON object
//                with sent/completed/errors and p50/p90/p99/p99.9/max latency in microseconds.
//   --mode hold  opens --streams N requests (one connection each, ramped over --ramp seconds),
//                reads each response head and then discards the body as it trickles in (ask the
//                fake upstream to stream slowly with x-fake-chunk-delay-ms), prints
//                "open N of N" once every stream is open, and keeps them all open until
//                SIGTERM/SIGINT or --duration; then prints a JSON summary. For memory tests.
//   --mode events  --streams N keep-alive connections each ask for one streamed response after
//                another for --duration seconds, from an upstream told to send its events
//                --event-interval seconds apart (x-fake-chunk-delay-ms; the fake keeps to that
//                schedule). Event i of a response (its closing blank line) is due at the client
//                i intervals after the request was sent; how much later it arrives is its delay
//                (the upstream's own time to answer included, so compare with a direct run).
//                A proxy that holds events back to batch them shows here. Prints one JSON
//                object with the delay percentiles in microseconds, over every event.
//
// Loopback only: the URL's host must be a loopback address. Every run is bounded (--duration at
// most 600 s, a per-request --timeout). Rate mode splits the connections over --threads threads,
// each one epoll loop (loadgen_rate.cc: in bench (c) the generator shares a core with the
// upstream, so it has to cost little); the other modes run one Asio io_context.
#include "tests/bench/loadgen.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <list>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace loadgen = fwd::bench::loadgen;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kUsage =
    "usage: fwd_loadgen --url http://127.0.0.1:PORT/PATH [--mode rate|hold|events]\n"
    "         [--rate REQ_PER_S] [--connections N] [--duration S] [--warmup S] [--threads N]\n"
    "         [--streams N] [--ramp S] [--event-interval S] [--header 'Name: value']...\n"
    "         [--body STRING | --body-file FILE] [--method M] [--timeout S]\n"
    "         [--trace FILE]   (rate mode: each answer's scheduled time and latency, µs)\n";

using loadgen::Options;
using loadgen::RateSchedule;
using loadgen::RateStats;

std::string buildRequest(const Options& o) {
  std::string r = o.method + " " + o.target + " HTTP/1.1\r\nHost: " + o.host + ":" +
                  std::to_string(o.port) + "\r\n";
  for (const auto& h : o.headers) {
    r += h + "\r\n";
  }
  if (o.has_body) {
    r += "Content-Length: " + std::to_string(o.body.size()) + "\r\n";
  }
  r += "\r\n";
  r += o.body;
  return r;
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  // Nearest rank: the smallest sample with at least p of all samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

int runRate(const Options& o, const tcp::endpoint& ep) {
  const std::string request = buildRequest(o);
  const int threads = std::min(o.threads, o.connections);
  std::vector<RateStats> stats(threads);
  // Everyone starts together, a little later, so the first connects don't skew the schedule.
  RateSchedule schedule;
  schedule.start = Clock::now() + std::chrono::milliseconds(100);
  schedule.measure_from =
      schedule.start + duration_cast<nanoseconds>(std::chrono::duration<double>(o.warmup_s));
  schedule.end = schedule.measure_from +
                 duration_cast<nanoseconds>(std::chrono::duration<double>(o.duration_s));
  for (int t = 0; t < threads; ++t) {
    stats[t].latencies_ns.reserve(static_cast<std::size_t>(o.rate * o.duration_s / threads * 1.05) +
                                  16);
  }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) {
    pool.emplace_back(
        [&, t] { loadgen::runRateConnections(o, request, ep, t, threads, schedule, stats[t]); });
  }
  loadgen::runRateConnections(o, request, ep, 0, threads, schedule, stats[0]);
  for (auto& th : pool) {
    th.join();
  }
  RateStats all;
  for (auto& s : stats) {
    all.latencies_ns.insert(all.latencies_ns.end(), s.latencies_ns.begin(), s.latencies_ns.end());
    all.scheduled += s.scheduled;
    all.sent += s.sent;
    all.completed += s.completed;
    all.errors += s.errors;
    all.reconnects += s.reconnects;
    for (auto [code, n] : s.bad_status) {
      all.bad_status[code] += n;
    }
  }
  if (!o.trace_path.empty()) {
    // One line per measured 2xx answer, in schedule order: "<scheduled µs> <latency µs>", the
    // schedule counted from the end of the warm-up. Shows whether a tail is one stall or many.
    std::vector<std::pair<std::int64_t, std::int64_t>> trace;
    for (auto& s : stats) {
      trace.insert(trace.end(), s.trace_ns.begin(), s.trace_ns.end());
    }
    std::sort(trace.begin(), trace.end());
    std::FILE* out = std::fopen(o.trace_path.c_str(), "w");
    if (out == nullptr) {
      std::perror(("fwd_loadgen: " + o.trace_path).c_str());
      return 1;
    }
    for (auto [at, latency] : trace) {
      std::fprintf(out, "%.1f %.1f\n", static_cast<double>(at) / 1000.0,
                   static_cast<double>(latency) / 1000.0);
    }
    std::fclose(out);
  }
  std::sort(all.latencies_ns.begin(), all.latencies_ns.end());
  std::uint64_t bad = 0;
  std::string statuses;
  for (auto [code, n] : all.bad_status) {
    bad += n;
    statuses += (statuses.empty() ? "" : ",") + std::string("\"") + std::to_string(code) +
                "\":" + std::to_string(n);
  }
  double mean = 0;
  for (auto v : all.latencies_ns) {
    mean += static_cast<double>(v);
  }
  mean = all.latencies_ns.empty() ? 0 : mean / static_cast<double>(all.latencies_ns.size());
  auto us = [](std::int64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::printf(
      "{\"mode\":\"rate\",\"target_rate\":%.1f,\"duration_s\":%.2f,\"warmup_s\":%.2f,"
      "\"connections\":%d,\"threads\":%d,\"scheduled\":%" PRIu64 ",\"sent\":%" PRIu64
      ",\"completed\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"bad_status\":%" PRIu64
      ",\"statuses\":{%s},\"reconnects\":%" PRIu64
      ",\"achieved_rate\":%.1f,\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
      "\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}}\n",
      o.rate, o.duration_s, o.warmup_s, o.connections, threads, all.scheduled, all.sent,
      all.completed, all.errors, bad, statuses.c_str(), all.reconnects,
      static_cast<double>(all.completed) / o.duration_s, us(percentile(all.latencies_ns, 0.50)),
      us(percentile(all.latencies_ns, 0.90)), us(percentile(all.latencies_ns, 0.99)),
      us(percentile(all.latencies_ns, 0.999)),
      us(all.latencies_ns.empty() ? 0 : all.latencies_ns.back()), mean / 1000.0);
  return all.completed > 0 ? 0 : 1;
}

// Shared state of a hold run (one thread, so plain counters).
struct HoldState {
  int opened = 0;
  int failed = 0;
  int ended_early = 0;
  std::uint64_t body_bytes = 0;
  bool stopping = false;
  bool announced = false;
  Clock::time_point started;
  double all_open_s = -1;
  std::list<tcp::socket*> sockets;  // every live socket, closed on stop
};

void announceIfDone(HoldState& s, int want) {
  if (!s.announced && s.opened + s.failed == want) {
    s.announced = true;
    s.all_open_s = std::chrono::duration<double>(Clock::now() - s.started).count();
    std::printf("open %d of %d (failed %d) after %.2f s\n", s.opened, want, s.failed, s.all_open_s);
    std::fflush(stdout);
  }
}

asio::awaitable<void> holdStream(const Options& o, const std::string& request, tcp::endpoint ep,
                                 int index, HoldState& s) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  timer.expires_after(duration_cast<nanoseconds>(
      std::chrono::duration<double>(o.ramp_s * index / std::max(1, o.streams))));
  co_await timer.async_wait(kNoThrow);
  if (s.stopping) {
    co_return;
  }
  tcp::socket socket(ex);
  auto registered = s.sockets.insert(s.sockets.end(), &socket);
  auto fail = [&] {
    ++s.failed;
    announceIfDone(s, o.streams);
  };
  bool open = false;
  do {
    // Connect, send, and read the head within --timeout.
    timer.expires_after(duration_cast<nanoseconds>(std::chrono::duration<double>(o.timeout_s)));
    timer.async_wait([&socket](beast::error_code ec) {
      if (!ec) {
        beast::error_code ignored;
        socket.close(ignored);
      }
    });
    auto [cec] = co_await socket.async_connect(ep, kNoThrow);
    if (cec) {
      fail();
      break;
    }
    socket.set_option(tcp::no_delay(true));
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(request), kNoThrow);
    if (wec) {
      fail();
      break;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    auto [hec, hn] = co_await http::async_read_header(socket, buffer, parser, kNoThrow);
    timer.cancel();
    if (hec || parser.get().result_int() != 200) {
      if (!hec) {
        std::fprintf(stderr, "fwd_loadgen: stream %d got status %u\n", index,
                     parser.get().result_int());
      }
      fail();
      break;
    }
    open = true;
    ++s.opened;
    announceIfDone(s, o.streams);
    s.body_bytes += buffer.size();
    // Discard the body as it comes; the stream stays open until the server ends it or we stop.
    std::array<char, 2048> sink;
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), kNoThrow);
      if (ec) {
        break;
      }
      s.body_bytes += n;
    }
    if (!s.stopping) {
      ++s.ended_early;
    }
  } while (false);
  (void)open;
  s.sockets.erase(registered);
  beast::error_code ignored;
  socket.close(ignored);
}

int runHold(const Options& o, const tcp::endpoint& ep) {
  if (o.streams <= 0) {
    std::cerr << "fwd_loadgen: --mode hold needs --streams N\n";
    return 2;
  }
  const std::string request = buildRequest(o);
  asio::io_context ctx(1);
  HoldState s;
  s.started = Clock::now();
  auto stop = [&] {
    if (s.stopping) {
      return;
    }
    s.stopping = true;
    for (auto* sock : s.sockets) {
      beast::error_code ignored;
      sock->close(ignored);
    }
  };
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code ec, int) {
    if (!ec) {
      stop();
    }
  });
  asio::steady_timer deadline(ctx);
  deadline.expires_after(duration_cast<nanoseconds>(std::chrono::duration<double>(o.duration_s)));
  deadline.async_wait([&](beast::error_code ec) {
    if (!ec) {
      stop();
    }
  });
  int live = o.streams;
  for (int i = 0; i < o.streams; ++i) {
    asio::co_spawn(ctx, holdStream(o, request, ep, i, s), [&](std::exception_ptr) {
      if (--live == 0) {
        signals.cancel();
        deadline.cancel();
      }
    });
  }
  ctx.run();
  std::printf(
      "{\"mode\":\"hold\",\"streams\":%d,\"opened\":%d,\"failed\":%d,\"ended_early\":%d,"
      "\"all_open_s\":%.2f,\"body_bytes\":%" PRIu64 "}\n",
      o.streams, s.opened, s.failed, s.ended_early, s.all_open_s, s.body_bytes);
  return s.failed == 0 && s.opened == o.streams ? 0 : 1;
}

// What an events run observed (one thread, so plain counters).
struct EventStats {
  std::vector<std::int64_t> delays_ns;  // per event, measured responses only
  std::uint64_t responses = 0;
  std::uint64_t events = 0;
  std::uint64_t errors = 0;
};

// One connection of an events run: streamed requests back to back until `end`. Each response is
// read as it arrives; an event ends at "\n\n" (the fake's events carry no CR), found in the raw
// bytes so the read boundaries are the client's own, as a real SSE client would see them.
asio::awaitable<void> eventsConnection(const Options& o, const std::string& request,
                                       tcp::endpoint ep, Clock::time_point measure_from,
                                       Clock::time_point end, EventStats& stats) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  const auto timeout = duration_cast<nanoseconds>(std::chrono::duration<double>(o.timeout_s));
  const auto interval =
      duration_cast<nanoseconds>(std::chrono::duration<double>(o.event_interval_s));
  stream.expires_after(timeout);
  if (auto [ec] = co_await stream.async_connect(ep, kNoThrow); ec) {
    ++stats.errors;
    co_return;
  }
  stream.socket().set_option(tcp::no_delay(true));
  beast::flat_buffer buffer;
  std::array<char, 16 * 1024> body;
  while (Clock::now() < end) {
    const auto sent = Clock::now();
    const bool measured = sent >= measure_from;
    stream.expires_after(timeout);
    if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(request), kNoThrow); ec) {
      ++stats.errors;
      co_return;
    }
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kNoThrow);
        ec || parser.get().result_int() != 200) {
      ++stats.errors;
      co_return;
    }
    int index = 0;
    char previous = 0;
    std::vector<std::int64_t> delays;
    while (!parser.is_done()) {
      parser.get().body().data = body.data();
      parser.get().body().size = body.size();
      auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, kNoThrow);
      if (ec && ec != http::error::need_buffer) {
        ++stats.errors;
        co_return;
      }
      const auto now = Clock::now();
      const size_t got = body.size() - parser.get().body().size;
      for (size_t i = 0; i < got; ++i) {
        if (body[i] == '\n' && previous == '\n') {
          delays.push_back((now - sent - interval * index).count());
          ++index;
        }
        previous = body[i];
      }
    }
    if (measured) {
      ++stats.responses;
      stats.events += static_cast<std::uint64_t>(index);
      stats.delays_ns.insert(stats.delays_ns.end(), delays.begin(), delays.end());
    }
    if (!parser.keep_alive()) {
      co_return;
    }
  }
}

int runEvents(const Options& o, const tcp::endpoint& ep) {
  if (o.streams <= 0 || o.event_interval_s <= 0) {
    std::cerr << "fwd_loadgen: --mode events needs --streams N and --event-interval S\n";
    return 2;
  }
  const std::string request = buildRequest(o);
  asio::io_context ctx(1);
  EventStats stats;
  const auto start = Clock::now();
  const auto measure_from =
      start + duration_cast<nanoseconds>(std::chrono::duration<double>(o.warmup_s));
  const auto end =
      measure_from + duration_cast<nanoseconds>(std::chrono::duration<double>(o.duration_s));
  for (int i = 0; i < o.streams; ++i) {
    asio::co_spawn(ctx, eventsConnection(o, request, ep, measure_from, end, stats), asio::detached);
  }
  ctx.run();
  std::sort(stats.delays_ns.begin(), stats.delays_ns.end());
  auto us = [](std::int64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::printf("{\"mode\":\"events\",\"streams\":%d,\"event_interval_s\":%.3f,\"responses\":%" PRIu64
              ",\"events\":%" PRIu64 ",\"errors\":%" PRIu64
              ",\"delay_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}}\n",
              o.streams, o.event_interval_s, stats.responses, stats.events, stats.errors,
              us(percentile(stats.delays_ns, 0.50)), us(percentile(stats.delays_ns, 0.99)),
              us(stats.delays_ns.empty() ? 0 : stats.delays_ns.back()));
  return stats.responses > 0 && stats.errors == 0 ? 0 : 1;
}

int usageError(const std::string& message) {
  std::cerr << "fwd_loadgen: " << message << "\n" << kUsage;
  return 2;
}

// Accepts http://HOST:PORT/PATH with a literal loopback HOST (127.x.y.z, [::1]) or localhost.
bool parseUrl(const std::string& url, Options& o, std::string& error) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    error = "--url must start with http://";
    return false;
  }
  std::string rest = url.substr(kScheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  o.target = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host;
  std::string port;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string::npos || close + 1 >= authority.size() ||
        authority[close + 1] != ':') {
      error = "--url needs [HOST]:PORT";
      return false;
    }
    host = authority.substr(1, close - 1);
    port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    if (colon == std::string::npos) {
      error = "--url needs an explicit port";
      return false;
    }
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec || !address.is_loopback()) {
    error = "--url host must be a loopback address (127.0.0.1, [::1], localhost), got " + host;
    return false;
  }
  int p = std::atoi(port.c_str());
  if (p <= 0 || p > 65535) {
    error = "--url port must be 1..65535";
    return false;
  }
  o.host = host.find(':') == std::string::npos ? host : "[" + host + "]";
  o.port = static_cast<std::uint16_t>(p);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options o;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::string value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return usageError(arg + " needs a value");
    }
    auto number = [&](double lo, double hi, double& out) {
      char* endp = nullptr;
      out = std::strtod(value.c_str(), &endp);
      return endp != value.c_str() && *endp == '\0' && out >= lo && out <= hi;
    };
    double d = 0;
    if (arg == "--url") {
      url = value;
    } else if (arg == "--mode") {
      if (value != "rate" && value != "hold" && value != "events") {
        return usageError("--mode is rate, hold or events");
      }
      o.mode = value;
    } else if (arg == "--rate") {
      if (!number(1, 10'000'000, o.rate)) {
        return usageError("--rate wants 1..1e7 requests per second");
      }
    } else if (arg == "--connections") {
      if (!number(1, 20000, d)) {
        return usageError("--connections wants 1..20000");
      }
      o.connections = static_cast<int>(d);
    } else if (arg == "--duration") {
      if (!number(0.1, 600, o.duration_s)) {
        return usageError("--duration wants 0.1..600 seconds");
      }
    } else if (arg == "--warmup") {
      if (!number(0, 60, o.warmup_s)) {
        return usageError("--warmup wants 0..60 seconds");
      }
    } else if (arg == "--threads") {
      if (!number(1, 64, d)) {
        return usageError("--threads wants 1..64");
      }
      o.threads = static_cast<int>(d);
    } else if (arg == "--streams") {
      if (!number(1, 100000, d)) {
        return usageError("--streams wants 1..100000");
      }
      o.streams = static_cast<int>(d);
    } else if (arg == "--ramp") {
      if (!number(0, 60, o.ramp_s)) {
        return usageError("--ramp wants 0..60 seconds");
      }
    } else if (arg == "--event-interval") {
      if (!number(0.001, 10, o.event_interval_s)) {
        return usageError("--event-interval wants 0.001..10 seconds");
      }
    } else if (arg == "--timeout") {
      if (!number(0.001, 600, o.timeout_s)) {
        return usageError("--timeout wants 0.001..600 seconds");
      }
    } else if (arg == "--header") {
      if (value.find(':') == std::string::npos) {
        return usageError("--header wants 'Name: value'");
      }
      o.headers.push_back(value);
    } else if (arg == "--body") {
      o.body = value;
      o.has_body = true;
    } else if (arg == "--body-file") {
      std::ifstream in(value, std::ios::binary);
      if (!in) {
        return usageError("cannot read --body-file " + value);
      }
      std::ostringstream content;
      content << in.rdbuf();
      o.body = content.str();
      o.has_body = true;
    } else if (arg == "--trace") {
      o.trace_path = value;
    } else if (arg == "--method") {
      o.method = value;
    } else {
      return usageError("unknown flag " + arg);
    }
  }
  std::string error;
  if (url.empty()) {
    return usageError("--url is required");
  }
  if (!parseUrl(url, o, error)) {
    return usageError(error);
  }
  if (o.method.empty()) {
    o.method = o.has_body ? "POST" : "GET";
  }
  std::string bare_host = o.host.starts_with("[") ? o.host.substr(1, o.host.size() - 2) : o.host;
  tcp::endpoint ep(asio::ip::make_address(bare_host), o.port);
  if (o.mode == "events") {
    return runEvents(o, ep);
  }
  return o.mode == "rate" ? runRate(o, ep) : runHold(o, ep);
}
