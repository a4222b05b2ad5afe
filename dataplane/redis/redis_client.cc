#include "dataplane/redis/redis_client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>
#include <charconv>

#include "common/log/log.h"

namespace fwd::dataplane::redis {
namespace {

namespace asio = boost::asio;
constexpr char kLog[] = "redis";

Reply noReply(std::string why) {
  Reply r;
  r.text = std::move(why);
  return r;
}

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      return out;
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) {
        out.elements.push_back(convert(r->element[i]));
      }
      return out;
    default:
      out.type = Reply::Type::kNil;
      return out;
  }
  out.text.assign(r->str, r->len);
  return out;
}

}  // namespace

struct Client::Pending {
  Done done;
  std::unique_ptr<proxy::Timer> timer;
  bool finished = false;
};

std::shared_ptr<Client> Client::create(asio::io_context& io, RedisEndpoint endpoint,
                                       ClientOptions options) {
  return std::shared_ptr<Client>(new Client(io, std::move(endpoint), options));
}

Client::Client(asio::io_context& io, RedisEndpoint endpoint, ClientOptions options)
    : io_(io),
      endpoint_(std::move(endpoint)),
      options_(options),
      retry_timer_(std::make_unique<proxy::Timer>(io.get_executor())),
      connect_timer_(std::make_unique<proxy::Timer>(io.get_executor())) {}

Client::~Client() { stop(); }

void Client::start() {
  stopped_ = false;
  resolve();
}

void Client::stop() {
  stopped_ = true;
  retry_timer_->cancel();
  connect_timer_->cancel();
  setConnected(false);
  if (ac_ != nullptr) {
    redisAsyncContext* ac = ac_;
    ac_ = nullptr;
    ac->onDisconnect = nullptr;
    redisAsyncFree(ac);  // pending commands complete with no reply
  }
}

void Client::resolve() {
  if (stopped_) {
    return;
  }
  auto resolver = std::make_shared<proxy::Resolver>(io_.get_executor());
  resolver->async_resolve(
      endpoint_.host, endpoint_.port,
      [weak = weak_from_this(), resolver](const boost::system::error_code& ec,
                                          const proxy::Resolver::results_type& results) {
        auto self = weak.lock();
        if (!self || self->stopped_) {
          return;
        }
        if (ec || results.empty()) {
          FWD_LOG(kWarn, kLog) << "cannot resolve " << self->endpoint_.host << ": "
                               << (ec ? ec.message() : "no address");
          self->retryLater();
          return;
        }
        auto address = results.begin()->endpoint();
        self->dial(address.address().to_string(), address.port());
      });
}

void Client::dial(const std::string& ip, std::uint16_t port) {
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), port);
  if (ac == nullptr || ac->err != 0) {
    FWD_LOG(kWarn, kLog) << "cannot connect to " << endpoint_.host << ":" << endpoint_.port << ": "
                         << (ac != nullptr ? ac->errstr : "out of memory");
    if (ac != nullptr) {
      redisAsyncFree(ac);
    }
    retryLater();
    return;
  }
  ac_ = ac;
  ++generation_;
  read_armed_ = write_armed_ = want_read_ = want_write_ = false;
  ac->data = this;
  socket_.emplace(io_, ac->c.fd);
  ac->ev.data = this;
  ac->ev.addRead = &Client::evAddRead;
  ac->ev.delRead = &Client::evDelRead;
  ac->ev.addWrite = &Client::evAddWrite;
  ac->ev.delWrite = &Client::evDelWrite;
  ac->ev.cleanup = &Client::evCleanup;
  redisAsyncSetDisconnectCallback(ac, &Client::onDisconnect);
  redisAsyncSetConnectCallback(ac, &Client::onConnect);  // waits for the socket to be writable
  connect_timer_->expires_after(options_.connect_timeout);
  connect_timer_->async_wait(
      [weak = weak_from_this(), generation = generation_](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->generation_ != generation || self->connected_ ||
            self->ac_ == nullptr) {
          return;
        }
        FWD_LOG(kWarn, kLog) << "connecting to " << self->endpoint_.host << ":"
                             << self->endpoint_.port << " timed out";
        redisAsyncContext* stale = self->ac_;
        self->ac_ = nullptr;
        redisAsyncFree(stale);
        self->retryLater();
      });
}

void Client::onConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Client*>(ac->data);
  if (self == nullptr) {
    return;
  }
  self->connect_timer_->cancel();
  if (status != REDIS_OK) {
    FWD_LOG(kWarn, kLog) << "cannot connect to " << self->endpoint_.host << ":"
                         << self->endpoint_.port << ": " << ac->errstr;
    self->ac_ = nullptr;  // hiredis frees it after this callback
    self->retryLater();
    return;
  }
  self->setConnected(true);
  self->backoff_ = std::chrono::milliseconds(0);
  ++self->connects_;
  FWD_LOG(kInfo, kLog) << "connected to " << self->endpoint_.host << ":" << self->endpoint_.port;
  // Sent first on the connection, so every later command runs authenticated, on the database.
  auto check = [weak = self->weak_from_this()](const char* what) {
    return [weak, what](Reply r) {
      auto self = weak.lock();
      if (self && r.type == Reply::Type::kError) {
        FWD_LOG(kError, kLog) << what << " refused: " << r.text;
        self->down();
      }
    };
  };
  if (!self->endpoint_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!self->endpoint_.user.empty()) {
      auth.push_back(self->endpoint_.user);
    }
    auth.push_back(self->endpoint_.password);
    self->send(std::move(auth), check("AUTH"));
  }
  if (self->endpoint_.db != 0) {
    self->send({"SELECT", std::to_string(self->endpoint_.db)}, check("SELECT"));
  }
}

void Client::onDisconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Client*>(ac->data);
  if (self == nullptr) {
    return;
  }
  self->ac_ = nullptr;  // hiredis frees it after this callback
  self->setConnected(false);
  if (!self->stopped_) {
    FWD_LOG(kWarn, kLog) << "connection to " << self->endpoint_.host << ":" << self->endpoint_.port
                         << " lost"
                         << (status != REDIS_OK && ac->errstr[0] != '\0'
                                 ? std::string(": ") + ac->errstr
                                 : std::string());
    self->retryLater();
  }
}

void Client::down() {
  setConnected(false);
  if (ac_ != nullptr) {
    redisAsyncDisconnect(ac_);  // onDisconnect follows, then a reconnect
  }
}

void Client::setConnected(bool up) {
  if (up != connected_) {
    connected_ = up;
    if (options_.on_state) {
      options_.on_state(up);
    }
  }
}

void Client::retryLater() {
  setConnected(false);
  if (stopped_) {
    return;
  }
  backoff_ =
      backoff_.count() == 0 ? options_.backoff_min : std::min(backoff_ * 2, options_.backoff_max);
  retry_timer_->expires_after(backoff_);
  retry_timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) {
      self->resolve();
    }
  });
}

void appendCommandArg(std::string& out, std::string_view arg) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, arg.size()).ptr;
  out += '$';
  out.append(digits, end);
  out += "\r\n";
  out += arg;
  out += "\r\n";
}

std::string formatCommand(const std::vector<std::string>& args) {
  std::string out = "*";
  out += std::to_string(args.size());
  out += "\r\n";
  for (const std::string& a : args) {
    appendCommandArg(out, a);
  }
  return out;
}

void Client::send(std::vector<std::string> args, Done done) {
  sendFormatted(formatCommand(args), std::move(done));
}

void Client::sendFormatted(std::string_view command, Done done) {
  auto p = std::make_shared<Pending>();
  p->done = std::move(done);
  if (!connected_ || ac_ == nullptr) {
    finish(p, noReply("redis is not connected"));
    return;
  }
  auto* holder = new std::shared_ptr<Pending>(p);
  if (redisAsyncFormattedCommand(ac_, &Client::onReply, holder, command.data(), command.size()) !=
      REDIS_OK) {
    delete holder;
    finish(p, noReply("redis refused the command: the connection is closing"));
    return;
  }
  p->timer = std::make_unique<proxy::Timer>(io_.get_executor());
  p->timer->expires_after(options_.command_timeout);
  p->timer->async_wait([weak = weak_from_this(), p](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!ec && self) {
      Reply late = noReply("redis did not answer in time");
      late.timed_out = true;
      self->finish(p, std::move(late));
    }
  });
}

void Client::flush() {
  if (connected_ && ac_ != nullptr && want_write_) {
    redisAsyncHandleWrite(ac_);
  }
}

proxy::Task<Reply> Client::command(std::vector<std::string> args) {
  std::string command = formatCommand(args);
  co_return co_await commandFormatted(command);
}

proxy::Task<Reply> Client::commandFormatted(std::string_view command) {
  // The initiation (run at once) hands `command` to hiredis, which copies it. (GCC 12 destroys
  // a lambda capture moved from a coroutine parameter twice: captured by reference.)
  auto self = shared_from_this();
  auto initiate = [&self, &command](auto handler) {
    self->sendFormatted(command, Done(std::move(handler)));
  };
  Reply reply = co_await asio::async_initiate<decltype(proxy::kUseTask), void(Reply)>(
      initiate, proxy::kUseTask);
  co_return reply;
}

void Client::finish(const std::shared_ptr<Pending>& p, Reply reply) {
  if (p->finished) {
    return;
  }
  p->finished = true;
  if (p->timer) {
    p->timer->cancel();
  }
  asio::post(io_, [done = std::move(p->done), reply = std::move(reply)]() mutable {
    if (done) {
      std::move(done)(std::move(reply));
    }
  });
}

void Client::onReply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* holder = static_cast<std::shared_ptr<Pending>*>(privdata);
  std::shared_ptr<Pending> p = std::move(*holder);
  delete holder;
  auto* self = static_cast<Client*>(ac->data);
  if (self == nullptr) {
    return;
  }
  self->finish(p, reply != nullptr ? convert(static_cast<redisReply*>(reply))
                                   : noReply("the connection to redis closed"));
}

void Client::arm(bool write) {
  bool& armed = write ? write_armed_ : read_armed_;
  if (armed || !socket_) {
    return;
  }
  armed = true;
  socket_->async_wait(write ? asio::posix::stream_descriptor::wait_write
                            : asio::posix::stream_descriptor::wait_read,
                      [weak = weak_from_this(), generation = generation_,
                       write](const boost::system::error_code& ec) {
                        auto self = weak.lock();
                        if (!self || self->generation_ != generation) {
                          return;  // a wait of a connection that is gone
                        }
                        (write ? self->write_armed_ : self->read_armed_) = false;
                        const bool& wanted = write ? self->want_write_ : self->want_read_;
                        if (ec || self->ac_ == nullptr || !wanted) {
                          return;
                        }
                        if (write) {
                          redisAsyncHandleWrite(self->ac_);
                        } else {
                          redisAsyncHandleRead(self->ac_);
                        }
                        if (self->ac_ != nullptr && wanted && self->generation_ == generation) {
                          self->arm(write);
                        }
                      });
}

void Client::evAddRead(void* data) {
  auto* self = static_cast<Client*>(data);
  self->want_read_ = true;
  self->arm(false);
}

void Client::evDelRead(void* data) { static_cast<Client*>(data)->want_read_ = false; }

void Client::evAddWrite(void* data) {
  auto* self = static_cast<Client*>(data);
  self->want_write_ = true;
  self->arm(true);
}

void Client::evDelWrite(void* data) { static_cast<Client*>(data)->want_write_ = false; }

void Client::evCleanup(void* data) {
  auto* self = static_cast<Client*>(data);
  self->want_read_ = self->want_write_ = false;
  if (self->socket_) {
    boost::system::error_code ignored;
    self->socket_->cancel(ignored);
    self->socket_->release();  // hiredis closes the descriptor
    self->socket_.reset();
  }
  ++self->generation_;  // waits still queued belong to the connection that is gone
}

}  // namespace fwd::dataplane::redis
