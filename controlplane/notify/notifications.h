// The control plane's one sender of notifications for the fleet (issue 17). Events come from
// the records data planes send (a 5xx answer, every upstream failing, a spent budget) and from
// their reports (an upstream ejected); each goes to every notifier subscribed to it, on a thread
// of its own so no gRPC call waits on a chat server. Each notifier's messages then wait in a
// bounded outbox of its own, sent by a thread of its own: a receiver that is slow or gone (each
// try may take the send timeout) holds up its own messages only, never another notifier's or
// the counting of events.
//
// An outage sends a few messages, not thousands: per notifier, event and upstream, the first
// event is sent at once and opens a window (the notifier's, 5 minutes by default); the same
// events within it are counted and sent as one summary when it closes, which opens the next
// window while they keep coming. A message that fails is retried with backoff (1 s, 2 s, 4 s)
// then dropped and logged; the queue of events is bounded (dropped and logged past it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "controlplane/notify/deliver.h"
#include "controlplane/store/store.h"
#include "fwd/v1/records.pb.h"

namespace fwd::controlplane::notify {

class Notifications {
 public:
  /// How a message is sent: deliver() by default; tests count instead.
  using Send = std::function<absl::StatusOr<int>(const fwd::v1::Notifier&, const Message&,
                                                 const std::string& txn_id)>;
  struct Options {
    size_t max_queued = 10'000;
    // Messages waiting per notifier; past it a message is dropped, counted as failed and logged.
    size_t max_outbox = 100;
    std::chrono::milliseconds send_timeout{5000};
    std::vector<std::chrono::milliseconds> retry_backoff = {
        std::chrono::seconds(1), std::chrono::seconds(2), std::chrono::seconds(4)};
    // How often open windows are checked for a summary to send.
    std::chrono::milliseconds tick{200};
    Send send;  // empty: deliver()
  };

  Notifications(store::Store& store, Options options);
  ~Notifications();
  Notifications(const Notifications&) = delete;
  Notifications& operator=(const Notifications&) = delete;

  void start();
  /// Stops the thread; events still queued are dropped.
  void stop();

  /// The events in `records` (just stored): 5xx, all_upstreams_failed, budget_exceeded. Only
  /// those records are copied: a batch of answered requests costs a look at each status.
  void onRecords(const google::protobuf::RepeatedPtrField<fwd::v1::Record>& records);
  void onRecords(const std::vector<fwd::v1::Record>& records);
  /// A data plane's report shows `upstream` ejected (it was not before).
  void onUpstreamEjected(const std::string& node, const std::string& upstream);

  /// Messages sent (2xx) and given up on, for tests and logs.
  std::uint64_t sent() const;
  std::uint64_t failed() const;

 private:
  struct Event {
    Message message;
  };
  struct Window {
    std::chrono::steady_clock::time_point closes;
    std::uint64_t suppressed = 0;
    Message last;  // the last event counted in it (for the summary's fields)
  };
  using WindowKey = std::tuple<std::string, std::string, std::string>;  // notifier, event, upstream

  void push(Message m);
  void onRecord(const fwd::v1::Record& r);
  void run();
  void handle(const Message& m, const std::vector<fwd::v1::Notifier>& notifiers);
  void closeWindows(const std::vector<fwd::v1::Notifier>& notifiers);

  /// A notifier's messages waiting to be sent, and the thread that sends them.
  struct Outbox {
    struct Item {
      fwd::v1::Notifier notifier;
      Message message;
      std::string txn_id;  // kept across retries (Matrix uses it to send a message once)
    };
    std::deque<Item> queue;
    std::condition_variable cv;
    std::thread thread;
  };
  /// Hands `m` to `n`'s outbox (made, with its thread, the first time). Never waits on a send.
  void enqueue(const fwd::v1::Notifier& n, const Message& m);
  void runOutbox(Outbox& box);
  void sendWithRetries(Outbox& box, const Outbox::Item& item);

  store::Store& store_;
  Options options_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::unique_ptr<Outbox>> outboxes_ ABSL_GUARDED_BY(mu_);  // by notifier

  // The sender thread's own.
  std::map<WindowKey, Window> windows_;
  std::uint64_t next_txn_ = 0;
};

/// The event a record is, or "" (5xx answers, all_upstreams_failed, budget_exceeded; a record
/// that is both a 5xx and every upstream failing is the latter).
std::string eventOf(const fwd::v1::Record& r);

}  // namespace fwd::controlplane::notify
