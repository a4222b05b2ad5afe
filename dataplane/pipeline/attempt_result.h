// What one attempt at one upstream came to: the attempt loop (attempt.h) decides from it whether
// to answer, retry or fail over; outlier detection and metrics read it too.
#pragma once

#include <chrono>
#include <string>

#include "dataplane/config/compiled_config.h"

namespace fwd::dataplane::pipeline {

/// Why an attempt failed, as retry_on conditions see it.
enum class Failure {
  kNone,
  kConnect,  // DNS, TCP connect or TLS handshake failed: nothing reached the upstream
  kTimeout,  // a connect, first-byte, idle or total deadline passed
  kReset,    // the connection broke before a response head (counts as 5xx, as in Envoy)
  k5xx,
  k429,        // only when the route retries on 429; otherwise a 429 is the answer
  kMidStream,  // the response broke after its head went to the client
};

struct Attempt {
  double head_seconds = -1;  // time to the upstream's response head, when one arrived
  bool responded = false;    // a response head reached the client; the request is over
  bool client_alive = true;  // the client connection may serve another request
  bool stale = false;        // a reused pooled connection was dead before any response byte
  bool reached = false;      // the request was sent: a retry adds load to an upstream
  bool reusable = false;     // the upstream connection may go back to the pool
  Failure failure = Failure::kNone;
  int status = 0;       // status relayed (or the upstream's 5xx)
  std::string outcome;  // metrics label: ok, connect, tls, dns, reset, *_timeout, http_5xx ...
  std::string detail;   // human-readable, for the 502/504 message
};

/// What an attempt may take and how it treats a 429.
struct AttemptPlan {
  const config::AttemptTimeouts* timeouts = nullptr;  // never null
  bool fail_on_429 = false;  // a 429 is a failure to retry elsewhere, not the answer
};

}  // namespace fwd::dataplane::pipeline
