// One-shot "GET a URL from an upstream within a deadline": resolve, connect, TLS (verified or
// not), send one GET, read the status and a capped body, close. For work off the request path —
// the model list fetcher today, active health checks next — never for client traffic (no pool,
// a fresh connection per call). The only translation unit of the data plane besides the proxy
// that compiles Beast.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "dataplane/config/compiled_config.h"

namespace fwd::dataplane::probe {

/// The two TLS client setups a probe needs: one verifying the peer against the system CA store
/// (host name checked per call), one verifying nothing (`insecure_skip_verify` upstreams).
/// Configure once, then share between any number of concurrent calls on any threads.
class TlsClientContexts {
 public:
  TlsClientContexts();
  boost::asio::ssl::context& verify() { return verify_; }
  boost::asio::ssl::context& insecure() { return insecure_; }

 private:
  boost::asio::ssl::context verify_;
  boost::asio::ssl::context insecure_;
};

struct HttpGetRequest {
  bool tls = false;
  bool insecure_skip_verify = false;
  std::string host;         // resolved, and the TLS SNI / certificate name (no brackets)
  std::string port;         // decimal
  std::string host_header;  // the Host field
  std::string target;       // origin-form, e.g. "/v1/models?x=1"; no CR/LF
  std::string credential_field = "Authorization";
  std::string credential;  // sent as `credential_field` when not empty
  /// Bounds the whole call: connect, TLS handshake, send, response head and body. Name
  /// resolution runs on Asio's resolver thread and cannot be interrupted: a resolver slower than
  /// the deadline is reported as kTimeout once it returns (its own limits are in resolv.conf).
  std::chrono::milliseconds timeout{10'000};
  /// Body bytes kept; the rest of a longer body is not read (HttpGetResult::truncated).
  std::size_t max_body_bytes = 1u << 20;
};

/// GET `<base_url><path>` of an upstream, with its Host header and credential. `path` starts
/// with '/' ("/models" -> "https://host/v1/models" for base URL "https://host/v1").
HttpGetRequest upstreamGet(const config::UpstreamTarget& upstream, std::string_view path,
                           std::chrono::milliseconds timeout);

/// Why a call produced no complete response.
enum class HttpGetError {
  kNone,       // a response arrived: see status, body, truncated
  kTimeout,    // the deadline passed (status is set if the head had arrived)
  kResolve,    // the host name did not resolve
  kConnect,    // TCP connect refused or failed
  kTls,        // the TLS handshake failed (certificate, protocol)
  kIo,         // the connection failed while sending or reading
  kMalformed,  // the peer did not answer with valid HTTP/1.x
};
std::string_view toString(HttpGetError error);

struct HttpGetResult {
  HttpGetError error = HttpGetError::kNone;
  int status = 0;  // the response status once a head arrived, else 0
  std::string body;
  bool truncated = false;  // the body was longer than max_body_bytes; `body` holds the start
  std::string detail;      // why, for logs, when error != kNone
  std::chrono::steady_clock::duration elapsed{};

  /// A complete response (body possibly truncated) with a 2xx status.
  bool ok() const { return error == HttpGetError::kNone && status >= 200 && status < 300; }
};

/// Performs one GET on the calling coroutine's executor (an io_context of the caller's: never
/// a worker's, it costs a connection and a handshake). Never throws for network errors; every
/// failure is in the result. `request` and `tls` must outlive the call.
boost::asio::awaitable<HttpGetResult> httpGet(const HttpGetRequest& request,
                                              TlsClientContexts& tls);

}  // namespace fwd::dataplane::probe
