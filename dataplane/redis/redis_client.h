// A Redis connection driven by one worker's io_context: hiredis (Debian's libhiredis) parses and
// writes the protocol, Asio waits on its socket, so no thread ever blocks on Redis. The address
// is resolved with Asio's resolver (off the worker's thread) before hiredis connects to the
// numeric address; AUTH and SELECT are sent first on every connection. A command completes with
// its reply, or with no reply (Reply::Type::kNone and why) when Redis is down or does not answer
// within the command timeout: callers decide what that means (fail open or closed). A broken
// connection is dialled again with exponential backoff; nothing here crashes or waits on Redis.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/redis_url.h"
#include "dataplane/proxy/worker_io.h"

struct redisAsyncContext;

namespace fwd::dataplane::redis {

using common::net::parseRedisUrl;
using common::net::RedisEndpoint;

struct Reply {
  enum class Type { kNone, kError, kInteger, kString, kStatus, kNil, kArray };
  Type type = Type::kNone;  // kNone: no reply (down, timed out, closed); `text` says why
  std::int64_t integer = 0;
  std::string text;  // a string, a status or an error
  std::vector<Reply> elements;
  bool timed_out = false;  // kNone because Redis did not answer within the command timeout
  bool answered() const { return type != Type::kNone; }
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{250};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  // Called (on the client's thread) when the connection comes up or goes down.
  std::function<void(bool connected)> on_state;
};

/// A move-only callback of a reply: an awaiting coroutine's completion handler, or a lambda.
/// (Boost 1.81's asio::any_completion_handler recurses without end when moved into itself.)
class Done {
 public:
  Done() = default;
  template <typename F>
  Done(F f) : impl_(std::make_unique<Impl<F>>(std::move(f))) {}  // NOLINT: implicit by design
  explicit operator bool() const { return impl_ != nullptr; }
  void operator()(Reply reply) && {
    auto impl = std::move(impl_);
    impl->call(std::move(reply));
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call(Reply reply) = 0;
  };
  template <typename F>
  struct Impl final : Base {
    explicit Impl(F f) : f(std::move(f)) {}
    void call(Reply reply) override { std::move(f)(std::move(reply)); }
    F f;
  };
  std::unique_ptr<Base> impl_;
};

/// `args` as one command in Redis's protocol (RESP): "*<n>\r\n" then each argument.
std::string formatCommand(const std::vector<std::string>& args);
/// Appends one argument ("$<size>\r\n<arg>\r\n") to a command being formatted.
void appendCommandArg(std::string& out, std::string_view arg);

class Client : public std::enable_shared_from_this<Client> {
 public:
  static std::shared_ptr<Client> create(boost::asio::io_context& io, RedisEndpoint endpoint,
                                        ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Starts connecting (and reconnecting whenever the connection breaks). The worker's thread.
  void start();
  /// Closes the connection for good; commands still waiting complete with no reply.
  void stop();
  bool connected() const { return connected_; }

  /// Sends `args` as one command; `done` gets the reply (posted, never called inline).
  void send(std::vector<std::string> args, Done done);
  /// Sends a command already in the protocol's form (formatCommand, appendCommandArg), copied
  /// before this returns: for commands built once and sent many times.
  void sendFormatted(std::string_view command, Done done);
  /// Writes the commands sent so far to the socket now (as much as it takes without blocking)
  /// instead of when the worker's loop next runs: what must reach Redis before something else
  /// this worker is about to write elsewhere (a settle before the answer's last bytes).
  void flush();
  /// The same, awaited (`command` must last until the await starts).
  proxy::Task<Reply> command(std::vector<std::string> args);
  proxy::Task<Reply> commandFormatted(std::string_view command);

  /// Connections made and lost since start (for metrics and tests).
  std::uint64_t connects() const { return connects_; }

 private:
  struct Pending;
  Client(boost::asio::io_context& io, RedisEndpoint endpoint, ClientOptions options);

  void resolve();
  void dial(const std::string& ip, std::uint16_t port);
  void down();
  void retryLater();
  void setConnected(bool up);
  /// Waits for the socket to be readable (or writable) while hiredis wants it to be.
  void arm(bool write);
  void finish(const std::shared_ptr<Pending>& p, Reply reply);

  static void onConnect(const redisAsyncContext* ac, int status);
  static void onDisconnect(const redisAsyncContext* ac, int status);
  static void onReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void evAddRead(void* self);
  static void evDelRead(void* self);
  static void evAddWrite(void* self);
  static void evDelWrite(void* self);
  static void evCleanup(void* self);

  boost::asio::io_context& io_;
  RedisEndpoint endpoint_;
  ClientOptions options_;
  redisAsyncContext* ac_ = nullptr;
  std::optional<boost::asio::posix::stream_descriptor> socket_;
  std::uint64_t generation_ = 0;  // of the connection the socket waits belong to
  bool want_read_ = false, want_write_ = false;
  bool read_armed_ = false, write_armed_ = false;
  bool connected_ = false;
  bool stopped_ = true;
  std::chrono::milliseconds backoff_{0};
  std::unique_ptr<proxy::Timer> retry_timer_;
  std::unique_ptr<proxy::Timer> connect_timer_;
  std::uint64_t connects_ = 0;
};

using ClientSharedPtr = std::shared_ptr<Client>;

}  // namespace fwd::dataplane::redis
