#include "controlplane/service/watch_service.h"

#include <atomic>
#include <optional>
#include <string>
#include <thread>

#include "common/log/log.h"

namespace fwd::controlplane::service {
namespace {

constexpr char kLog[] = "controlplane";
constexpr size_t kMaxNodeId = 253;
constexpr size_t kMaxReason = 4096;

/// Client-supplied text made safe for one log line: control bytes escaped, length bounded.
std::string printable(const std::string& text, size_t max = 512) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max) {
    out += "...";
  }
  return out;
}

bool validNodeId(const std::string& id) {
  if (id.empty() || id.size() > kMaxNodeId) {
    return false;
  }
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace

grpc::Status WatchServiceImpl::Watch(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<fwd::v1::WatchResponse, fwd::v1::WatchRequest>* stream) {
  if (grpc::Status auth = auth_.checkNode(*context); !auth.ok()) {
    return auth;
  }
  fwd::v1::WatchRequest first;
  if (!stream->Read(&first)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "stream ended before hello");
  }
  if (first.kind_case() != fwd::v1::WatchRequest::kHello) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first message of a Watch stream must be hello");
  }
  const fwd::v1::NodeHello& hello = first.hello();
  if (!validNodeId(hello.node_id())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "hello.node_id \"" + printable(hello.node_id(), 64) +
                            "\": must be 1 to 253 printable characters without spaces, e.g. "
                            "the host name");
  }
  const std::string node_id = hello.node_id();
  const std::string peer = context->peer();
  const absl::StatusOr<NodeRegistry::ConnectionId> connected = registry_.connect(hello, peer);
  if (!connected.ok()) {
    FWD_LOG(kWarn, kLog) << "refused a data plane from " << peer << ": "
                         << connected.status().message();
    return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                        std::string(connected.status().message()));
  }
  const NodeRegistry::ConnectionId connection = *connected;
  FWD_LOG(kInfo, kLog) << "data plane \"" << node_id << "\" connected from " << peer
                       << " (applied version " << hello.applied_version() << ", build "
                       << printable(hello.build_version(), 64) << ")";

  // Acks, nacks and reports arrive while this thread may be blocked writing or waiting: a reader
  // thread takes them. gRPC allows one concurrent reader and one concurrent writer per stream.
  std::atomic<bool> reader_done{false};
  std::thread reader([&] {
    bool warned_report = false;  // one warning per stream about a report over the bounds
    fwd::v1::WatchRequest request;
    while (stream->Read(&request)) {
      switch (request.kind_case()) {
        case fwd::v1::WatchRequest::kAck:
          FWD_LOG(kDebug, kLog) << "data plane \"" << node_id << "\" applied version "
                                << request.ack().version();
          registry_.ack(node_id, connection, request.ack().version());
          break;
        case fwd::v1::WatchRequest::kNack: {
          const std::string reason = request.nack().reason().substr(0, kMaxReason);
          FWD_LOG(kWarn, kLog) << "data plane \"" << node_id << "\" rejected version "
                               << request.nack().version() << ": " << printable(reason);
          registry_.nack(node_id, connection, request.nack().version(), reason);
          break;
        }
        case fwd::v1::WatchRequest::kReport: {
          const size_t dropped = registry_.report(node_id, connection, request.report());
          FWD_LOG(kDebug, kLog) << "data plane \"" << node_id << "\" reported on "
                                << request.report().upstreams_size() << " upstreams";
          if (dropped > 0 && !warned_report) {
            warned_report = true;
            FWD_LOG(kWarn, kLog) << "data plane \"" << node_id << "\" reported on "
                                 << request.report().upstreams_size() << " upstreams; " << dropped
                                 << " ignored (duplicate or invalid names, or over "
                                 << NodeRegistry::kMaxReportedUpstreams << ")";
          }
          break;
        }
        case fwd::v1::WatchRequest::kLimitsAnswer:
          queries_.answer(connection, request.limits_answer());
          break;
        default:
          FWD_LOG(kDebug, kLog) << "data plane \"" << node_id
                                << "\" sent an unexpected message; ignored";
          break;
      }
    }
    reader_done.store(true);
  });

  const bool answers_queries = hello.answers_limits_queries();
  if (answers_queries) {
    queries_.attach(connection, node_id);
  }
  grpc::Status result = grpc::Status::OK;
  std::uint64_t sent_version = hello.applied_version();
  snapshot::SnapshotConstSharedPtr next = hub_.current();
  // A node that serves the current version gets nothing until the next one; a node with no
  // config at all (version 0) gets even the empty version-0 snapshot, so it can start serving.
  if (next != nullptr && next->version() == sent_version && sent_version != 0) {
    next = nullptr;
  }
  for (;;) {
    if (hub_.isShutdown()) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "control plane is shutting down");
      break;
    }
    if (context->IsCancelled() || reader_done.load()) {
      break;
    }
    if (next != nullptr) {
      fwd::v1::WatchResponse response;
      *response.mutable_snapshot() = *next;
      if (!stream->Write(response)) {
        break;
      }
      sent_version = next->version();
      FWD_LOG(kDebug, kLog) << "sent version " << sent_version << " to data plane \"" << node_id
                            << "\"";
    }
    std::optional<std::uint64_t> wakes;
    if (answers_queries) {
      wakes = hub_.wakes();  // before take(): a query queued after it wakes the wait below
      bool written = true;
      for (fwd::v1::LimitsQuery& query : queries_.take(connection)) {
        fwd::v1::WatchResponse response;
        *response.mutable_limits_query() = std::move(query);
        written = stream->Write(response);
        if (!written) {
          break;
        }
      }
      if (!written) {
        break;
      }
    }
    // Whatever was published meanwhile, only the newest is sent next: versions in between are
    // skipped, never queued.
    next = hub_.waitNewer(sent_version, std::chrono::steady_clock::now() + poll_interval_, wakes);
  }
  if (answers_queries) {
    queries_.detach(connection);
  }

  if (!reader_done.load()) {
    // The reader is blocked in Read(): cancelling the call is the only way to wake it.
    context->TryCancel();
  }
  reader.join();
  registry_.disconnect(node_id, connection);
  FWD_LOG(kInfo, kLog) << "data plane \"" << node_id << "\" disconnected";
  return result;
}

}  // namespace fwd::controlplane::service
