// The data plane's side of the Watch stream: connects to the control plane with the node
// token, says hello, reports the state of its upstreams, hands every snapshot to the apply
// callback and answers ACK or NACK, and answers the control plane's questions on a key's limits
// (LimitsQuery). Runs on its own threads (blocking gRPC calls are fine
// there, never on a worker); reconnects forever with jittered exponential backoff until stop().
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
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
  /// Builds this node's report: the upstreams of the config in force. Called on the client's
  /// threads, never twice at once.
  using ReportFn = std::function<fwd::v1::NodeReport()>;
  /// Gives a LimitsAnswer to the query's stream; callable from any thread, at any time, at
  /// most once (an answer that comes after its stream ended is dropped).
  using AnswerFn = std::function<void(fwd::v1::LimitsAnswer)>;
  /// Answers `query` through `answer`, at once or later; must not block. Called on the
  /// client's thread.
  using LimitsQueryFn = std::function<void(const fwd::v1::LimitsQuery& query, AnswerFn answer)>;

  struct Options {
    std::string address;  // host:port of fwd-controlplane
    /// TLS or plaintext (common::net::channelCredentials); null: plaintext.
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::string node_token;  // plaintext, sent as "authorization: Bearer ..."
    std::string node_id;
    std::string build_version;
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5'000};
    /// Sent right after every hello, then checked every `report_interval` and sent again when
    /// it changed (reportChanged). Empty: no reports.
    ReportFn report;
    std::chrono::milliseconds report_interval{1'000};
    /// Set: the hello says this node answers LimitsQuery. Empty: it does not.
    LimitsQueryFn limits_query;
  };
  /// Answers waiting to be written on one stream beyond this many are dropped (the control
  /// plane stops waiting for them after a second and a half anyway).
  static constexpr size_t kMaxPendingAnswers = 64;
  /// Validates, compiles and publishes a snapshot; a non-OK status is sent back as a NACK.
  /// Called on the client's thread.
  using ApplyFn = std::function<absl::Status(const fwd::v1::Snapshot&)>;
  /// Called on the client's thread whenever the connection state changes.
  using ConnectedFn = std::function<void(bool)>;

  ControlPlaneClient(Options options, ApplyFn apply, ConnectedFn on_connected);
  ~ControlPlaneClient();

  /// `applied_version` is the version served now (e.g. from the state dir), 0 if none.
  void start(std::uint64_t applied_version);
  /// Cancels the stream, wakes the reporter and joins both threads. Idempotent.
  void stop();

 private:
  void run();
  using Stream = grpc::ClientReaderWriter<fwd::v1::WatchRequest, fwd::v1::WatchResponse>;

  /// One stream from connect to end; returns true if the stream was established.
  bool runStream();
  /// What one stream's sender writes besides acks: the answers to limits queries.
  struct Outbox {
    std::mutex mu;
    std::condition_variable cv;  // an answer came, or the stream closed
    bool open = true;
    std::deque<fwd::v1::LimitsAnswer> answers;
  };
  static void close(Outbox& outbox);
  /// The sender thread of one stream: writes each answer as it comes, and every
  /// report_interval the report if it differs from `last_sent` (with options_.report), until
  /// the stream ends or stop(). Writes under `write_mu`.
  void sendLoop(Stream& stream, std::mutex& write_mu, Outbox& outbox,
                fwd::v1::NodeReport last_sent);
  void sleepBackoff(std::chrono::milliseconds d);
  /// Blocks until the channel is READY; false when stop() came first.
  bool waitUntilConnected();

  /// gRPC's longest wait between two dials of an absent control plane.
  static constexpr std::chrono::milliseconds kMaxReconnect{1'000};

  Options options_;
  ApplyFn apply_;
  ConnectedFn on_connected_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<fwd::v1::WatchService::Stub> stub_;
  std::atomic<std::uint64_t> applied_version_{0};
  std::chrono::system_clock::time_point start_time_;
  std::string instance_id_;  // random, this process's (NodeHello.instance_id)

  std::mutex mu_;               // guards stopping_, outbox_ and context_
  std::condition_variable cv_;  // wakes the backoff sleep
  bool stopping_ = false;
  std::shared_ptr<Outbox> outbox_;          // the live stream's, to close on stop()
  grpc::ClientContext* context_ = nullptr;  // the live stream's context, to cancel on stop()
  std::thread thread_;
};

}  // namespace fwd::dataplane::config
