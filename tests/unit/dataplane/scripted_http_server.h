// A loopback HTTP server for unit tests of fwd's outgoing HTTP clients: it accepts on
// 127.0.0.1 port 0 on its own thread, reads each request head, records it, and hands the
// connection to a scripted handler that answers (or stalls, or hangs up) as the test needs.
// Plain POSIX sockets, so the test sees exactly the bytes it scripts; one connection at a time.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fwd::test_support {

class ScriptedHttpServer {
 public:
  /// Answers one connection: `fd` is the accepted socket, `head` the request head as read.
  /// Long waits should poll `stopping` so the destructor is not held up.
  using Handler =
      std::function<void(int fd, const std::string& head, const std::atomic<bool>& stopping)>;

  explicit ScriptedHttpServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~ScriptedHttpServer() {
    stopping_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::uint16_t port() const { return port_; }
  std::string baseUrl(const std::string& path = "/v1") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  /// Request heads received so far.
  std::vector<std::string> heads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return heads_;
  }

  /// A complete response with a Content-Length body.
  static std::string response(int status, const std::string& body,
                              const std::string& content_type = "application/json") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + content_type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  /// The body of a request on `fd` whose head (and maybe the start of its body) is `head`: read
  /// up to its Content-Length (5 s at most).
  static std::string readBody(int fd, const std::string& head) {
    const size_t end = head.find("\r\n\r\n");
    if (end == std::string::npos) {
      return "";
    }
    std::string body = head.substr(end + 4);
    const size_t cl = head.find("Content-Length: ");
    const size_t want = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (body.size() < want && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) {
        continue;
      }
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        break;
      }
      body.append(buf, static_cast<size_t>(n));
    }
    return body;
  }

  static void sendAll(int fd, const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        return;
      }
      sent += static_cast<size_t>(n);
    }
  }

  /// Waits until `stopping` or `d` passed, in small steps.
  static void stall(const std::atomic<bool>& stopping, std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stopping && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  void run() {
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) {
        continue;
      }
      int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) {
        continue;
      }
      std::string head = readHead(conn);
      {
        std::lock_guard<std::mutex> lock(mu_);
        heads_.push_back(head);
      }
      handler_(conn, head, stopping_);
      ::close(conn);
    }
  }

  std::string readHead(int conn) {
    std::string head;
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (head.find("\r\n\r\n") == std::string::npos && !stopping_ &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) {
        continue;
      }
      ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) {
        break;
      }
      head.append(buf, static_cast<size_t>(n));
    }
    return head;
  }

  Handler handler_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;  // guards heads_
  std::vector<std::string> heads_;
  std::thread thread_;
};

}  // namespace fwd::test_support
