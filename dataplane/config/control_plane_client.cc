#include "dataplane/config/control_plane_client.h"

#include <cstdio>
#include <random>

#include "common/log/log.h"
#include "dataplane/config/node_report.h"

namespace fwd::dataplane::config {

ControlPlaneClient::ControlPlaneClient(Options options, ApplyFn apply, ConnectedFn on_connected)
    : options_(std::move(options)),
      apply_(std::move(apply)),
      on_connected_(std::move(on_connected)),
      start_time_(std::chrono::system_clock::now()) {
  std::random_device random;
  char id[17];
  std::snprintf(id, sizeof id, "%08x%08x", random(), random());
  instance_id_ = id;
  grpc::ChannelArguments args;
  // Notice a dead control plane (or a silently dropped connection) within ~15 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // While the control plane is away, gRPC itself redials: from 100 ms, growing 1.6× with ±20 %
  // jitter, at most every kMaxReconnect. run() waits for the channel to be READY before it opens
  // a stream, so a restarted control plane is back in sync within about kMaxReconnect of serving.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(kMaxReconnect.count()));
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(
      options_.address,
      options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials(), args);
  stub_ = fwd::v1::WatchService::NewStub(channel_);
}

ControlPlaneClient::~ControlPlaneClient() { stop(); }

void ControlPlaneClient::start(std::uint64_t applied_version) {
  applied_version_ = applied_version;
  thread_ = std::thread([this] { run(); });
}

void ControlPlaneClient::close(Outbox& outbox) {
  {
    std::lock_guard<std::mutex> lock(outbox.mu);
    outbox.open = false;
  }
  outbox.cv.notify_all();
}

void ControlPlaneClient::stop() {
  std::shared_ptr<Outbox> outbox;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (context_ != nullptr) {
      context_->TryCancel();
    }
    outbox = outbox_;
  }
  cv_.notify_all();
  if (outbox) {
    close(*outbox);
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ControlPlaneClient::run() {
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = options_.initial_backoff;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        return;
      }
    }
    if (!waitUntilConnected()) {
      return;
    }
    bool established = runStream();
    if (established) {
      backoff = options_.initial_backoff;
    }
    // Full jitter: many replicas restarting together do not reconnect in lockstep.
    std::uniform_int_distribution<long> dist(backoff.count() / 2, backoff.count());
    sleepBackoff(std::chrono::milliseconds(dist(rng)));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool ControlPlaneClient::waitUntilConnected() {
  // Opening a stream on a channel in TRANSIENT_FAILURE fails at once with the last connect
  // error, even when the control plane has come back since: the stream would then wait for our
  // own backoff (up to max_backoff) although gRPC's next dial (at most kMaxReconnect away)
  // would succeed. So wait for gRPC's dialling to reach READY, checking for stop() on the way.
  auto state = channel_->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        return false;
      }
    }
    channel_->WaitForStateChange(state,
                                 std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    state = channel_->GetState(/*try_to_connect=*/true);
  }
  return true;
}

void ControlPlaneClient::sleepBackoff(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
}

bool ControlPlaneClient::runStream() {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + options_.node_token);
  // The channel was READY a moment ago: should it drop in between, wait for it rather than fail
  // with a stale error (stop() cancels the wait).
  context.set_wait_for_ready(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return false;
    }
    context_ = &context;
  }
  auto stream = stub_->Watch(&context);

  fwd::v1::WatchRequest hello;
  auto* h = hello.mutable_hello();
  h->set_node_id(options_.node_id);
  h->set_applied_version(applied_version_.load());
  h->set_build_version(options_.build_version);
  h->set_instance_id(instance_id_);
  h->set_answers_limits_queries(static_cast<bool>(options_.limits_query));
  auto since_epoch = start_time_.time_since_epoch();
  h->mutable_start_time()->set_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count());

  bool established = false;
  if (stream->Write(hello)) {
    established = true;
    FWD_LOG(kInfo, "dataplane") << "connected to control plane " << options_.address << " as node "
                                << options_.node_id;
    on_connected_(true);
    // gRPC allows one writer at a time on a stream; two threads write on this one: the read
    // loop below (ACK/NACK) and the sender (NodeReport, LimitsAnswer). write_mu guards every
    // Write.
    std::mutex write_mu;
    // Answers may come from a worker after this stream is gone: they hold the outbox, not us.
    auto outbox = std::make_shared<Outbox>();
    {
      std::lock_guard<std::mutex> lock(mu_);
      outbox_ = outbox;
      if (stopping_) {
        outbox->open = false;
      }
    }
    std::thread sender;
    bool sending = true;
    fwd::v1::WatchRequest first;
    if (options_.report) {
      *first.mutable_report() = options_.report();
      // Alone on the stream still: no lock needed, and the report directly follows the hello.
      sending = stream->Write(first);
    }
    if (sending && (options_.report || options_.limits_query)) {
      sender = std::thread(
          [this, &stream, &write_mu, outbox, sent = std::move(*first.mutable_report())]() mutable {
            sendLoop(*stream, write_mu, *outbox, std::move(sent));
          });
    }
    fwd::v1::WatchResponse response;
    while (stream->Read(&response)) {
      if (response.has_limits_query()) {
        if (options_.limits_query) {
          options_.limits_query(response.limits_query(), [outbox](fwd::v1::LimitsAnswer answer) {
            {
              std::lock_guard<std::mutex> lock(outbox->mu);
              if (!outbox->open || outbox->answers.size() >= kMaxPendingAnswers) {
                return;
              }
              outbox->answers.push_back(std::move(answer));
            }
            outbox->cv.notify_all();
          });
        }
        continue;
      }
      const auto& snapshot = response.snapshot();
      absl::Status applied = apply_(snapshot);
      fwd::v1::WatchRequest reply;
      if (applied.ok()) {
        applied_version_ = snapshot.version();
        reply.mutable_ack()->set_version(snapshot.version());
      } else {
        FWD_LOG(kWarn, "dataplane")
            << "rejected snapshot version " << snapshot.version() << ": " << applied.message();
        reply.mutable_nack()->set_version(snapshot.version());
        reply.mutable_nack()->set_reason(std::string(applied.message()));
      }
      std::lock_guard<std::mutex> lock(write_mu);
      if (!stream->Write(reply)) {
        break;
      }
    }
    close(*outbox);
    if (sender.joinable()) {
      // A Write it may be in returns at once: the stream is finished or cancelled by now.
      sender.join();
    }
    std::lock_guard<std::mutex> lock(mu_);
    outbox_ = nullptr;
  }
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    context_ = nullptr;
  }
  if (established) {
    on_connected_(false);
  }
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    FWD_LOG(kError, "dataplane") << "control plane refused the node token: "
                                 << status.error_message();
  } else if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    FWD_LOG(kError, "dataplane") << "control plane refused this data plane: "
                                 << status.error_message() << "; retrying with backoff";
  } else if (status.error_code() != grpc::StatusCode::CANCELLED) {
    FWD_LOG(kWarn, "dataplane") << "control plane stream ended: " << status.error_message()
                                << " (code " << status.error_code() << "); reconnecting";
  }
  return established;
}

void ControlPlaneClient::sendLoop(Stream& stream, std::mutex& write_mu, Outbox& outbox,
                                  fwd::v1::NodeReport last_sent) {
  auto next_report = std::chrono::steady_clock::now() + options_.report_interval;
  for (;;) {
    std::deque<fwd::v1::LimitsAnswer> answers;
    {
      std::unique_lock<std::mutex> lock(outbox.mu);
      auto ready = [&] { return !outbox.open || !outbox.answers.empty(); };
      if (options_.report) {
        outbox.cv.wait_until(lock, next_report, ready);
      } else {
        outbox.cv.wait(lock, ready);
      }
      if (!outbox.open) {
        return;
      }
      answers.swap(outbox.answers);
    }
    for (fwd::v1::LimitsAnswer& answer : answers) {
      fwd::v1::WatchRequest request;
      *request.mutable_limits_answer() = std::move(answer);
      std::lock_guard<std::mutex> lock(write_mu);
      if (!stream.Write(request)) {
        return;  // the stream broke; the read loop sees it too
      }
    }
    if (!options_.report || std::chrono::steady_clock::now() < next_report) {
      continue;
    }
    next_report = std::chrono::steady_clock::now() + options_.report_interval;
    fwd::v1::NodeReport report = options_.report();
    if (!reportChanged(last_sent, report)) {
      continue;
    }
    fwd::v1::WatchRequest request;
    *request.mutable_report() = report;
    {
      std::lock_guard<std::mutex> lock(write_mu);
      if (!stream.Write(request)) {
        return;  // the stream broke; the read loop sees it too
      }
    }
    FWD_LOG(kDebug, "dataplane") << "sent a report on " << report.upstreams_size() << " upstreams";
    last_sent = std::move(report);
  }
}

}  // namespace fwd::dataplane::config
