// fwd_hiccup: how long one core was not available, for deploy/bench.sh (c).
//
// On a virtual machine the hypervisor can take a core away for milliseconds without the guest's
// steal counter showing it, and a latency run's p99 then measures the host, not the proxy. This
// thread, pinned to the proxy's core, sleeps 1 ms at a time and records how much later than
// asked it woke. Run with SCHED_FIFO (--realtime, needs root or CAP_SYS_NICE) it preempts
// whatever runs on the core at once, so an oversleep is time the core itself was gone
// (hypervisor, interrupts), not time the proxy held it. It costs the core ~1,000 wake-ups a
// second, a few microseconds each. Prints one JSON object when --duration has passed or on
// SIGTERM/SIGINT.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kUsage =
    "usage: fwd_hiccup --cpu N --duration SECONDS [--realtime]\n"
    "  Sleeps 1 ms at a time on CPU N and reports how much later than asked it woke:\n"
    "  stalls are oversleeps over 0.5 ms. --realtime: SCHED_FIFO, so only the machine can\n"
    "  delay it (falls back to normal scheduling, and says so, when not permitted).\n";
constexpr std::int64_t kPeriodNs = 1'000'000;
constexpr std::int64_t kStallNs = 500'000;

std::atomic<bool> g_stop{false};

void onSignal(int) { g_stop.store(true); }

std::int64_t nowNs() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

bool parseNumber(const char* text, double lo, double hi, double& out) {
  char* end = nullptr;
  out = std::strtod(text, &end);
  return end != text && *end == '\0' && out >= lo && out <= hi;
}

}  // namespace

int main(int argc, char** argv) {
  double cpu = -1;
  double duration_s = 0;
  bool realtime = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    if (arg == "--realtime") {
      realtime = true;
    } else if (arg == "--cpu" && i + 1 < argc) {
      if (!parseNumber(argv[++i], 0, 4095, cpu)) {
        std::fprintf(stderr, "fwd_hiccup: --cpu takes a CPU number\n%s", kUsage.data());
        return 2;
      }
    } else if (arg == "--duration" && i + 1 < argc) {
      if (!parseNumber(argv[++i], 0.01, 3600, duration_s)) {
        std::fprintf(stderr, "fwd_hiccup: --duration takes 0.01..3600 seconds\n%s", kUsage.data());
        return 2;
      }
    } else {
      std::fprintf(stderr, "fwd_hiccup: unknown or incomplete argument %s\n%s", argv[i],
                   kUsage.data());
      return 2;
    }
  }
  if (cpu < 0 || duration_s <= 0) {
    std::fprintf(stderr, "fwd_hiccup: --cpu and --duration are required\n%s", kUsage.data());
    return 2;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<int>(cpu), &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    std::perror("fwd_hiccup: sched_setaffinity");
    return 1;
  }
  bool fifo = false;
  if (realtime) {
    sched_param param{};
    param.sched_priority = 50;
    fifo = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &param) == 0;
  }
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);

  std::int64_t samples = 0;
  std::int64_t stalls = 0;
  std::int64_t stall_ns = 0;
  std::int64_t max_ns = 0;
  const std::int64_t end = nowNs() + static_cast<std::int64_t>(duration_s * 1e9);
  for (std::int64_t asked = nowNs(); asked < end && !g_stop.load();) {
    const timespec wait{0, kPeriodNs};
    ::clock_nanosleep(CLOCK_MONOTONIC, 0, &wait, nullptr);
    const std::int64_t woke = nowNs();
    const std::int64_t late = woke - asked - kPeriodNs;
    ++samples;
    if (late > max_ns) {
      max_ns = late;
    }
    if (late > kStallNs) {
      ++stalls;
      stall_ns += late;
    }
    asked = woke;
  }
  std::printf(
      "{\"cpu\":%d,\"fifo\":%s,\"samples\":%lld,\"max_ms\":%.3f,\"stalls\":%lld,"
      "\"stall_ms\":%.3f}\n",
      static_cast<int>(cpu), fifo ? "true" : "false", static_cast<long long>(samples),
      static_cast<double>(max_ns) / 1e6, static_cast<long long>(stalls),
      static_cast<double>(stall_ns) / 1e6);
  return 0;
}
