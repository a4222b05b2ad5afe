// The client side of a connection: its socket (and TLS layer), the deadline of the operation in
// progress, the buffers reused by every request on it, and the operations that write to it. A
// relayed piece of a response costs one sendmsg: the socket is non-blocking and bytes go straight
// to the kernel; only what it does not take now waits for the socket to drain.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/error_code.hpp>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "dataplane/config/compiled_config.h"
#include "dataplane/pipeline/request_context.h"
#include "dataplane/proxy/watchdog.h"

namespace fwd::dataplane::pipeline {

// An upstream response is read into one buffer per client connection, head and body: a response
// that arrives at once (a JSON answer, a burst of events) is read with one recv and relayed with
// one send.
inline constexpr size_t kRelayBufferBytes = 16 * 1024;

// What an upstream response is read into: its head, then its body piece by piece. Allocated on
// the first response and reused for every later one on the client connection: out of the
// coroutine frame, whose 16 KiB would otherwise be allocated and freed again for every attempt
// (asio recycles only frames below ~1 KiB). Not zeroed: pages are touched only as far as data is
// read into them. Only a response head longer than kRelayBufferBytes (heads may have up to
// 64 KiB) makes it grow, and it then stays that size for the connection.
class RelayBuffer {
 public:
  char* data() { return data_.get(); }
  size_t size() const { return size_; }

  /// Allocates kRelayBufferBytes on first use.
  void ensure() {
    if (!data_) {
      data_ = std::make_unique_for_overwrite<char[]>(kRelayBufferBytes);
      size_ = kRelayBufferBytes;
    }
  }
  /// Doubles the capacity, at most to `limit` (and never below the current size), keeping the
  /// first `keep` bytes.
  void grow(size_t keep, size_t limit) {
    size_t bigger = std::max(size_, std::min(size_ * 2, limit));
    auto next = std::make_unique_for_overwrite<char[]>(bigger);
    std::memcpy(next.get(), data_.get(), keep);
    data_ = std::move(next);
    size_ = bigger;
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

struct ClientConn {
  explicit ClientConn(Socket s) : socket(std::move(s)) {}

  Socket socket;
  proxy::Deadline deadline;
  std::string response_head;  // reused for every response on this connection
  RelayBuffer relay;          // reused for every response on this connection
  std::string answer_tail;    // the end of each answer, for records (usage/answer_scan.h)
  config::KeyMemo key;        // the key this connection authenticated with last
  std::string address;        // the peer's IP address, as upstreams see it in X-Forwarded-For
  common::net::IpAddress ip;  // the same, for IP rules
  // TLS over `socket` when the listener has a certificate; every read and write of the
  // connection then goes through it.
  std::unique_ptr<proxy::ClientTlsStream> tls;
};

/// The operation ended because its deadline passed (the watchdog cancelled it).
inline bool timedOut(const boost::system::error_code& ec, const proxy::Deadline& d) {
  return ec == boost::asio::error::operation_aborted && d.expired();
}

// Operations on the client's byte stream, its TLS layer when it has one: plain functions that
// pick the stream and return the operation's awaitable (a co_await in each arm of a conditional
// is what GCC 12's coroutines get wrong).
template <typename Message>
auto writeMessage(ClientConn& client, Message& message) {
  namespace http = boost::beast::http;
  return client.tls ? http::async_write(*client.tls, message, proxy::kUseTuple)
                    : http::async_write(client.socket, message, proxy::kUseTuple);
}

inline auto readRequestHead(ClientConn& client, boost::beast::flat_buffer& buffer,
                            ClientRequestParser& parser) {
  namespace http = boost::beast::http;
  return client.tls ? http::async_read_header(*client.tls, buffer, parser, proxy::kUseTuple)
                    : http::async_read_header(client.socket, buffer, parser, proxy::kUseTuple);
}

inline auto readRequestBody(ClientConn& client, boost::beast::flat_buffer& buffer,
                            ClientRequestParser& parser) {
  namespace http = boost::beast::http;
  return client.tls ? http::async_read(*client.tls, buffer, parser, proxy::kUseTuple)
                    : http::async_read(client.socket, buffer, parser, proxy::kUseTuple);
}

/// Hands `bufs` to the kernel at once (the socket is non-blocking) and returns how many bytes it
/// took. A full socket buffer is not an error: ec stays clear and sendRest writes the rest.
template <typename Buffers>
size_t sendNow(Socket& socket, const Buffers& bufs, boost::system::error_code& ec) {
  size_t n = socket.write_some(bufs, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
    ec = {};
  }
  return n;
}

/// Writes what sendNow did not send of `bufs` (its first `sent` bytes are gone), waiting for the
/// socket to drain.
template <typename Stream, typename Buffers>
Task<boost::system::error_code> sendRest(Stream& stream, const Buffers& bufs, size_t sent) {
  boost::beast::buffers_suffix<Buffers> rest(bufs);
  rest.consume(sent);
  auto [ec, n] = co_await boost::asio::async_write(stream, rest, proxy::kUseTuple);
  co_return ec;
}

/// One gathered write to the client: the head (if not sent yet), then `data` (as one chunk if
/// `wrap_chunk`, else as it is), then the last chunk if `end_chunked`. startClientWrite hands the
/// bytes straight to the kernel; finishClientWrite writes what it did not take, under the write
/// timeout. A relayed event costs one sendmsg, not an operation queued, completed and resumed.
/// Not movable once started: the buffers point into it.
struct ClientWrite {
  char size_line[24];
  std::array<boost::asio::const_buffer, 5> bufs;
  size_t n = 0;
  size_t written = 0;
  boost::system::error_code ec;
};

/// True when the write is over: all sent, or failed (cw.ec).
bool startClientWrite(ClientConn& client, ClientWrite& cw, std::string_view head,
                      std::string_view data, bool wrap_chunk, bool end_chunked);
Task<boost::system::error_code> finishClientWrite(WorkerContext& w, ClientConn& client,
                                                  ClientWrite& cw);
/// Both, for writes that are not on the relay's fast path.
Task<boost::system::error_code> writeToClient(WorkerContext& w, ClientConn& client,
                                              std::string_view head, std::string_view data,
                                              bool wrap_chunk, bool end_chunked);

/// Writes a complete JSON response fwd produced itself; false when the client is gone.
/// `retry_after_seconds` > 0 adds Retry-After; `real_status` > 0 adds x-fwd-status (an error
/// answered with another status); `fields` ("name: value\r\n" each) are added as they are.
Task<bool> writeJson(WorkerContext& w, ClientConn& client, int status, const std::string& body,
                     bool keep_alive, int retry_after_seconds = 0, int real_status = 0,
                     std::string_view fields = {});

}  // namespace fwd::dataplane::pipeline
