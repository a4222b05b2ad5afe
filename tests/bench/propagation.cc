// fwd_propagation_bench: how long one fwdctl write takes to be in force on every data plane.
//
// For each of --writes W rounds it runs `fwdctl --server S upstream update NAME --timeout Ns`
// (a fresh N each round, so every write bumps the config version) and, while fwdctl runs,
// polls each data plane's admin /metrics for `fwd_config_version` until every one shows a
// version above the one it showed before the write. Times come from the monotonic clock, from
// just before fwdctl is spawned: "fwdctl" is until fwdctl exited, "all" until the last data
// plane showed the new version (the number deploy/bench.sh reports). Polling is a tight loop
// of plain HTTP/1.0 GETs on loopback (one round over all data planes takes well under 1 ms).
// The admin token reaches fwdctl through FWD_ADMIN_TOKEN in the environment. Prints one JSON
// object. Loopback only; each round gives up after 10 s (the untimed first write after 60 s).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kUsage =
    "usage: fwd_propagation_bench --fwdctl PATH --server HOST:PORT --upstream NAME\n"
    "         --admin 127.0.0.1:P1,127.0.0.1:P2,... [--writes N]\n";

struct Admin {
  std::string host;
  int port = 0;
};

// GET /metrics over a fresh loopback connection; returns fwd_config_version or -1.
long long configVersion(const Admin& a) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(a.port));
  ::inet_pton(AF_INET, a.host.c_str(), &addr.sin_addr);
  long long version = -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const std::string req =
        "GET /metrics HTTP/1.0\r\nHost: " + a.host + "\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      std::string body;
      char buf[16384];
      for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
          break;
        }
        body.append(buf, static_cast<std::size_t>(n));
      }
      constexpr std::string_view kName = "\nfwd_config_version ";
      auto pos = body.find(kName);
      if (pos != std::string::npos) {
        version = std::strtoll(body.c_str() + pos + kName.size(), nullptr, 10);
      }
    }
  }
  ::close(fd);
  return version;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

int usageError(const std::string& message) {
  std::cerr << "fwd_propagation_bench: " << message << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string fwdctl;
  std::string server;
  std::string upstream;
  std::vector<Admin> admins;
  int writes = 50;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) {
      return usageError(arg + " needs a value");
    }
    std::string value = argv[++i];
    if (arg == "--fwdctl") {
      fwdctl = value;
    } else if (arg == "--server") {
      server = value;
    } else if (arg == "--upstream") {
      upstream = value;
    } else if (arg == "--writes") {
      writes = std::atoi(value.c_str());
      if (writes < 1 || writes > 1000) {
        return usageError("--writes wants 1..1000");
      }
    } else if (arg == "--admin") {
      std::size_t start = 0;
      while (start <= value.size()) {
        auto comma = value.find(',', start);
        std::string item = value.substr(start, comma - start);
        auto colon = item.rfind(':');
        if (colon == std::string::npos) {
          return usageError("--admin wants HOST:PORT,...");
        }
        Admin a{item.substr(0, colon), std::atoi(item.c_str() + colon + 1)};
        in_addr parsed{};
        if (::inet_pton(AF_INET, a.host.c_str(), &parsed) != 1 ||
            (ntohl(parsed.s_addr) >> 24) != 127 || a.port <= 0 || a.port > 65535) {
          return usageError("--admin addresses must be 127.x.y.z:PORT, got " + item);
        }
        admins.push_back(a);
        if (comma == std::string::npos) {
          break;
        }
        start = comma + 1;
      }
    } else {
      return usageError("unknown flag " + arg);
    }
  }
  if (fwdctl.empty() || server.empty() || upstream.empty() || admins.empty()) {
    return usageError("--fwdctl, --server, --upstream and --admin are required");
  }

  std::vector<double> all_ms;
  std::vector<double> fwdctl_ms;
  std::vector<double> after_fwdctl_ms;  // last data plane applied, counted from fwdctl's exit
  int failures = 0;
  // The slowest write, to tell a one-off stall (one round) from a slow path (every round).
  double slowest_ms = -1;
  int slowest_round = -1;
  // Round -1 is a write that is not timed. fwdctl was last run minutes ago, when the bench set
  // up, and a machine may have dropped its binary and libraries from the page cache since: the
  // VMs this was written on run DAMON, which pages out what nobody touched for a minute or so,
  // and the first fwdctl after 4 idle minutes took 739 ms instead of ~30 (reading ~30 MB of
  // shared libraries back from disk). That is the disk, not propagation.
  for (int round = -1; round < writes; ++round) {
    std::vector<long long> before(admins.size());
    for (std::size_t d = 0; d < admins.size(); ++d) {
      before[d] = configVersion(admins[d]);
      if (before[d] < 0) {
        std::cerr << "fwd_propagation_bench: no fwd_config_version from " << admins[d].host << ":"
                  << admins[d].port << "\n";
        return 1;
      }
    }
    // A different upstream timeout every round: 300 s + round, within fwd's limit of 1 h.
    std::string timeout = std::to_string(300 + round) + "s";
    std::vector<std::string> args = {fwdctl,   "--server", server,      "upstream",
                                     "update", upstream,   "--timeout", timeout};
    std::vector<char*> cargs;
    for (auto& a : args) {
      cargs.push_back(a.data());
    }
    cargs.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    const auto t0 = Clock::now();
    pid_t pid = 0;
    if (posix_spawn(&pid, fwdctl.c_str(), &actions, nullptr, cargs.data(), environ) != 0) {
      std::perror("fwd_propagation_bench: posix_spawn fwdctl");
      return 1;
    }
    posix_spawn_file_actions_destroy(&actions);
    std::vector<bool> applied(admins.size(), false);
    std::size_t pending = admins.size();
    bool exited = false;
    Clock::time_point t_exit;
    Clock::time_point t_last;
    // The untimed write may read fwdctl back from disk first: it gets longer before it counts
    // as a failure.
    const auto give_up = t0 + std::chrono::seconds(round < 0 ? 60 : 10);
    while ((pending > 0 || !exited) && Clock::now() < give_up) {
      if (!exited) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          exited = true;
          t_exit = Clock::now();
          if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::cerr << "fwd_propagation_bench: fwdctl failed in round " << round << "\n";
            return 1;
          }
        }
      }
      for (std::size_t d = 0; d < admins.size(); ++d) {
        if (!applied[d] && configVersion(admins[d]) > before[d]) {
          applied[d] = true;
          --pending;
          t_last = Clock::now();
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (!exited) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (pending > 0 || !exited) {
      std::cerr << "fwd_propagation_bench: " << (round < 0 ? "the untimed write" : "a write")
                << " did not reach every data plane in time (round " << round << ")\n";
      ++failures;
      continue;
    }
    if (round < 0) {
      continue;
    }
    auto ms = [](Clock::duration d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    all_ms.push_back(ms(t_last - t0));
    fwdctl_ms.push_back(ms(t_exit - t0));
    after_fwdctl_ms.push_back(std::max(0.0, ms(t_last - t_exit)));
    if (all_ms.back() > slowest_ms) {
      slowest_ms = all_ms.back();
      slowest_round = round;
    }
  }
  auto stats = [](const std::vector<double>& v) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f}", percentile(v, 0.5),
                  percentile(v, 0.99), v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
    return std::string(buf);
  };
  std::printf(
      "{\"writes\":%d,\"data_planes\":%zu,\"completed\":%zu,\"failures\":%d,\"all_ms\":%s,"
      "\"fwdctl_ms\":%s,\"after_fwdctl_ms\":%s,\"slowest_round\":%d}\n",
      writes, admins.size(), all_ms.size(), failures, stats(all_ms).c_str(),
      stats(fwdctl_ms).c_str(), stats(after_fwdctl_ms).c_str(), slowest_round);
  return failures == 0 ? 0 : 1;
}
