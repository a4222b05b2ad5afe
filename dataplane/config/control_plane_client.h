// The data plane's side of the Watch stream: connects to the control plane with the node
// token, says hello, hands every snapshot to the apply callback and answers ACK or NACK.
// Runs on its own thread (blocking gRPC calls are fine there); reconnects forever with
// jittered exponential backoff until stop().
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "fwd/v1/watch.grpc.pb.h"

namespace fwd::dataplane::config {

class ControlPlaneClient {
 public:
  struct Options {
    std::string address;     // host:port of fwd-controlplane
    std::string node_token;  // plaintext, sent as "authorization: Bearer ..."
    std::string node_id;
    std::string build_version;
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5'000};
  };
  /// Validates, compiles and publishes a snapshot; a non-OK status is sent back as a NACK.
  /// Called on the client's thread.
  using ApplyFn = std::function<absl::Status(const fwd::v1::Snapshot&)>;
  /// Called on the client's thread whenever the connection state changes.
  using ConnectedFn = std::function<void(bool)>;

  ControlPlaneClient(Options options, ApplyFn apply, ConnectedFn on_connected);
  ~ControlPlaneClient();

  /// `applied_version` is the version served now (e.g. from the state dir), 0 if none.
  void start(std::uint64_t applied_version);
  /// Cancels the stream and joins the thread. Idempotent.
  void stop();

 private:
  void run();
  /// One stream from connect to end; returns true if the stream was established.
  bool runStream();
  void sleepBackoff(std::chrono::milliseconds d);

  Options options_;
  ApplyFn apply_;
  ConnectedFn on_connected_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<fwd::v1::WatchService::Stub> stub_;
  std::atomic<std::uint64_t> applied_version_{0};
  std::chrono::system_clock::time_point start_time_;

  std::mutex mu_;               // guards stopping_ and context_
  std::condition_variable cv_;  // wakes the backoff sleep on stop()
  bool stopping_ = false;
  grpc::ClientContext* context_ = nullptr;  // the live stream's context, to cancel on stop()
  std::thread thread_;
};

}  // namespace fwd::dataplane::config
