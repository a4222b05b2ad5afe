// An in-process fake of the control plane's WatchService for ControlPlaneClient tests: records
// every request each stream sends, lets a test push snapshots and drop the stream, and runs on
// 127.0.0.1:0.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fwd/v1/watch.grpc.pb.h"

namespace fwd::dataplane::testing {

class FakeWatchService final : public fwd::v1::WatchService::Service {
 public:
  struct Received {
    int stream = 0;  // 1 for the first stream, 2 after the first reconnect, ...
    fwd::v1::WatchRequest request;
  };
  using Predicate = std::function<bool(const std::vector<Received>&)>;

  // fwd::v1::WatchService::Service. Reads until the client or dropStream() ends the stream.
  grpc::Status Watch(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<fwd::v1::WatchResponse, fwd::v1::WatchRequest>* stream) override;

  /// Everything received so far, in order.
  std::vector<Received> received() const;
  /// Waits until `pred` holds for what was received, for at most `limit`.
  ::testing::AssertionResult waitFor(const Predicate& pred, const std::string& what,
                                     std::chrono::milliseconds limit = std::chrono::seconds(5));
  /// Writes `snapshot` on the live stream; false when there is none or the write failed.
  bool send(const fwd::v1::Snapshot& snapshot);
  /// Writes a limits query on the live stream, as GetKeyLimits makes the control plane do.
  bool sendQuery(const fwd::v1::LimitsQuery& query);
  /// Cancels the live stream, as a control plane going away would.
  void dropStream();
  /// The authorization metadata of the last stream.
  std::string lastAuthorization() const;

 private:
  mutable std::mutex mu_;  // guards received_, streams_, authorization_, live_context_
  std::condition_variable cv_;
  std::vector<Received> received_;
  int streams_ = 0;
  std::string authorization_;
  grpc::ServerContext* live_context_ = nullptr;
  // Guards live_stream_ and writes on it (the handler only reads: one reader, one writer).
  std::mutex write_mu_;
  grpc::ServerReaderWriter<fwd::v1::WatchResponse, fwd::v1::WatchRequest>* live_stream_ = nullptr;
};

/// The fake served on 127.0.0.1 at a free port.
class FakeWatchServer {
 public:
  FakeWatchServer();
  ~FakeWatchServer();
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakeWatchService& service() { return service_; }

 private:
  FakeWatchService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace fwd::dataplane::testing
