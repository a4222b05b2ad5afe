#include "tests/integration/harness/redis_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <string_view>
#include <thread>

namespace fwd::harness {
namespace {

// True when something on 127.0.0.1:`port` answers PING as Redis does (+PONG, or -NOAUTH when it
// wants a password).
bool answersPing(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return false;
  }
  timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::write(fd, "PING\r\n", 6) == 6) {
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ok = n > 0 &&
         (buf[0] == '+' || std::string_view(buf, n).find("NOAUTH") != std::string_view::npos);
  }
  ::close(fd);
  return ok;
}

}  // namespace

::testing::AssertionResult RedisServer::start(const std::string& password) {
  if (!password.empty()) {
    password_ = password;
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::uint16_t port = port_ != 0 ? port_ : freeLoopbackPort();
    // No persistence; DEBUG allowed from loopback (DEBUG SLEEP: a Redis that does not answer).
    std::vector<std::string> args = {"--port",
                                     std::to_string(port),
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     dir_,
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--daemonize",
                                     "no",
                                     "--loglevel",
                                     "notice",
                                     "--enable-debug-command",
                                     "local"};
    if (!password_.empty()) {
      args.push_back("--requirepass");
      args.push_back(password_);
    }
    process_ = std::make_unique<ChildProcess>();
    process_->setName("redis-server");
    if (auto started = process_->start("/usr/bin/redis-server", args); !started) {
      return started;
    }
    for (int i = 0; i < 200; ++i) {
      if (answersPing(port)) {
        port_ = port;
        return ::testing::AssertionSuccess();
      }
      if (process_->exitCode()) {
        break;  // the port was taken meanwhile: another one
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    process_->kill();
  }
  return ::testing::AssertionFailure() << "redis-server did not start";
}

void RedisServer::kill() {
  if (process_) {
    process_->kill();
    process_.reset();
  }
}

std::string RedisServer::url() const {
  return "redis://" + (password_.empty() ? std::string() : ":" + password_ + "@") +
         "127.0.0.1:" + std::to_string(port_) + "/0";
}

}  // namespace fwd::harness
