// A synchronous HTTP/1.1 client for integration tests (Boost.Beast underneath, HTTP or HTTPS).
// Every call has a deadline and reports transport failures in Response::error instead of
// throwing, so a broken server fails an assertion rather than hanging the test. The streaming
// variant hands each body piece to a callback with its arrival time: tests use it to prove SSE
// is relayed incrementally and, by returning false, to hang up mid-response like a client that
// went away.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fwd::harness {

struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
  using is_transparent = void;
};

/// Response (or request) header fields; lookups ignore case, repeated fields are kept.
using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;

struct Response {
  int status = 0;     // 0 when no response head arrived
  std::string error;  // transport failure (refused, timeout, closed early); empty when none
  Headers headers;
  std::string body;       // de-chunked
  bool complete = false;  // the whole body arrived (false when cut or when the callback stopped)

  /// First value of a header, "" when absent.
  std::string header(std::string_view name) const;
  bool hasHeader(std::string_view name) const { return headers.count(std::string(name)) > 0; }
};

/// Where to connect: "http://127.0.0.1:8000" or "https://host:port" (a path is ignored).
struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  bool tls = false;

  /// Parses "http[s]://host:port[/path]"; nullopt when malformed. The path goes to `target`.
  static std::optional<Endpoint> fromUrl(std::string_view url, std::string* target = nullptr);
};

/// Receives each body piece as read from the socket and when it arrived. Return false to stop
/// reading and close the connection.
using ChunkCallback =
    std::function<bool(std::string_view piece, std::chrono::steady_clock::time_point arrival)>;

/// One connection, reusable for several keep-alive requests. Not thread-safe.
class HttpConnection {
 public:
  explicit HttpConnection(Endpoint endpoint);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  /// Connects unless connected; returns "" or the error.
  std::string connect(std::chrono::milliseconds timeout);
  bool isOpen() const;
  void close();

  /// Sends one request on this connection (connecting first if needed) and reads the response.
  /// Host and Content-Length are set unless given in `headers`.
  Response request(const std::string& method, const std::string& target,
                   const Headers& headers = {}, const std::string& body = "",
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// Like request(), but hands body pieces to `on_piece` as they arrive (they are also appended
  /// to Response::body). When `on_piece` returns false the connection is closed at once.
  Response streamRequest(const std::string& method, const std::string& target,
                         const Headers& headers, const std::string& body,
                         const ChunkCallback& on_piece,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// One request on a fresh connection (closed afterwards).
Response httpRequest(const Endpoint& endpoint, const std::string& method, const std::string& target,
                     const Headers& headers = {}, const std::string& body = "",
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
/// Same, from a full URL such as "http://127.0.0.1:8000/v1/models?x=1".
Response httpRequest(const std::string& method, const std::string& url, const Headers& headers = {},
                     const std::string& body = "",
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
/// Streaming request on a fresh connection.
Response streamRequest(const Endpoint& endpoint, const std::string& method,
                       const std::string& target, const Headers& headers, const std::string& body,
                       const ChunkCallback& on_piece,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// The data of each "data: " line of an SSE body ending in a blank line ([DONE] included), in
/// order: what an OpenAI-style stream's events say.
std::vector<std::string> sseData(const std::string& body);

/// Sends raw bytes to a loopback port and returns everything read until the peer closes or
/// `timeout` passes without a byte. For requests the typed client cannot send (bad framing).
std::string rawExchange(std::uint16_t port, const std::string& bytes,
                        std::chrono::milliseconds timeout = std::chrono::seconds(2));

}  // namespace fwd::harness
