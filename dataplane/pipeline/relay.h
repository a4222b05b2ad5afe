// The relay phase: an upstream response whose head fwd accepted goes to the client as it arrives.
// A chunked body keeps the upstream's own framing (ChunkedScanner checks it and finds the payload
// and the end without decoding), a sized body is counted down, and a body that ends when the
// connection closes is framed in chunks here. Each read is one client write, so an event reaches
// the client as soon as fwd has it, and the next read waits for that write (backpressure).
// Also reads the bounded body of an upstream error that fwd answers for itself.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>

#include "dataplane/pipeline/attempt_result.h"
#include "dataplane/pipeline/client_conn.h"
#include "dataplane/pipeline/client_watch.h"
#include "dataplane/pipeline/request_context.h"
#include "dataplane/proxy/upstream_head.h"
#include "dataplane/proxy/upstream_pool.h"

namespace fwd::dataplane::pipeline {

/// Where the head of an upstream response ended in the relay buffer, and how much was read.
struct HeadRead {
  boost::system::error_code ec;
  size_t head_bytes = 0;  // buf[0, head_bytes) is the head
  size_t read = 0;        // buf[head_bytes, read) are body bytes that came with it
};

/// The body of an upstream error that fwd answers for (a 5xx, or a 429 it retries), decoded, at
/// most 8 KiB: only its message is wanted.
template <typename Stream>
Task<std::string> readErrorBody(Stream& upstream, const proxy::UpstreamHeadParser& parser,
                                RelayBuffer& buf, const HeadRead& head);

/// An answer body fwd reads whole (a provider's follow-up, provider.h): decoded, at most `limit`.
struct BodyRead {
  std::string body;
  bool complete = false;  // the whole body arrived, within the limit
  bool exact = false;     // ... and nothing came after it (the connection may be reused)
};
template <typename Stream>
Task<BodyRead> readBody(Stream& upstream, const proxy::UpstreamHeadParser& parser, RelayBuffer& buf,
                        const HeadRead& head, size_t limit);

/// An answer fwd holds whole, read by the relay as if from an upstream's socket (a provider's
/// final answer that fwd had to read to know it was final).
class ReplayStream {
 public:
  explicit ReplayStream(std::string_view bytes) : rest_(bytes) {}
  template <typename Token>
  Task<std::tuple<boost::system::error_code, size_t>> async_read_some(
      boost::asio::mutable_buffer into, Token) {
    if (rest_.empty()) {
      co_return std::tuple{boost::system::error_code(boost::asio::error::eof), size_t{0}};
    }
    size_t n = std::min(into.size(), rest_.size());
    std::memcpy(into.data(), rest_.data(), n);
    rest_.remove_prefix(n);
    co_return std::tuple{boost::system::error_code(), n};
  }

 private:
  std::string_view rest_;
};

/// Relays the response whose head `parser` holds (the client's from now on: no other upstream
/// will be tried) and returns the attempt as `started`, completed: relayed, cut mid-stream, or
/// abandoned by the client. `deadline` is the attempt's total limit.
template <typename Stream>
Task<Attempt> relayResponse(RequestContext& ctx, Stream& upstream, proxy::UpstreamConn& conn,
                            proxy::UpstreamHeadParser& parser, const HeadRead& head,
                            const config::UpstreamTarget& t, const AttemptPlan& plan,
                            Clock::time_point deadline, const ClientWatch& watch,
                            const Attempt& started);

/// The attempt ended because the client hung up (ClientWatch cancelled the upstream socket).
Attempt clientGone(Attempt out);

}  // namespace fwd::dataplane::pipeline
