// Per-worker socket deadlines without per-operation timers. Arming a deadline is a clock read
// and a store; one steady_timer per worker sweeps every `tick` and cancels the pending operations
// of every socket whose deadline passed (again on each tick until it is disarmed). Precision is
// one tick, which is plenty for timeouts of seconds. Beast's tcp_stream instead arms and cancels
// a timer around every read and write, which costs timer-queue work and timerfd_settime syscalls
// on the hot path. Owned by one worker thread; no lock.
//
// The sweep also tells how late it ran: its timer is due every `tick`, so the time past due is
// how long the worker's thread was busy with other work, blocked, or without a CPU — what every
// request on that worker waited on top of its own work (Envoy's dispatcher poll delay).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <unordered_set>

#include "dataplane/proxy/worker_io.h"

namespace fwd::dataplane::proxy {

class Watchdog;

/// A socket's deadline. Register it once per connection (bind), then arm it around operations.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  Deadline() = default;
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  /// Starts watching `socket` (which must outlive this object or a later bind()).
  void bind(Watchdog& watchdog, Socket& socket);

  void after(Clock::duration d) { at(Clock::now() + d); }
  void at(Clock::time_point t) {
    at_ = t;
    expired_ = false;
  }
  void disarm() { at_ = Clock::time_point::max(); }
  /// True once the sweep found this deadline passed (and cancelled the socket's operations):
  /// an operation_aborted error then means "timed out".
  bool expired() const { return expired_; }

 private:
  friend class Watchdog;
  Watchdog* watchdog_ = nullptr;
  Socket* socket_ = nullptr;
  Clock::time_point at_ = Clock::time_point::max();
  bool expired_ = false;
};

class Watchdog {
 public:
  Watchdog(boost::asio::io_context& ioc, std::chrono::milliseconds tick)
      : timer_(ioc), tick_(tick) {}

  /// Schedules the first sweep; call before the io_context runs or on its thread.
  void start();
  /// Also runs `fn` on every sweep (after the deadlines), on the worker's thread, with the
  /// time and how late the sweep ran past its due time. Set before start().
  using TickFn =
      std::function<void(Deadline::Clock::time_point now, Deadline::Clock::duration late)>;
  void onTick(TickFn fn) { on_tick_ = std::move(fn); }
  void stop();
  size_t watched() const { return deadlines_.size(); }
  std::chrono::milliseconds tick() const { return tick_; }

 private:
  friend class Deadline;
  void sweep(Deadline::Clock::time_point now, Deadline::Clock::duration late);

  Timer timer_;
  std::chrono::milliseconds tick_;
  std::unordered_set<Deadline*> deadlines_;
  TickFn on_tick_;
  bool stopped_ = false;
};

}  // namespace fwd::dataplane::proxy
