// Beast/Asio implementation of the fake upstream; the only translation unit of the fake that
// includes Asio or Beast.
#include "tests/fakes/fake_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "tests/fakes/fake_llm.h"

namespace fwd::fakes {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint64_t kBodyLimit = 64ull << 20;
constexpr std::uint32_t kHeaderLimit = 64 << 10;
constexpr auto kIoTimeout = std::chrono::seconds(30);
constexpr int kMaxDelayMs = 10 * 60 * 1000;
constexpr int kMaxChunks = 1000000;
constexpr int kMaxHeadBytes = 1 << 20;
constexpr std::size_t kReadSize = 16 << 10;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kEventStream = "text/event-stream";

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

// How a stream's body is framed (x-fake-framing): plain chunks, or one of the unusual but
// legal framings, or a broken one, so tests can show what fwd relays and what it refuses.
enum class Framing {
  kChunked,      // one chunk per event
  kClose,        // no Transfer-Encoding or Content-Length: the body ends when the fake closes
  kSplit,        // each chunk written in three pieces, 2 ms apart, cut inside the size line
  kExtensions,   // chunk-size lines carry extensions ("1f;fake=1")
  kTrailers,     // trailer fields after the last chunk
  kBadChunk,     // after the first event, a chunk-size line that is not hexadecimal
  kCutMidChunk,  // the second event's chunk is cut in the middle, then the connection closes
  kJunkAfter,    // bytes after the end of the message, on a connection kept alive
};

Framing parseFraming(beast::string_view value) {
  static constexpr std::pair<std::string_view, Framing> kNames[] = {
      {"chunked", Framing::kChunked},
      {"close", Framing::kClose},
      {"split", Framing::kSplit},
      {"extensions", Framing::kExtensions},
      {"trailers", Framing::kTrailers},
      {"bad-chunk", Framing::kBadChunk},
      {"cut-mid-chunk", Framing::kCutMidChunk},
      {"junk-after", Framing::kJunkAfter},
  };
  for (const auto& [name, framing] : kNames) {
    if (beast::iequals(value, name)) {
      return framing;
    }
  }
  return Framing::kChunked;
}

// One request as the fake sees it. Owned by the connection and cleared between requests, so the
// strings keep their capacity and a keep-alive connection stops allocating after warm-up.
struct Request {
  http::verb method = http::verb::unknown;
  std::string target;
  std::string authorization;
  std::string api_key;  // Azure's credential field
  std::string content_type;
  bool dashscope_sse = false;   // X-DashScope-SSE: enable, or Accept: text/event-stream
  std::string host;             // the Host field (Replicate mode: the URLs it hands out)
  bool prefer_wait = false;     // Prefer: wait (Replicate mode)
  int replicate_polls = 0;      // x-fake-replicate-polls
  int replicate_throttle = 0;   // x-fake-replicate-throttle
  bool replicate_fail = false;  // x-fake-replicate-fail
  std::string body;
  int fake_status = 0;
  int retry_after = 1;  // seconds, sent with a 429
  int stall_ms = 0;
  int chunks = kDefaultChunks;
  int chunk_delay_ms = 0;
  int events_per_write = 1;
  int head_bytes = 0;
  int cut_after = -1;
  Framing framing = Framing::kChunked;
  bool fake_close = false;
  bool expect_continue = false;
  bool empty_body = false;    // x-fake-empty: the status alone, with Content-Length: 0
  bool echo_headers = false;  // x-fake-echo-headers: the body lists the fields received
  bool echo_body = false;     // x-fake-echo-body: the body is {"body": the body received}
  bool no_usage = false;      // x-fake-no-usage: answers report no usage (as some servers)
  bool tool_calls = false;    // x-fake-tool-calls: chat answers call get_weather instead
  bool error_event = false;   // x-fake-error-event: a 200 whose answer is an OpenAI error
  int interim = 0;            // x-fake-interim: N: an interim "N" response goes first
  std::string fields;         // every field as received, "name: value\n" each

  void clear() {
    method = http::verb::unknown;
    target.clear();
    authorization.clear();
    api_key.clear();
    content_type.clear();
    dashscope_sse = false;
    host.clear();
    prefer_wait = false;
    replicate_polls = 0;
    replicate_throttle = 0;
    replicate_fail = false;
    body.clear();
    fake_status = 0;
    retry_after = 1;
    stall_ms = 0;
    chunks = kDefaultChunks;
    chunk_delay_ms = 0;
    events_per_write = 1;
    head_bytes = 0;
    cut_after = -1;
    framing = Framing::kChunked;
    fake_close = false;
    expect_continue = false;
    empty_body = false;
    echo_headers = false;
    echo_body = false;
    no_usage = false;
    tool_calls = false;
    error_event = false;
    interim = 0;
    fields.clear();
  }
};

int parseInt(beast::string_view text, int low, int high, int fallback) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return fallback;
  }
  return std::clamp(value, low, high);
}

// Keeps only what the fake acts on; unlike http::parser it stores no header list, so parsing a
// request allocates nothing once the Request's strings have grown.
class RequestParser : public http::basic_parser<true> {
 public:
  explicit RequestParser(Request& out) : out_(out) {
    eager(true);
    header_limit(kHeaderLimit);
    body_limit(kBodyLimit);
  }

 private:
  void on_request_impl(http::verb method, beast::string_view, beast::string_view target, int,
                       beast::error_code&) override {
    out_.method = method;
    out_.target.assign(target.data(), target.size());
  }

  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_version;  // requests only
  }

  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    out_.fields.append(name_string.data(), name_string.size()).append(": ");
    out_.fields.append(value.data(), value.size()).append("\n");
    if (beast::iequals(name_string, "prefer")) {
      out_.prefer_wait = value.starts_with("wait");
      return;
    }
    switch (name) {
      case http::field::host:
        out_.host.assign(value.data(), value.size());
        return;
      case http::field::authorization:
        out_.authorization.assign(value.data(), value.size());
        return;
      case http::field::content_type:
        out_.content_type.assign(value.data(), value.size());
        return;
      case http::field::expect:
        out_.expect_continue = beast::iequals(value, "100-continue");
        return;
      case http::field::accept:
        out_.dashscope_sse = out_.dashscope_sse || value.find("text/event-stream") != value.npos;
        return;
      case http::field::unknown:
        break;
      default:
        return;
    }
    if (beast::iequals(name_string, "api-key")) {
      out_.api_key.assign(value.data(), value.size());
      return;
    }
    if (beast::iequals(name_string, "x-dashscope-sse")) {
      out_.dashscope_sse = beast::iequals(value, "enable");
      return;
    }
    if (name_string.size() < 7 || !beast::iequals(name_string.substr(0, 7), "x-fake-")) {
      return;
    }
    beast::string_view key = name_string.substr(7);
    if (beast::iequals(key, "status")) {
      out_.fake_status = parseInt(value, 100, 599, 0);
    } else if (beast::iequals(key, "retry-after")) {
      out_.retry_after = parseInt(value, 1, 3600, 1);
    } else if (beast::iequals(key, "stall-ms")) {
      out_.stall_ms = parseInt(value, 0, kMaxDelayMs, 0);
    } else if (beast::iequals(key, "chunks")) {
      out_.chunks = parseInt(value, 1, kMaxChunks, kDefaultChunks);
    } else if (beast::iequals(key, "chunk-delay-ms")) {
      out_.chunk_delay_ms = parseInt(value, 0, kMaxDelayMs, 0);
    } else if (beast::iequals(key, "events-per-write")) {
      out_.events_per_write = parseInt(value, 1, kMaxChunks, 1);
    } else if (beast::iequals(key, "head-bytes")) {
      out_.head_bytes = parseInt(value, 0, kMaxHeadBytes, 0);
    } else if (beast::iequals(key, "cut-after")) {
      out_.cut_after = parseInt(value, 0, kMaxChunks, -1);
    } else if (beast::iequals(key, "framing")) {
      out_.framing = parseFraming(value);
    } else if (beast::iequals(key, "close")) {
      out_.fake_close = value == "1" || beast::iequals(value, "true");
    } else if (beast::iequals(key, "empty")) {
      out_.empty_body = value == "1";
    } else if (beast::iequals(key, "echo-headers")) {
      out_.echo_headers = value == "1";
    } else if (beast::iequals(key, "echo-body")) {
      out_.echo_body = value == "1";
    } else if (beast::iequals(key, "no-usage")) {
      out_.no_usage = value == "1";
    } else if (beast::iequals(key, "tool-calls")) {
      out_.tool_calls = value == "1";
    } else if (beast::iequals(key, "error-event")) {
      out_.error_event = value == "1";
    } else if (beast::iequals(key, "replicate-polls")) {
      out_.replicate_polls = parseInt(value, 0, 100, 0);
    } else if (beast::iequals(key, "replicate-throttle")) {
      out_.replicate_throttle = parseInt(value, 0, 100, 0);
    } else if (beast::iequals(key, "replicate-fail")) {
      out_.replicate_fail = value == "1";
    } else if (beast::iequals(key, "interim")) {
      out_.interim = parseInt(value, 100, 199, 0);
    }
  }

  void on_header_impl(beast::error_code&) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         beast::error_code&) override {
    if (content_length) {
      // Room for simdjson's padding too, so inspectBody() never reallocates.
      out_.body.reserve(*content_length + kJsonPadding);
    }
  }

  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_finish_impl(beast::error_code&) override {}

  Request& out_;
};

enum class Endpoint {
  kChat,
  kCompletions,
  kEmbeddings,
  kTranscriptions,
  kModels,
  kModelsControl,
  kStats,
  kReset,
  kSetFailStatus,
  kUnknown,
};

Endpoint classify(http::verb method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/_fake/stats") {
    return method == http::verb::get ? Endpoint::kStats : Endpoint::kUnknown;
  }
  if (path == "/_fake/reset") {
    return method == http::verb::post ? Endpoint::kReset : Endpoint::kUnknown;
  }
  if (path == "/_fake/fail-status") {
    return method == http::verb::post ? Endpoint::kSetFailStatus : Endpoint::kUnknown;
  }
  if (path == "/_fake/models") {
    return method == http::verb::post ? Endpoint::kModelsControl : Endpoint::kUnknown;
  }
  if (method == http::verb::post) {
    if (path.ends_with("/chat/completions")) {
      return Endpoint::kChat;
    }
    if (path.ends_with("/completions")) {
      return Endpoint::kCompletions;
    }
    if (path.ends_with("/embeddings")) {
      return Endpoint::kEmbeddings;
    }
    if (path.ends_with("/audio/transcriptions")) {
      return Endpoint::kTranscriptions;
    }
  } else if (method == http::verb::get && path.ends_with("/models")) {
    return Endpoint::kModels;
  }
  return Endpoint::kUnknown;
}

std::string_view reasonPhrase(int status) {
  std::string_view reason = http::obsolete_reason(static_cast<http::status>(status));
  return reason.starts_with('<') ? std::string_view("Unknown") : reason;
}

// What varies between responses; everything else in the head is the same for all.
struct Head {
  int status = 200;
  std::string_view content_type = kJson;
  std::int64_t content_length = -1;  // -1: chunked, -2: neither (ends when the fake closes)
  bool keep_alive = true;
};

// Per-connection state. The coroutine owns it; buffers are reused across keep-alive requests.
struct Connection {
  beast::flat_buffer buffer;
  Request request;
  std::string head;
  std::string body;
  std::string frame;
};

enum class ReadResult { kOk, kClosed, kBad, kTooLarge };

void appendChunkFrame(std::string& frame, std::string_view payload,
                      std::string_view extension = {}) {
  char hex[20];
  auto [end, ec] = std::to_chars(hex, hex + sizeof(hex), payload.size(), 16);
  frame.append(hex, end);
  frame += extension;
  frame += "\r\n";
  frame += payload;
  frame += "\r\n";
}

// Removes `,"usage":{...}` from an answer the fake built (x-fake-no-usage).
void dropUsage(std::string& body) {
  size_t at = body.find(",\"usage\":{");
  if (at == std::string::npos) {
    return;
  }
  size_t end = at + 10;
  for (int depth = 1; end < body.size() && depth > 0; ++end) {
    depth += body[end] == '{' ? 1 : body[end] == '}' ? -1 : 0;
  }
  body.erase(at, end - at);
}

void logException(std::exception_ptr error) {
  if (!error) {
    return;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    FWD_LOG(kError, "fake_upstream") << "connection failed: " << e.what();
  }
}

}  // namespace

class FakeServer::Impl {
 public:
  explicit Impl(FakeConfig config) : config_(std::move(config)), fail_status_(config_.fail_status) {
    if (config_.replicate.enabled) {
      replicate_.emplace(config_.replicate);
    }
    int threads = std::max(1, config_.threads);
    for (int i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
    }
  }

  ~Impl() {
    stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
    guards_.clear();
    signals_.reset();
    acceptor_.reset();
    // Destroying the contexts destroys suspended sessions (and their sockets) before ssl_.
    contexts_.clear();
  }

  absl::Status listen(const std::string& host, std::uint16_t port) {
    if (!config_.tls_cert_file.empty() || !config_.tls_key_file.empty()) {
      if (config_.tls_cert_file.empty() || config_.tls_key_file.empty()) {
        return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
      }
      ssl_.emplace(asio::ssl::context::tls_server);
      ssl_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3);
      beast::error_code ec;
      ssl_->use_certificate_chain_file(config_.tls_cert_file, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot load --tls-cert ", config_.tls_cert_file, ": ", ec.message()));
      }
      ssl_->use_private_key_file(config_.tls_key_file, asio::ssl::context::pem, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot load --tls-key ", config_.tls_key_file, ": ", ec.message()));
      }
    }
    asio::io_context& ctx = *contexts_[0];
    beast::error_code ec;
    tcp::endpoint endpoint;
    asio::ip::address address = asio::ip::make_address(host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, port);
    } else {
      tcp::resolver resolver(ctx);
      auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec || results.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot resolve ", host, ": ", ec.message()));
      }
      endpoint = results.begin()->endpoint();
    }
    acceptor_.emplace(ctx);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_->bind(endpoint, ec);
    }
    if (!ec) {
      acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", host, ":", std::to_string(port), ": ", ec.message()));
    }
    // Installed before the caller announces the port, so a SIGTERM sent right after the
    // listening line still ends in a clean exit.
    signals_.emplace(ctx, SIGINT, SIGTERM);
    signals_->async_wait([this](const beast::error_code& ec, int) {
      if (!ec) {
        stop();
      }
    });
    return absl::OkStatus();
  }

  std::string boundAddress() const {
    beast::error_code ec;
    tcp::endpoint endpoint = acceptor_->local_endpoint(ec);
    std::string host = endpoint.address().to_string();
    if (endpoint.address().is_v6()) {
      host = "[" + host + "]";
    }
    return host + ":" + std::to_string(endpoint.port());
  }

  bool tls() const { return ssl_.has_value(); }

  void run() {
    asio::io_context& main = *contexts_[0];
    asio::co_spawn(main, acceptLoop(), logException);
    for (std::size_t i = 1; i < contexts_.size(); ++i) {
      guards_.push_back(asio::make_work_guard(*contexts_[i]));
      threads_.emplace_back([ctx = contexts_[i].get()] { ctx->run(); });
    }
    main.run();
    stop();
    for (std::thread& t : threads_) {
      t.join();
    }
    threads_.clear();
  }

  void stop() {
    for (auto& ctx : contexts_) {
      ctx->stop();
    }
  }

 private:
  asio::awaitable<void> acceptLoop() {
    std::size_t next = 0;
    for (;;) {
      asio::io_context& ctx = *contexts_[next];
      next = (next + 1) % contexts_.size();
      auto [ec, socket] =
          co_await acceptor_->async_accept(asio::any_io_executor(ctx.get_executor()), kUse);
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      if (ec) {
        // Out of descriptors or similar: back off instead of spinning.
        FWD_LOG(kWarn, "fake_upstream") << "accept failed: " << ec.message();
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(kUse);
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      connections_.fetch_add(1, std::memory_order_relaxed);
      if (ssl_) {
        asio::co_spawn(ctx, tlsSession(std::move(socket)), logException);
      } else {
        asio::co_spawn(ctx, plainSession(std::move(socket)), logException);
      }
    }
  }

  asio::awaitable<void> plainSession(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.socket().close(ec);
  }

  asio::awaitable<void> tlsSession(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *ssl_);
    beast::get_lowest_layer(stream).expires_after(kIoTimeout);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kUse);
    if (ec) {
      co_return;
    }
    co_await serve(stream);
    beast::get_lowest_layer(stream).socket().close(ec);
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream) {
    Connection conn;
    for (;;) {
      conn.request.clear();
      RequestParser parser(conn.request);
      ReadResult result = co_await readRequest(stream, conn, parser);
      if (result == ReadResult::kClosed) {
        co_return;
      }
      if (result != ReadResult::kOk) {
        int status = result == ReadResult::kTooLarge ? 413 : 400;
        conn.body.clear();
        appendError(conn.body, status,
                    status == 413 ? "fake upstream: request body over 64 MiB"
                                  : "fake upstream: malformed HTTP request");
        co_await writeResponse(stream, conn, Head{status, kJson, -1, false});
        co_return;
      }
      if (!co_await respond(stream, conn, parser.keep_alive())) {
        co_return;
      }
    }
  }

  template <class Stream>
  asio::awaitable<ReadResult> readRequest(Stream& stream, Connection& conn, RequestParser& parser) {
    beast::get_lowest_layer(stream).expires_after(kIoTimeout);
    bool continue_sent = false;
    for (;;) {
      while (conn.buffer.size() > 0 && !parser.is_done()) {
        beast::error_code ec;
        std::size_t used = parser.put(conn.buffer.data(), ec);
        conn.buffer.consume(used);
        if (ec == http::error::need_more) {
          break;
        }
        if (ec) {
          co_return ec == http::error::body_limit ? ReadResult::kTooLarge : ReadResult::kBad;
        }
        if (used == 0) {
          break;
        }
      }
      if (parser.is_done()) {
        co_return ReadResult::kOk;
      }
      if (parser.is_header_done() && conn.request.expect_continue && !continue_sent) {
        continue_sent = true;
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(kContinue), kUse);
        if (ec) {
          co_return ReadResult::kClosed;
        }
      }
      auto [ec, n] = co_await stream.async_read_some(conn.buffer.prepare(kReadSize), kUse);
      conn.buffer.commit(n);
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::ssl::error::stream_truncated) {
        if (!parser.got_some() && conn.buffer.size() == 0) {
          co_return ReadResult::kClosed;  // idle keep-alive connection closed by the client
        }
        beast::error_code eof_ec;
        parser.put_eof(eof_ec);
        co_return !eof_ec && parser.is_done() ? ReadResult::kOk : ReadResult::kClosed;
      }
      if (ec) {
        co_return ReadResult::kClosed;  // reset, or the 30 s read timeout
      }
    }
  }

  void appendHead(std::string& out, const Head& head, const Request& request, std::uint64_t id) {
    out += "HTTP/1.1 ";
    appendInt(out, head.status);
    out += ' ';
    out += reasonPhrase(head.status);
    out += "\r\ncontent-type: ";
    out += head.content_type;
    if (head.content_length >= 0) {
      out += "\r\ncontent-length: ";
      appendInt(out, head.content_length);
    } else if (head.content_length == -2) {
      out += "\r\ncache-control: no-cache";
    } else {
      out += "\r\ntransfer-encoding: chunked\r\ncache-control: no-cache";
    }
    out += "\r\nx-fake-upstream: ";
    out += config_.name;
    out += "\r\nx-fake-path: ";
    out += request.target;
    out += "\r\nx-fake-authorization: ";
    out += request.authorization;
    out += "\r\nx-fake-request-bytes: ";
    appendInt(out, static_cast<std::int64_t>(request.body.size()));
    out += "\r\nx-request-id: fake-";
    appendInt(out, static_cast<std::int64_t>(id));
    out += "\r\nopenai-processing-ms: 1\r\nx-ratelimit-remaining-requests: 999";
    if (head.status == 429) {
      out += "\r\nretry-after: ";
      appendInt(out, request.retry_after);
    }
    if (!head.keep_alive) {
      out += "\r\nconnection: close";
    }
    // x-fake-head-bytes: N pads the head to about N bytes with one long field.
    constexpr std::string_view kPad = "\r\nx-fake-pad: ";
    if (static_cast<size_t>(request.head_bytes) > out.size() + kPad.size() + 4) {
      out += kPad;
      out.append(request.head_bytes - out.size() - 4, 'p');
    }
    out += "\r\n\r\n";
  }

  // Writes head + conn.body (content-length framed). False when the connection must close.
  template <class Stream>
  asio::awaitable<bool> writeResponse(Stream& stream, Connection& conn, Head head,
                                      std::uint64_t id = 0) {
    head.content_length = static_cast<std::int64_t>(conn.body.size());
    conn.head.clear();
    appendHead(conn.head, head, conn.request, id);
    beast::get_lowest_layer(stream).expires_after(kIoTimeout);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(conn.head), asio::buffer(conn.body)};
    auto [ec, n] = co_await asio::async_write(stream, buffers, kUse);
    co_return !ec && head.keep_alive;
  }

  template <class Stream>
  asio::awaitable<bool> respond(Stream& stream, Connection& conn, bool keep_alive) {
    Request& request = conn.request;
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
    const Endpoint endpoint = classify(request.method, request.target);
    conn.body.clear();
    if (endpoint == Endpoint::kStats) {
      conn.body += "{\"name\":";
      appendJsonString(conn.body, config_.name);
      conn.body += ",\"client_aborts\":";
      appendInt(conn.body,
                static_cast<std::int64_t>(client_aborts_.load(std::memory_order_relaxed)));
      conn.body += ",\"connections\":";
      appendInt(conn.body, static_cast<std::int64_t>(connections_.load(std::memory_order_relaxed)));
      conn.body += ",\"requests\":";
      appendInt(conn.body, static_cast<std::int64_t>(requests_.load(std::memory_order_relaxed)));
      if (replicate_) {
        conn.body += ",\"replicate_cancels\":";
        appendInt(conn.body, replicate_->cancels());
      }
      conn.body += '}';
      co_return co_await writeResponse(stream, conn, Head{200, kJson, -1, keep_alive}, id);
    }
    if (endpoint == Endpoint::kSetFailStatus) {
      // POST /_fake/fail-status?status=N: from now on answer every request with N (0: normally),
      // so a test can break an upstream and heal it while fwd keeps running.
      std::string_view target = request.target;
      auto q = target.find("?status=");
      int status = q == std::string_view::npos ? -1 : parseInt(target.substr(q + 8), 0, 599, -1);
      if (status < 0 || (status > 0 && status < 100)) {
        appendError(conn.body, 400, "fake upstream: want ?status=0 or ?status=100..599");
        co_return co_await writeResponse(stream, conn, Head{400, kJson, -1, keep_alive}, id);
      }
      fail_status_.store(status, std::memory_order_relaxed);
      conn.body += "{\"ok\":true}";
      co_return co_await writeResponse(stream, conn, Head{200, kJson, -1, keep_alive}, id);
    }
    if (endpoint == Endpoint::kReset) {
      requests_.store(0, std::memory_order_relaxed);
      client_aborts_.store(0, std::memory_order_relaxed);
      connections_.store(0, std::memory_order_relaxed);
      conn.body += "{\"ok\":true}";
      co_return co_await writeResponse(stream, conn, Head{200, kJson, -1, keep_alive}, id);
    }
    if (endpoint == Endpoint::kModelsControl) {
      ModelsControl control;
      if (!parseModelsControl(request.body, control)) {
        appendError(conn.body, 400,
                    "fake upstream: want {\"models\":[...],\"status\":N,\"stall_ms\":N}");
        co_return co_await writeResponse(stream, conn, Head{400, kJson, -1, keep_alive}, id);
      }
      {
        std::lock_guard<std::mutex> lock(models_mu_);
        if (control.has_models) {
          config_.models = std::move(control.models);
        }
        if (control.has_status) {
          config_.models_status = control.status;
        }
        if (control.has_stall_ms) {
          config_.models_stall_ms = control.stall_ms;
        }
      }
      conn.body += "{\"ok\":true}";
      co_return co_await writeResponse(stream, conn, Head{200, kJson, -1, keep_alive}, id);
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (request.interim != 0) {
      // An interim response on its own write, then the answer (a 103 with a Link, as CDNs send).
      std::string interim = "HTTP/1.1 " + std::to_string(request.interim) +
                            " Interim\r\nLink: </style.css>; rel=preload\r\n\r\n";
      beast::get_lowest_layer(stream).expires_after(kIoTimeout);
      auto [iec, in] = co_await asio::async_write(stream, asio::buffer(interim), kUse);
      if (iec) {
        co_return false;
      }
    }

    // The model list can change at run time (POST /_fake/models): copied under the lock.
    std::vector<std::string> models;
    int models_status = 0;
    int models_stall_ms = 0;
    if (endpoint == Endpoint::kModels) {
      std::lock_guard<std::mutex> lock(models_mu_);
      models = config_.models;
      models_status = config_.models_status;
      models_stall_ms = config_.models_stall_ms;
    }

    if (request.stall_ms > 0 || config_.stall_ms > 0 || models_stall_ms > 0) {
      // The stall ends early when the client closes its connection (as a real model server
      // stops generating), and /_fake/stats counts it: tests prove fwd cancels promptly.
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(
          std::chrono::milliseconds(request.stall_ms + config_.stall_ms + models_stall_ms));
      auto& socket = beast::get_lowest_layer(stream).socket();
      auto aborted = std::make_shared<bool>(false);
      socket.async_wait(
          tcp::socket::wait_read, [&timer, &socket, aborted](boost::system::error_code ec) {
            if (ec) {
              return;  // cancelled: the frame may be gone, touch nothing else
            }
            char c;
            ssize_t n = ::recv(socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
              *aborted = true;
              timer.cancel();
            }
          });
      co_await timer.async_wait(kUse);
      boost::system::error_code ignored;
      socket.cancel(ignored);
      if (*aborted) {
        client_aborts_.fetch_add(1, std::memory_order_relaxed);
        co_return false;
      }
    }
    if (request.fake_close) {
      co_return false;
    }

    BodyInfo info;
    const bool json_endpoint = endpoint == Endpoint::kChat || endpoint == Endpoint::kCompletions ||
                               endpoint == Endpoint::kEmbeddings;
    if (json_endpoint) {
      info = inspectBody(request.body);
    }
    if (config_.dashscope.enabled && endpoint != Endpoint::kModels) {
      co_return co_await respondDashScope(stream, conn, id, keep_alive);
    }
    if (replicate_) {
      co_return co_await respondReplicate(stream, conn, id, keep_alive);
    }
    if (config_.azure.enabled) {
      AzureVerdict verdict =
          azureGate(config_.azure, request.target, request.api_key, info.model, request.body);
      if (verdict.status != 0) {
        conn.body = std::move(verdict.body);
        co_return co_await writeResponse(stream, conn, Head{verdict.status, kJson, -1, keep_alive},
                                         id);
      }
      if (!verdict.model.empty()) {
        info.model = std::move(verdict.model);
      }
    }
    int status = request.fake_status;
    if (status == 0) {
      status = info.status_from_model;
    }
    if (status == 0) {
      status = fail_status_.load(std::memory_order_relaxed);
    }
    if (status == 0) {
      status = models_status;
    }
    if (status == 0 && endpoint == Endpoint::kUnknown) {
      status = 404;
    }
    if (request.empty_body) {
      co_return co_await writeResponse(stream, conn,
                                       Head{status == 0 ? 200 : status, kJson, -1, keep_alive}, id);
    }
    if (request.echo_headers) {
      conn.body += "{\"headers\":[";
      std::string_view rest = request.fields;
      for (bool first = true; !rest.empty(); first = false) {
        size_t end = rest.find('\n');
        conn.body += first ? "" : ",";
        appendJsonString(conn.body, rest.substr(0, end));
        rest.remove_prefix(end + 1);
      }
      conn.body += "]}";
      co_return co_await writeResponse(stream, conn, Head{200, kJson, -1, keep_alive}, id);
    }
    if (request.echo_body && status == 0) {
      conn.body += "{\"body\":";
      appendJsonString(conn.body, request.body);
      conn.body += "}";
      co_return co_await writeResponse(stream, conn, Head{200, kJson, -1, keep_alive}, id);
    }
    if (status == 0 && json_endpoint && !info.json_ok) {
      appendError(conn.body, 400, "fake upstream: request body is not a JSON object");
      co_return co_await writeResponse(stream, conn, Head{400, kJson, -1, keep_alive}, id);
    }
    if (status != 0) {
      std::string message =
          endpoint == Endpoint::kUnknown && status == 404
              ? absl::StrCat("fake upstream: no endpoint for ",
                             std::string(http::to_string(request.method)), " ", request.target)
              : absl::StrCat("fake upstream error ", status);
      if (config_.azure.enabled) {
        appendAzureError(conn.body, status);
      } else {
        appendError(conn.body, status, message);
      }
      co_return co_await writeResponse(stream, conn, Head{status, kJson, -1, keep_alive}, id);
    }

    switch (endpoint) {
      case Endpoint::kChat:
      case Endpoint::kCompletions: {
        const StreamKind kind =
            endpoint == Endpoint::kChat ? StreamKind::kChat : StreamKind::kCompletion;
        if (info.stream) {
          if (request.no_usage) {
            info.include_usage = false;
          }
          co_return co_await writeStream(stream, conn, kind, info, id, keep_alive);
        }
        if (request.error_event) {
          appendErrorObject(conn.body);
        } else if (kind == StreamKind::kChat && request.tool_calls) {
          appendToolCallCompletion(conn.body, id, info.model);
        } else if (kind == StreamKind::kChat) {
          appendChatCompletion(conn.body, id, info.model, config_.name);
        } else {
          appendTextCompletion(conn.body, id, info.model, config_.name);
        }
        if (request.no_usage) {
          dropUsage(conn.body);
        }
        break;
      }
      case Endpoint::kEmbeddings:
        appendEmbeddings(conn.body, info.model, info.inputs, info.base64);
        break;
      case Endpoint::kTranscriptions:
        appendTranscription(conn.body, config_.name, request.body, request.content_type);
        break;
      case Endpoint::kModels:
        appendModelList(conn.body, models);
        break;
      default:
        break;
    }
    co_return co_await writeResponse(stream, conn, Head{200, kJson, -1, keep_alive}, id);
  }

  // DashScope mode: the gate (fake_dashscope.h), then an answer or a stream of DashScope events.
  template <class Stream>
  asio::awaitable<bool> respondDashScope(Stream& stream, Connection& conn, std::uint64_t id,
                                         bool keep_alive) {
    Request& request = conn.request;
    std::vector<std::string> models;
    {
      std::lock_guard<std::mutex> lock(models_mu_);
      models = config_.models;
    }
    DashScopeRequest r = dashScopeGate(config_.dashscope, request.target, request.authorization,
                                       request.dashscope_sse, models, request.body);
    if (r.status == 0 && request.fake_status != 0) {
      r.status = request.fake_status;
      appendDashScopeError(r.body, r.status, id);
    }
    if (r.status != 0) {
      conn.body = std::move(r.body);
      co_return co_await writeResponse(stream, conn, Head{r.status, kJson, -1, keep_alive}, id);
    }
    if (!r.stream) {
      appendDashScopeAnswer(conn.body, r, id, config_.name, request.tool_calls);
      co_return co_await writeResponse(stream, conn, Head{200, kJson, -1, keep_alive}, id);
    }
    BodyInfo info;
    info.model = r.model;
    co_return co_await writeStream(stream, conn, StreamKind::kChat, info, id, keep_alive, &r);
  }

  // Replicate mode: predictions created, read and streamed (fake_replicate.h).
  template <class Stream>
  asio::awaitable<bool> respondReplicate(Stream& stream, Connection& conn, std::uint64_t id,
                                         bool keep_alive) {
    const Request& request = conn.request;
    std::vector<std::string> models;
    {
      std::lock_guard<std::mutex> lock(models_mu_);
      models = config_.models;
    }
    ReplicateFaults faults;
    faults.status = request.fake_status;
    faults.polls = request.replicate_polls;
    faults.throttle = request.replicate_throttle;
    faults.fail = request.replicate_fail;
    faults.chunks = request.chunks;
    faults.cut_after = request.cut_after;
    faults.chunk_delay_ms = request.chunk_delay_ms;
    ReplicateReply reply = replicate_->handle(
        std::string_view(http::to_string(request.method)), request.target, request.authorization,
        request.prefer_wait, request.host, models, request.body, faults, config_.name);
    if (!reply.stream) {
      conn.body = std::move(reply.body);
      co_return co_await writeResponse(stream, conn, Head{reply.status, kJson, -1, keep_alive}, id);
    }
    conn.head.clear();
    appendHead(conn.head, Head{200, kEventStream, -1, keep_alive}, request, id);
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(kIoTimeout);
    if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(conn.head), kUse); ec) {
      co_return false;
    }
    asio::steady_timer delay(co_await asio::this_coro::executor);
    for (size_t i = 0; i < reply.events.size(); ++i) {
      if (static_cast<int>(i) == reply.cut_after) {
        beast::error_code ec;
        lowest.socket().close(ec);
        co_return false;
      }
      if (i > 0 && reply.chunk_delay_ms > 0) {
        delay.expires_after(std::chrono::milliseconds(reply.chunk_delay_ms));
        co_await delay.async_wait(kUse);
      }
      conn.frame.clear();
      appendChunkFrame(conn.frame, reply.events[i]);
      lowest.expires_after(kIoTimeout);
      if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(conn.frame), kUse); ec) {
        co_return false;
      }
    }
    lowest.expires_after(kIoTimeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer("0\r\n\r\n", 5), kUse);
    co_return !ec && keep_alive;
  }

  // One chunk per event, each written (flushed) on its own unless x-fake-events-per-write groups
  // them; x-fake-cut-after closes mid-way and x-fake-framing picks another framing (see Framing).
  template <class Stream>
  asio::awaitable<bool> writeStream(Stream& stream, Connection& conn, StreamKind kind,
                                    const BodyInfo& info, std::uint64_t id, bool keep_alive,
                                    const DashScopeRequest* dashscope = nullptr) {
    const Request& request = conn.request;
    const Framing framing = request.framing;
    if (framing == Framing::kClose) {
      keep_alive = false;
    }
    conn.head.clear();
    appendHead(conn.head, Head{200, kEventStream, framing == Framing::kClose ? -2 : -1, keep_alive},
               request, id);
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(kIoTimeout);
    // Events written in groups (x-fake-events-per-write) take the head along with the first.
    conn.frame.clear();
    if (request.events_per_write > 1) {
      conn.frame = conn.head;
    } else if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(conn.head), kUse);
               ec) {
      co_return false;
    }
    const auto head_sent = std::chrono::steady_clock::now();
    const int chunks = request.chunks;
    // DashScope's streams have no usage chunk and no [DONE]; one that errs ends at its error.
    const int events = dashscope != nullptr
                           ? (request.error_event ? 1 : chunks)
                           : chunks + (info.include_usage ? 1 : 0) + 1;  // + [DONE]
    std::optional<asio::steady_timer> delay;
    auto pause = [&](int ms) -> asio::awaitable<void> {
      if (!delay) {
        delay.emplace(co_await asio::this_coro::executor);
      }
      delay->expires_after(std::chrono::milliseconds(ms));
      co_await delay->async_wait(kUse);
    };
    auto write = [&](std::string_view bytes) -> asio::awaitable<bool> {
      lowest.expires_after(kIoTimeout);
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), kUse);
      co_return !ec;
    };
    // Frames wait in conn.frame until x-fake-events-per-write of them are there (default 1:
    // each event written on its own), or a pause, a cut or the end comes.
    int batched = 0;
    auto flush = [&]() -> asio::awaitable<bool> {
      batched = 0;
      if (conn.frame.empty()) {
        co_return true;
      }
      bool ok = co_await write(conn.frame);
      conn.frame.clear();
      co_return ok;
    };
    for (int i = 0; i < events; ++i) {
      if (i == request.cut_after) {
        co_await flush();
        beast::error_code ec;
        lowest.socket().close(ec);
        co_return false;
      }
      if (i > 0 && request.chunk_delay_ms > 0) {
        if (!co_await flush()) {
          co_return false;
        }
        // On a fixed schedule from the head (no drift), so a client can tell when each event
        // was due.
        if (!delay) {
          delay.emplace(co_await asio::this_coro::executor);
        }
        delay->expires_at(head_sent + std::chrono::milliseconds(request.chunk_delay_ms) * i);
        co_await delay->async_wait(kUse);
      }
      conn.body.clear();
      if (dashscope != nullptr) {
        if (request.error_event) {
          appendDashScopeErrorEvent(conn.body, id);
        } else {
          appendDashScopeEvent(conn.body, *dashscope, id, config_.name, request.tool_calls, i,
                               chunks);
        }
      } else {
        if (i == 0 && config_.azure.enabled && kind == StreamKind::kChat) {
          conn.body += "data: ";
          appendAzurePromptFilterEvent(conn.body);  // Azure's first event, in the first frame
          conn.body += "\n\n";
        }
        conn.body += "data: ";
        if (i == 0 && request.error_event) {
          appendErrorObject(conn.body);  // in place of the first chunk, then the stream goes on
        } else if (i < chunks && kind == StreamKind::kChat && request.tool_calls) {
          appendToolCallChunk(conn.body, id, info.model, i, chunks);
        } else if (i < chunks) {
          appendStreamChunk(conn.body, kind, id, info.model, config_.name, i, chunks);
        } else if (i == chunks && info.include_usage) {
          appendUsageChunk(conn.body, kind, id, info.model, chunks);
        } else {
          conn.body += "[DONE]";
        }
        conn.body += "\n\n";
      }
      const size_t start = conn.frame.size();
      if (framing == Framing::kClose) {
        conn.frame += conn.body;
      } else if (framing == Framing::kBadChunk && i == 1) {
        conn.frame += "zz\r\n" + conn.body + "\r\n";
      } else {
        appendChunkFrame(conn.frame, conn.body, framing == Framing::kExtensions ? ";fake=1" : "");
      }
      const bool in_pieces =
          framing == Framing::kSplit || (framing == Framing::kCutMidChunk && i == 1);
      if (!in_pieces) {
        if (++batched >= request.events_per_write && !co_await flush()) {
          co_return false;
        }
        continue;
      }
      // This event's frame goes out in pieces; the events batched before it go first.
      std::string_view frame = std::string_view(conn.frame).substr(start);
      if (start > 0 && !co_await write(std::string_view(conn.frame).substr(0, start))) {
        co_return false;
      }
      batched = 0;
      if (framing == Framing::kCutMidChunk) {
        co_await write(frame.substr(0, frame.size() / 2));
        beast::error_code ec;
        lowest.socket().close(ec);
        co_return false;
      }
      // Inside the size line, then inside the payload.
      if (!co_await write(frame.substr(0, 1))) {
        co_return false;
      }
      co_await pause(2);
      if (!co_await write(frame.substr(1, frame.size() / 2))) {
        co_return false;
      }
      co_await pause(2);
      frame.remove_prefix(1 + frame.size() / 2);
      if (!co_await write(frame)) {
        co_return false;
      }
      conn.frame.clear();
    }
    if (request.cut_after >= events || framing == Framing::kClose) {
      co_await flush();
      beast::error_code ec;
      lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
      lowest.socket().close(ec);
      co_return false;
    }
    std::string_view tail = "0\r\n\r\n";
    if (framing == Framing::kTrailers) {
      tail = "0\r\nx-fake-trailer: 1\r\n\r\n";
    } else if (framing == Framing::kJunkAfter) {
      tail = "0\r\n\r\nJUNK";
    }
    conn.frame += tail;
    co_return co_await flush() && keep_alive;
  }

  FakeConfig config_;
  // Guards config_.models, models_status and models_stall_ms, which POST /_fake/models changes
  // while the threads serve. Only the models endpoints take it (not the benchmarked paths).
  std::mutex models_mu_;
  std::optional<ReplicateFake> replicate_;  // Replicate mode's predictions
  std::optional<asio::ssl::context> ssl_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::signal_set> signals_;
  // Requests served (excluding /_fake/*), zeroed by /_fake/reset.
  std::atomic<std::uint64_t> requests_{0};
  // --fail-status, changed at run time by POST /_fake/fail-status.
  std::atomic<int> fail_status_;
  // Requests whose client closed the connection while the response was stalled.
  std::atomic<std::uint64_t> client_aborts_{0};
  // Connections accepted (the stats requests' own included), zeroed by /_fake/reset.
  std::atomic<std::uint64_t> connections_{0};
  // Source of x-request-id; never reset so ids stay unique.
  std::atomic<std::uint64_t> next_id_{0};
};

FakeServer::FakeServer(FakeConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
FakeServer::~FakeServer() = default;

absl::Status FakeServer::listen(const std::string& host, std::uint16_t port) {
  return impl_->listen(host, port);
}
std::string FakeServer::boundAddress() const { return impl_->boundAddress(); }
bool FakeServer::tls() const { return impl_->tls(); }
void FakeServer::run() { impl_->run(); }
void FakeServer::stop() { impl_->stop(); }

}  // namespace fwd::fakes
