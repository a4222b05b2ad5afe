// Beast implementation of the test HTTP client. Each call runs asynchronous operations on a
// private io_context with a deadline on the tcp_stream: when the deadline passes, Beast closes
// the socket and the operation fails with a timeout, so no call can block past its timeout.
#include "tests/integration/harness/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>

#include "common/net/host_port.h"

namespace fwd::harness {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kResponseBodyLimit = 1ull << 30;
// Above fwd's own limit on response heads (64 KiB), so tests see every head fwd relays.
constexpr std::uint32_t kResponseHeaderLimit = 1u << 20;
constexpr std::size_t kPieceSize = 64 << 10;

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) <
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::string Response::header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string() : it->second;
}

std::optional<Endpoint> Endpoint::fromUrl(std::string_view url, std::string* target) {
  Endpoint endpoint;
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else if (url.starts_with("https://")) {
    url.remove_prefix(8);
    endpoint.tls = true;
  } else {
    return std::nullopt;
  }
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  auto host_port = common::net::parseHostPort(authority);
  if (host_port.ok()) {
    endpoint.host = host_port->host;
    endpoint.port = host_port->port;
  } else if (!authority.empty() && authority.find(':') == std::string_view::npos) {
    endpoint.host = std::string(authority);
    endpoint.port = endpoint.tls ? 443 : 80;
  } else {
    return std::nullopt;
  }
  if (target != nullptr) {
    *target = std::move(path);
  }
  return endpoint;
}

class HttpConnection::Impl {
 public:
  explicit Impl(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}

  bool isOpen() const { return open_; }

  void close() {
    if (plain_) {
      beast::error_code ec;
      plain_->socket().shutdown(tcp::socket::shutdown_both, ec);
      plain_->close();
    }
    if (tls_) {
      beast::get_lowest_layer(*tls_).close();
    }
    plain_.reset();
    tls_.reset();
    buffer_.clear();
    open_ = false;
  }

  std::string connect(Clock::time_point deadline) {
    if (open_) {
      return "";
    }
    close();
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(endpoint_.host, std::to_string(endpoint_.port), ec);
    if (ec) {
      return "resolve " + endpoint_.host + ": " + ec.message();
    }
    if (endpoint_.tls) {
      if (!ssl_ctx_) {
        // Tests run against self-signed certificates: no verification.
        ssl_ctx_.emplace(asio::ssl::context::tls_client);
        ssl_ctx_->set_verify_mode(asio::ssl::verify_none);
      }
      tls_.emplace(ioc_, *ssl_ctx_);
      SSL_set_tlsext_host_name(tls_->native_handle(), endpoint_.host.c_str());
    } else {
      plain_.emplace(ioc_);
    }
    lowest().expires_at(deadline);
    ec = run([&](auto handler) { lowest().async_connect(results, handler); });
    if (!ec && tls_) {
      ec = run(
          [&](auto handler) { tls_->async_handshake(asio::ssl::stream_base::client, handler); });
    }
    if (ec) {
      close();
      return "connect " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": " +
             ec.message();
    }
    beast::error_code ignored;
    lowest().socket().set_option(tcp::no_delay(true), ignored);
    open_ = true;
    return "";
  }

  Response exchange(const std::string& method, const std::string& target, const Headers& headers,
                    const std::string& body, const ChunkCallback* on_piece,
                    std::chrono::milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    Response response;
    response.error = connect(deadline);
    if (!response.error.empty()) {
      return response;
    }
    http::request<http::string_body> request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    for (const auto& [name, value] : headers) {
      request.insert(name, value);
    }
    if (request.find(http::field::host) == request.end()) {
      request.set(http::field::host, endpoint_.host + ":" + std::to_string(endpoint_.port));
    }
    request.body() = body;
    const bool has_length = request.find(http::field::content_length) != request.end() ||
                            request.find(http::field::transfer_encoding) != request.end();
    if (!has_length &&
        (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")) {
      request.content_length(body.size());
    }
    lowest().expires_at(deadline);
    beast::error_code ec = withStream([&](auto& stream) {
      return run([&](auto handler) { http::async_write(stream, request, handler); });
    });
    if (ec) {
      return fail(std::move(response), "write request: " + ec.message());
    }

    http::response_parser<http::buffer_body> parser;
    parser.body_limit(kResponseBodyLimit);
    parser.header_limit(kResponseHeaderLimit);
    if (method == "HEAD") {
      parser.skip(true);
    }
    ec = withStream([&](auto& stream) {
      return run([&](auto handler) { http::async_read_header(stream, buffer_, parser, handler); });
    });
    if (ec) {
      return fail(std::move(response), "read response head: " + ec.message());
    }
    const auto& head = parser.get();
    response.status = static_cast<int>(head.result_int());
    for (const auto& field : head) {
      response.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    char piece[kPieceSize];
    while (!parser.is_done()) {
      parser.get().body().data = piece;
      parser.get().body().size = sizeof(piece);
      ec = withStream([&](auto& stream) {
        return run([&](auto handler) { http::async_read_some(stream, buffer_, parser, handler); });
      });
      const Clock::time_point arrival = Clock::now();
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      const std::size_t n = sizeof(piece) - parser.get().body().size;
      if (n > 0) {
        std::string_view data(piece, n);
        response.body.append(data);
        if (on_piece != nullptr && !(*on_piece)(data, arrival)) {
          close();  // the caller hangs up, like a client that went away
          return response;
        }
      }
      if (ec) {
        return fail(std::move(response), "read response body: " + ec.message());
      }
    }
    response.complete = true;
    if (!parser.keep_alive()) {
      close();
    }
    return response;
  }

 private:
  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  template <class F>
  beast::error_code withStream(F&& f) {
    if (tls_) {
      return f(*tls_);
    }
    return f(*plain_);
  }

  // Starts one asynchronous operation and runs the context until it completes. The deadline set
  // on the tcp_stream bounds it.
  template <class Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = asio::error::operation_aborted;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  Response fail(Response response, std::string error) {
    response.error = std::move(error);
    close();
    return response;
  }

  Endpoint endpoint_;
  asio::io_context ioc_{1};
  std::optional<asio::ssl::context> ssl_ctx_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  bool open_ = false;
};

HttpConnection::HttpConnection(Endpoint endpoint)
    : impl_(std::make_unique<Impl>(std::move(endpoint))) {}
HttpConnection::~HttpConnection() { impl_->close(); }

std::string HttpConnection::connect(std::chrono::milliseconds timeout) {
  return impl_->connect(Clock::now() + timeout);
}
bool HttpConnection::isOpen() const { return impl_->isOpen(); }
void HttpConnection::close() { impl_->close(); }

Response HttpConnection::request(const std::string& method, const std::string& target,
                                 const Headers& headers, const std::string& body,
                                 std::chrono::milliseconds timeout) {
  return impl_->exchange(method, target, headers, body, nullptr, timeout);
}

Response HttpConnection::streamRequest(const std::string& method, const std::string& target,
                                       const Headers& headers, const std::string& body,
                                       const ChunkCallback& on_piece,
                                       std::chrono::milliseconds timeout) {
  return impl_->exchange(method, target, headers, body, &on_piece, timeout);
}

Response httpRequest(const Endpoint& endpoint, const std::string& method, const std::string& target,
                     const Headers& headers, const std::string& body,
                     std::chrono::milliseconds timeout) {
  HttpConnection connection(endpoint);
  return connection.request(method, target, headers, body, timeout);
}

Response httpRequest(const std::string& method, const std::string& url, const Headers& headers,
                     const std::string& body, std::chrono::milliseconds timeout) {
  std::string target;
  std::optional<Endpoint> endpoint = Endpoint::fromUrl(url, &target);
  if (!endpoint) {
    Response response;
    response.error = "malformed URL " + url;
    return response;
  }
  return httpRequest(*endpoint, method, target, headers, body, timeout);
}

Response streamRequest(const Endpoint& endpoint, const std::string& method,
                       const std::string& target, const Headers& headers, const std::string& body,
                       const ChunkCallback& on_piece, std::chrono::milliseconds timeout) {
  HttpConnection connection(endpoint);
  return connection.streamRequest(method, target, headers, body, on_piece, timeout);
}

std::vector<std::string> sseData(const std::string& body) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    size_t end = body.find("\n\n", at);
    out.push_back(body.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6));
    if (end == std::string::npos) {
      break;
    }
    at = end;
  }
  return out;
}

std::string rawExchange(std::uint16_t port, const std::string& bytes,
                        std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

}  // namespace fwd::harness
