// fwd_tcp_relay: the floor of a proxy hop on this machine, for deploy/bench.sh (c).
//
// A proxy that does no work: one thread, one epoll loop, and for each client connection one
// upstream connection; bytes read on one side are sent to the other as they come. No HTTP
// parsing, no pooling, no auth, no metrics. Pinned where the proxy under test runs, its added
// latency is what the two extra loopback hops and cross-core wake-ups cost by themselves, so the
// bench can tell a proxy's own cost apart from the setup's.
//
// Bounded: 64 KiB per direction. When the receiving side does not take everything, the
// remainder is kept, the sending side is no longer read, and the relay waits until the
// receiver is writable. EOF or an error on either side closes both. Loopback only: the
// upstream connect is a blocking connect, which on loopback completes or fails at once.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/host_port.h"

namespace {

constexpr std::string_view kUsage =
    "usage: fwd_tcp_relay --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT\n";
constexpr std::size_t kBufferBytes = 64 * 1024;

// "127.0.0.1:PORT" (the flags' format, read by common::net::parseHostPort) as an IPv4 address.
bool parseLoopback(std::string_view text, sockaddr_in& out) {
  auto parsed = fwd::common::net::parseHostPort(text);
  if (!parsed.ok() || parsed->host != "127.0.0.1") {
    return false;
  }
  out = {};
  out.sin_family = AF_INET;
  out.sin_port = htons(parsed->port);
  out.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return true;
}

void setNoDelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct Pair;

// One socket of a pair. `pending` holds what was read from this side's peer and not yet
// taken by this socket.
struct Side {
  Pair* pair = nullptr;
  int fd = -1;
  Side* peer = nullptr;
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kBufferBytes);
  std::size_t pending_begin = 0;
  std::size_t pending_end = 0;
  std::uint32_t interest = 0;  // what epoll watches for on fd

  bool hasPending() const { return pending_begin != pending_end; }
};

struct Pair {
  Side client;
  Side upstream;
  bool closed = false;
};

class Relay {
 public:
  Relay(int listener, sockaddr_in upstream) : listener_(listener), upstream_(upstream) {}

  int run() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
      std::perror("fwd_tcp_relay: epoll_create1");
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the listener
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
    std::array<epoll_event, 256> events{};
    for (;;) {
      const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        std::perror("fwd_tcp_relay: epoll_wait");
        return 1;
      }
      for (int i = 0; i < n; ++i) {
        auto* side = static_cast<Side*>(events[i].data.ptr);
        if (side == nullptr) {
          acceptAll();
          continue;
        }
        if (side->pair->closed) {
          continue;  // closed earlier in this batch
        }
        const std::uint32_t what = events[i].events;
        if ((what & (EPOLLHUP | EPOLLERR)) && side->peer->hasPending()) {
          close(*side->pair);  // cannot be read until its peer drains: give up on the pair
          continue;
        }
        if (what & EPOLLOUT) {
          flush(*side);
        }
        if (!side->pair->closed && (what & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
          relayFrom(*side);
        }
        if (!side->pair->closed) {
          rearm(*side);
          rearm(*side->peer);
        }
      }
      // Freed only now: later events of the same batch may still point at a closed pair.
      closed_.clear();
    }
  }

 private:
  void acceptAll() {
    for (;;) {
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) {
        return;  // EAGAIN, or out of descriptors: the next readiness tries again
      }
      const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (upstream < 0 || ::connect(upstream, reinterpret_cast<const sockaddr*>(&upstream_),
                                    sizeof upstream_) != 0) {
        std::perror("fwd_tcp_relay: connect to upstream");
        ::close(client);
        if (upstream >= 0) {
          ::close(upstream);
        }
        continue;
      }
      ::fcntl(upstream, F_SETFL, ::fcntl(upstream, F_GETFL) | O_NONBLOCK);
      setNoDelay(client);
      setNoDelay(upstream);
      auto pair = std::make_unique<Pair>();
      pair->client.pair = pair.get();
      pair->client.fd = client;
      pair->client.peer = &pair->upstream;
      pair->upstream.pair = pair.get();
      pair->upstream.fd = upstream;
      pair->upstream.peer = &pair->client;
      for (Side* side : {&pair->client, &pair->upstream}) {
        side->interest = EPOLLIN;
        epoll_event ev{};
        ev.events = side->interest;
        ev.data.ptr = side;
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, side->fd, &ev);
      }
      pair.release();  // owned by its sockets' epoll registrations until close()
    }
  }

  // A side is read while its peer has nothing pending, and watched for writability while it
  // has something pending itself. epoll_ctl only when that changes (a full socket buffer).
  void rearm(Side& side) {
    const std::uint32_t want = (side.peer->hasPending() ? 0u : std::uint32_t{EPOLLIN}) |
                               (side.hasPending() ? std::uint32_t{EPOLLOUT} : 0u);
    if (want == side.interest) {
      return;
    }
    side.interest = want;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &side;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, side.fd, &ev);
  }

  // Reads what `from` has and sends it to its peer; what the peer does not take stays pending.
  void relayFrom(Side& from) {
    Side& to = *from.peer;
    if (to.hasPending()) {
      return;  // still draining an earlier read
    }
    const ssize_t got = ::recv(from.fd, to.buffer.get(), kBufferBytes, 0);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
      close(*from.pair);
      return;
    }
    if (got < 0) {
      return;
    }
    to.pending_begin = 0;
    to.pending_end = static_cast<std::size_t>(got);
    flush(to);
  }

  // Sends what is pending for `to` until done or the socket buffer is full.
  void flush(Side& to) {
    while (to.hasPending()) {
      const ssize_t sent = ::send(to.fd, to.buffer.get() + to.pending_begin,
                                  to.pending_end - to.pending_begin, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EAGAIN) {
          return;
        }
        if (errno == EINTR) {
          continue;
        }
        close(*to.pair);
        return;
      }
      to.pending_begin += static_cast<std::size_t>(sent);
    }
    to.pending_begin = to.pending_end = 0;
  }

  void close(Pair& pair) {
    pair.closed = true;
    ::close(pair.client.fd);  // closing removes them from the epoll set
    ::close(pair.upstream.fd);
    closed_.emplace_back(&pair);
  }

  int listener_;
  sockaddr_in upstream_;
  int epoll_ = -1;
  std::vector<std::unique_ptr<Pair>> closed_;
};

}  // namespace

int main(int argc, char** argv) {
  sockaddr_in listen_at{};
  sockaddr_in upstream{};
  bool have_listen = false;
  bool have_upstream = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "fwd_tcp_relay: %s needs a value\n%s", argv[i], kUsage.data());
      return 2;
    }
    const std::string_view value = argv[++i];
    if (arg == "--listen") {
      have_listen = parseLoopback(value, listen_at);
    } else if (arg == "--upstream") {
      have_upstream = parseLoopback(value, upstream);
    } else {
      std::fprintf(stderr, "fwd_tcp_relay: unknown argument %s\n%s", argv[i - 1], kUsage.data());
      return 2;
    }
  }
  if (!have_listen || !have_upstream) {
    std::fprintf(stderr, "fwd_tcp_relay: --listen and --upstream take 127.0.0.1:PORT\n%s",
                 kUsage.data());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listener, reinterpret_cast<const sockaddr*>(&listen_at), sizeof listen_at) != 0 ||
      ::listen(listener, 4096) != 0) {
    std::perror("fwd_tcp_relay: listen");
    return 1;
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &len);
  std::printf("fwd_tcp_relay listening on 127.0.0.1:%u\n", ntohs(bound.sin_port));
  std::fflush(stdout);
  return Relay(listener, upstream).run();
}
