// The fake LLM upstream's HTTP server: OpenAI endpoints with fault injection, built for speed
// because it is also the upstream of the benchmarks. One io_context per thread, one acceptor
// handing sockets round-robin to the threads, one coroutine per connection, requests parsed
// without allocating (only the headers the fake acts on are kept), responses serialised by hand
// into per-connection buffers. Request counters are relaxed atomics; nothing on the request path
// takes a lock, except GET .../models, whose list can change at run time (POST /_fake/models).
// See fake_upstream_main.cc for the endpoints and fault headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/fakes/fake_azure.h"
#include "tests/fakes/fake_dashscope.h"
#include "tests/fakes/fake_replicate.h"

namespace fwd::fakes {

struct FakeConfig {
  std::string name = "fake";
  int threads = 1;
  /// When non-zero, every request (except /_fake/*) is answered with this status.
  int fail_status = 0;
  /// Every request (except /_fake/*) waits this long before its response head, on top of any
  /// x-fake-stall-ms: an upstream that is simply slower than its peers.
  int stall_ms = 0;
  /// Both set: serve HTTPS.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::vector<std::string> models{"fake-model"};
  /// When non-zero, GET .../models answers this status (an OpenAI-shaped error).
  int models_status = 0;
  /// GET .../models waits this long before its response head.
  int models_stall_ms = 0;
  /// Speak Azure OpenAI's dialect (fake_azure.h) instead of OpenAI's.
  AzureConfig azure;
  /// Speak DashScope's native API (fake_dashscope.h) instead of OpenAI's.
  DashScopeConfig dashscope;
  /// Speak Replicate's predictions API (fake_replicate.h) instead of OpenAI's.
  ReplicateConfig replicate;
};

class FakeServer {
 public:
  explicit FakeServer(FakeConfig config);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  /// Binds and listens (port 0 picks a free port). Call once, before run().
  absl::Status listen(const std::string& host, std::uint16_t port);
  /// The bound address as "host:port" (IPv6 bracketed).
  std::string boundAddress() const;
  bool tls() const;

  /// Serves on the calling thread plus threads-1 more until stop() or SIGINT/SIGTERM.
  void run();
  /// Safe from any thread.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fwd::fakes
