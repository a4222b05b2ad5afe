// The upstream side of an exchange, shared by the attempt (exchange.cc) and a provider's
// follow-ups (follow_up.cc): dialing a destination (resolve, connect, TLS handshake), writing a
// request, reading a response head.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <chrono>
#include <limits>
#include <memory>
#include <string_view>

#include "dataplane/pipeline/attempt_result.h"
#include "dataplane/pipeline/relay.h"
#include "dataplane/pipeline/request_context.h"
#include "dataplane/proxy/upstream_head.h"
#include "dataplane/proxy/upstream_pool.h"

namespace fwd::dataplane::pipeline {

/// Where a connection goes: an upstream's base URL, or a URL one of its answers named.
struct Destination {
  std::string_view name;  // the upstream's, for messages
  std::string_view host;  // without brackets
  std::string_view port;
  std::string_view host_header;
  bool tls = false;
  bool insecure_skip_verify = false;
};

inline Destination destinationOf(const config::UpstreamTarget& t) {
  return Destination{t.name, t.host, t.port, t.host_header, t.tls, t.insecure_skip_verify};
}

/// Sets up a parser of an upstream answer's head for `ctx`: the header limit, no body limit (the
/// relay counts the body), and fwd's own x-ratelimit-* fields in place of the upstream's when
/// the request has them.
inline void prepareHeadParser(const RequestContext& ctx, proxy::UpstreamHeadParser& parser) {
  if (!ctx.response_fields.empty()) {
    parser.dropRateLimitFields();
  }
  parser.header_limit(static_cast<std::uint32_t>(ctx.w.options.max_header_bytes));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

/// Waits until `at` on the worker (a backoff, a poll interval).
Task<void> sleepUntil(Clock::time_point at);

/// Opens a new connection to `d` (resolve, connect, TLS handshake) bounded by the connect
/// timeout and the attempt deadline; on failure returns null with `out` saying why.
Task<std::unique_ptr<proxy::UpstreamConn>> connectUpstream(
    WorkerContext& w, const Destination& d, std::chrono::milliseconds connect_timeout,
    Clock::time_point deadline, Attempt& out);

/// Reads an upstream response head into buf (growing it only for a head that does not fit, up
/// to the header limit). Fails as Beast's http::async_read_header would: end_of_stream
/// when the upstream closed before sending anything, partial_message when it closed mid-head,
/// header_limit for a head over the limit.
template <typename Stream>
Task<HeadRead> readHead(Stream& upstream, proxy::UpstreamHeadParser& parser, RelayBuffer& buf,
                        size_t header_limit);

/// Writes the request upstream. On a plain connection the bytes go straight to the kernel
/// (connectUpstream made the socket non-blocking): a request that fits the socket buffer, i.e.
/// nearly all of them, costs one sendmsg and no operation queued, completed and resumed. What the
/// kernel does not take now, and everything on TLS, goes through an asynchronous write under the
/// connection's deadline.
template <typename Stream>
Task<boost::system::error_code> sendRequest(Stream& upstream,
                                            const std::array<boost::asio::const_buffer, 2>& bufs);

}  // namespace fwd::dataplane::pipeline
