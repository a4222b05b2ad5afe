#include "tests/unit/dataplane/config/fake_watch_service.h"

namespace fwd::dataplane::testing {

grpc::Status FakeWatchService::Watch(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<fwd::v1::WatchResponse, fwd::v1::WatchRequest>* stream) {
  int number = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    number = ++streams_;
    live_context_ = context;
    auto auth = context->client_metadata().find("authorization");
    authorization_ = auth == context->client_metadata().end()
                         ? ""
                         : std::string(auth->second.data(), auth->second.size());
  }
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    live_stream_ = stream;
  }
  fwd::v1::WatchRequest request;
  while (stream->Read(&request)) {
    std::lock_guard<std::mutex> lock(mu_);
    received_.push_back({number, request});
    cv_.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (live_stream_ == stream) {
      live_stream_ = nullptr;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (live_context_ == context) {
    live_context_ = nullptr;
  }
  return grpc::Status::OK;
}

std::vector<FakeWatchService::Received> FakeWatchService::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

::testing::AssertionResult FakeWatchService::waitFor(const Predicate& pred, const std::string& what,
                                                     std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_for(lock, limit, [&] { return pred(received_); })) {
    return ::testing::AssertionSuccess();
  }
  std::string got;
  for (const Received& r : received_) {
    got += "\n  stream " + std::to_string(r.stream) + ": " + r.request.ShortDebugString();
  }
  return ::testing::AssertionFailure() << "never got " << what << "; received:" << got;
}

bool FakeWatchService::send(const fwd::v1::Snapshot& snapshot) {
  fwd::v1::WatchResponse response;
  *response.mutable_snapshot() = snapshot;
  std::lock_guard<std::mutex> lock(write_mu_);
  return live_stream_ != nullptr && live_stream_->Write(response);
}

bool FakeWatchService::sendQuery(const fwd::v1::LimitsQuery& query) {
  fwd::v1::WatchResponse response;
  *response.mutable_limits_query() = query;
  std::lock_guard<std::mutex> lock(write_mu_);
  return live_stream_ != nullptr && live_stream_->Write(response);
}

void FakeWatchService::dropStream() {
  std::lock_guard<std::mutex> lock(mu_);
  if (live_context_ != nullptr) {
    live_context_->TryCancel();
  }
}

std::string FakeWatchService::lastAuthorization() const {
  std::lock_guard<std::mutex> lock(mu_);
  return authorization_;
}

FakeWatchServer::FakeWatchServer() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
}

FakeWatchServer::~FakeWatchServer() {
  // Streams a test left open are cancelled at once.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

}  // namespace fwd::dataplane::testing
