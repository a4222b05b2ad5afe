// Watches the client socket while an upstream attempt is in progress, so a client that hangs up
// cancels the upstream request at once (a long completion stops being generated) instead of when
// the answer arrives. Armed only once an attempt has lasted a watchdog tick: arming costs an
// epoll_ctl, which fast requests should not pay, and asio's re-arm re-evaluates readiness, so a
// hang-up before the arming is still seen. Worker thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "dataplane/proxy/worker_context.h"
#include "dataplane/proxy/worker_io.h"

namespace fwd::dataplane::pipeline {

// Shared with the wait handler, which may run after the attempt ended.
struct ClientWatch {
  proxy::Socket* client = nullptr;
  proxy::Socket* upstream = nullptr;  // cancelled when the client is gone
  std::chrono::steady_clock::time_point since;
  size_t slot = 0;  // index in WorkerContext::unarmed_watches while not armed
  bool active = true;
  bool armed = false;
  bool gone = false;
};

/// Watches `client` for as long as it lives (one attempt): queued for arming by the watchdog's
/// sweep, and on destruction either leaves the queue or cancels the armed wait.
class WatchedAttempt {
 public:
  WatchedAttempt(proxy::WorkerContext& w, proxy::Socket& client);
  ~WatchedAttempt();
  WatchedAttempt(const WatchedAttempt&) = delete;
  WatchedAttempt& operator=(const WatchedAttempt&) = delete;

  ClientWatch& watch() { return *watch_; }

 private:
  proxy::WorkerContext& w_;
  std::shared_ptr<ClientWatch> watch_;
};

/// Worker thread, from the watchdog's sweep: starts watching the client connections of attempts
/// that have been waiting on their upstream since before `now` minus one tick.
void armDueClientWatches(proxy::WorkerContext& w, std::chrono::steady_clock::time_point now);

}  // namespace fwd::dataplane::pipeline
