#include "dataplane/records/recorder.h"

#include <google/protobuf/util/time_util.h>
#include <pthread.h>

#include <algorithm>

#include "common/log/log.h"
#include "common/net/cidr.h"

namespace fwd::dataplane::records {
namespace {

// Record batches drained from the rings per round before the thread pushes them; a round with
// this many goes again at once.
constexpr size_t kBatchesPerRound = 10;
// Spilled batches sent per push, before the new ones.
constexpr size_t kSpilledPerPush = 20;
// Batches drained while a push waits for the control plane, held for the next push; past this
// many they go to the spill file. Draining then keeps a slow control plane from filling the
// workers' rings (whose records would be dropped) while it stores a round.
constexpr size_t kMaxBatchesWaiting = 4 * kBatchesPerRound;

prometheus::Counter& counter(prometheus::Registry& r, const std::string& name,
                             const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

Recorder::Recorder(Options options, prometheus::Registry& registry)
    : options_(std::move(options)),
      sent_(counter(registry, "fwd_records_sent_total",
                    "Request records the control plane acknowledged.")),
      spilled_(counter(registry, "fwd_records_spilled_total",
                       "Request records written to the spill file in the state dir while the "
                       "control plane could not take them.")),
      dropped_family_(prometheus::BuildCounter()
                          .Name("fwd_records_dropped_total")
                          .Help("Request records lost, by reason: queue_full (a worker's ring "
                                "was full), spill_full, spill_error (the spill file could not "
                                "take them).")
                          .Register(registry)),
      dropped_queue_full_(dropped_family_.Add({{"reason", "queue_full"}})),
      dropped_spill_full_(dropped_family_.Add({{"reason", "spill_full"}})),
      dropped_spill_error_(dropped_family_.Add({{"reason", "spill_error"}})),
      push_failures_(counter(registry, "fwd_records_push_failures_total",
                             "Pushes of record batches to the control plane that failed (the "
                             "batches were spilled).")),
      spill_bytes_(prometheus::BuildGauge()
                       .Name("fwd_records_spill_bytes")
                       .Help("Bytes in the records spill file.")
                       .Register(registry)
                       .Add({})) {
  rings_.reserve(options_.workers);
  for (size_t i = 0; i < options_.workers; ++i) {
    rings_.push_back(std::make_unique<RecordRing>(options_.ring_capacity));
  }
  if (!options_.jsonl_dir.empty()) {
    jsonl_ =
        std::make_unique<JsonlWriter>(JsonlWriter::Options{.dir = options_.jsonl_dir,
                                                           .max_bytes = options_.jsonl_max_bytes,
                                                           .node_id = options_.node_id},
                                      registry);
  }
  if (!options_.central) {
    return;
  }
  spill_ = std::make_unique<SpillFile>(options_.spill_path, options_.spill_max_bytes);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  // Its own connection, not the Watch stream's: a burst of records never delays a snapshot.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = grpc::CreateCustomChannel(
      options_.address,
      options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials(), args);
  push_method_ = std::make_unique<grpc::internal::RpcMethod>(
      "/fwd.v1.RecordsService/Push", grpc::internal::RpcMethod::BIDI_STREAMING, channel_);
  spill_bytes_.Set(static_cast<double>(spill_->bytes()));
}

Recorder::~Recorder() { stop(); }

void Recorder::start() {
  thread_ = std::thread([this] { run(); });
}

void Recorder::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

namespace {

// Proto3 leaves an empty string off the wire anyway; not setting it spares the copy. A string
// field must be UTF-8 or the control plane cannot parse the batch, which would then come back
// from the spill file forever: a model a client sent in a multipart form is any bytes.
void setString(std::string* (fwd::v1::Record::*field)(), fwd::v1::Record& r,
               std::string_view value) {
  if (value.empty()) {
    return;
  }
  if (common::log::isValidUtf8(value)) {
    (r.*field)()->assign(value.data(), value.size());  // in the string a cleared batch kept
  } else {
    *(r.*field)() = common::log::validUtf8(value);
  }
}

}  // namespace

void Recorder::toProto(const RecordEntry& e, fwd::v1::Record& r) {
  using R = fwd::v1::Record;
  setString(&R::mutable_id, r, std::string_view(e.id.data(), e.id.size()));
  *r.mutable_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(e.time_ms);
  setString(
      &R::mutable_request_id, r,
      e.request_id.empty() ? std::string_view(e.id.data(), e.id.size()) : e.request_id.view());
  setString(&R::mutable_key_name, r, e.key_name.view());
  r.set_key_id(e.key_id);
  if (std::string_view ip = clientIp(e); !ip.empty()) {
    r.set_client_ip(ip.data(), ip.size());
  }
  setString(&R::mutable_method, r, e.method.view());
  setString(&R::mutable_path, r, e.path.view());
  setString(&R::mutable_route, r, e.route.view());
  setString(&R::mutable_model, r, e.model.view());
  setString(&R::mutable_served_model, r, e.served_model.view());
  setString(&R::mutable_upstream, r, e.upstream.view());
  r.set_status(e.status);
  setString(&R::mutable_error_code, r, e.error_code.view());
  r.set_attempts(e.attempts);
  size_t failed = std::min<size_t>(e.failed_attempts_total, RecordEntry::kMaxFailedAttempts);
  for (size_t i = 0; i < failed; ++i) {
    fwd::v1::FailedAttempt* f = r.add_failed_attempts();
    f->set_upstream(common::log::validUtf8(e.failed[i].upstream.view()));
    f->set_reason(common::log::validUtf8(e.failed[i].reason.view()));
    f->set_status(e.failed[i].status);
  }
  r.set_stream(e.stream);
  r.set_ttfb_us(e.ttfb_us);
  r.set_latency_us(e.latency_us);
  r.set_overhead_us(e.overhead_us);
  r.set_prompt_tokens(e.prompt_tokens);
  r.set_completion_tokens(e.completion_tokens);
  r.set_cached_tokens(e.cached_tokens);
  r.set_reasoning_tokens(e.reasoning_tokens);
  r.set_usage_estimated(e.usage_estimated);
  r.set_cost_nano_usd(e.cost_nano_usd);
  r.set_priced(e.priced);
  r.set_tool_calls(e.tool_calls);
  r.set_multimodal(e.multimodal);
  r.set_bytes_in(e.bytes_in);
  r.set_bytes_out(e.bytes_out);
  r.set_outcome(e.outcome);
  if (e.bodies != nullptr && e.bodies_in_record) {
    r.set_request_body(e.bodies->request.bytes);
    r.set_response_body(e.bodies->clientAnswer().bytes);
  }
}

std::string_view Recorder::clientIp(const RecordEntry& e) {
  if (e.client_ip == std::array<std::uint8_t, 16>{}) {
    return {};
  }
  if (e.client_ip != last_ip_ || last_ip_text_.empty()) {
    last_ip_ = e.client_ip;
    last_ip_text_ = common::net::IpAddress{e.client_ip}.toString();
  }
  return last_ip_text_;
}

size_t Recorder::drain(size_t max) {
  size_t n = 0;
  for (auto& ring : rings_) {
    while (n < max) {
      RecordEntry* e = ring->front();
      if (e == nullptr) {
        break;
      }
      if (options_.central) {
        if (used_ <= sealed_ || batches_[used_ - 1].records >= options_.batch_records ||
            batches_[used_ - 1].body_bytes >= kMaxBatchBodyBytes) {
          if (used_ == batches_.size()) {
            batches_.emplace_back();
          }
          Batch& b = batches_[used_++];
          b.bytes.clear();
          b.records = 0;
          b.body_bytes = 0;
          wire::appendStringField(b.bytes, 3, options_.node_id);  // RecordBatch.node_id
        }
        Batch& b = batches_[used_ - 1];
        wire::appendRecord(b.bytes, *e, clientIp(*e), wire_scratch_);
        ++b.records;
        if (e->bodies != nullptr && e->bodies_in_record) {
          b.body_bytes += e->bodies->request.bytes.size() + e->bodies->clientAnswer().bytes.size();
        }
      }
      if (jsonl_) {
        scratch_.Clear();
        toProto(*e, scratch_);
        jsonl_->add(scratch_, e->bodies.get());
      }
      e->bodies.reset();  // on this thread, not the worker's
      ring->pop();
      ++n;
    }
  }
  return n;
}

void Recorder::release() {
  used_ = 0;
  sealed_ = 0;
}

void Recorder::drainWhilePushing(size_t pushing) {
  if (used_ - pushing >= kMaxBatchesWaiting) {
    spill(pushing);  // the control plane is slower than the requests: the file takes them
  }
  drain(kBatchesPerRound * options_.batch_records);
  countRingDrops();
}

void Recorder::countRingDrops() {
  std::uint64_t total = 0;
  for (const auto& ring : rings_) {
    total += ring->dropped();
  }
  if (total > ring_drops_counted_) {
    dropped_queue_full_.Increment(static_cast<double>(total - ring_drops_counted_));
    ring_drops_counted_ = total;
  }
}

void Recorder::spill(size_t from) {
  for (size_t i = from; i < used_; ++i) {
    const Batch& batch = batches_[i];
    auto n = static_cast<double>(batch.records);
    absl::Status st = spill_->append(batch.bytes);
    if (st.ok()) {
      spill_bytes_.Set(static_cast<double>(spill_->bytes()));  // before the count tests wait on
      spilled_.Increment(n);
    } else if (absl::IsResourceExhausted(st)) {
      dropped_spill_full_.Increment(n);
    } else {
      dropped_spill_error_.Increment(n);
      FWD_LOG(kWarn, "records") << st.message() << "; " << batch.records << " records dropped";
    }
  }
  used_ = from;
  sealed_ = std::min(sealed_, used_);
}

bool Recorder::sendBatch(grpc::ClientReaderWriter<grpc::ByteBuffer, fwd::v1::RecordAck>& stream,
                         std::string_view batch, size_t records) {
  // The batch's bytes, then its seq (RecordBatch.seq, field 1), in one message: copied once
  // into gRPC's slices, not serialized again.
  seq_bytes_.clear();
  wire::appendVarintField(seq_bytes_, 1, ++seq_);
  grpc::Slice slices[] = {grpc::Slice(batch.data(), batch.size()),
                          grpc::Slice(seq_bytes_.data(), seq_bytes_.size())};
  grpc::ByteBuffer message(slices, 2);
  fwd::v1::RecordAck ack;
  if (!stream.Write(message) || !stream.Read(&ack) || ack.seq() != seq_) {
    return false;
  }
  sent_.Increment(static_cast<double>(records));
  return true;
}

bool Recorder::push(std::chrono::milliseconds timeout) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + options_.node_token);
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, fwd::v1::RecordAck>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, fwd::v1::RecordAck>::Create(
          channel_.get(), *push_method_, &context));
  // The batches drained so far go on this push; those drained while it waits for acks are
  // new batches, for the next one.
  const size_t pushing = used_;
  sealed_ = pushing;
  bool ok = true;
  for (size_t i = 0; ok && i < kSpilledPerPush; ++i) {
    std::optional<SpillFile::Frame> spilled = spill_->front();
    if (!spilled) {
      break;
    }
    ok = sendBatch(*stream, spilled->batch, spilled->records);
    if (ok) {
      spill_->pop();
      drainWhilePushing(pushing);
    }
  }
  size_t done = 0;
  while (ok && done < pushing) {
    ok = sendBatch(*stream, batches_[done].bytes, batches_[done].records);
    if (ok) {
      ++done;
      drainWhilePushing(pushing);
    }
  }
  grpc::Status status;
  if (ok) {
    stream->WritesDone();
    status = stream->Finish();
  } else {
    context.TryCancel();
    status = stream->Finish();
  }
  if (!ok) {
    // A batch written but not acked may have been stored: it is spilled all the same, and the
    // control plane keeps its records once.
    push_failures_.Increment();
    if (!failing_) {
      FWD_LOG(kWarn, "records") << "cannot push request records to the control plane at "
                                << options_.address << " (" << status.error_message()
                                << "); they go to " << spill_->path() << " until it can";
    }
    failing_ = true;
    backoff_ = std::min(options_.max_backoff,
                        backoff_.count() == 0 ? options_.initial_backoff : backoff_ * 2);
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
    spill(done);  // what was not acked, and what was drained meanwhile
    release();
    return false;
  }
  if (failing_) {
    FWD_LOG(kInfo, "records") << "pushing request records to the control plane again";
  }
  failing_ = false;
  backoff_ = std::chrono::milliseconds(0);
  // What was drained meanwhile moves to the front, for the next push (its memory kept).
  std::rotate(batches_.begin(), batches_.begin() + static_cast<std::ptrdiff_t>(pushing),
              batches_.begin() + static_cast<std::ptrdiff_t>(used_));
  used_ -= pushing;
  sealed_ = 0;
  return true;
}

void Recorder::run() {
  ::pthread_setname_np(::pthread_self(), "fwd-records");  // as top -H and perf show it
  const size_t per_round = kBatchesPerRound * options_.batch_records;
  for (;;) {
    bool stopping;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
    }
    size_t got = drain(stopping ? SIZE_MAX : per_round);
    countRingDrops();
    if (jsonl_) {
      jsonl_->flush();
    }
    if (stopping) {
      if (options_.central) {
        if (used_ > 0 && !push(options_.stop_timeout)) {
          spill(0);
        }
        spill_bytes_.Set(static_cast<double>(spill_->bytes()));
      }
      return;
    }
    if (options_.central) {
      if (used_ > 0 || !spill_->empty()) {
        if (std::chrono::steady_clock::now() >= retry_at_) {
          push(options_.push_timeout);
        } else {
          spill(0);
        }
      }
      spill_bytes_.Set(static_cast<double>(spill_->bytes()));
    }
    // Records drained while the push waited wait for the next round too: a push per few
    // records would cost a gRPC stream each.
    if (got < per_round) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.flush_interval, [&] { return stopping_; });
    }
  }
}

}  // namespace fwd::dataplane::records
