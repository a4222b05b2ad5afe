// The data plane's request records, from the workers to the control plane. Each worker hands a
// finished request's entry to its own ring (record_ring.h) and is done; the recorder's one
// thread drains the rings, turns entries into fwd.v1.Record and pushes them in batches to the
// control plane's RecordsService over the node-token-authenticated channel. While the control
// plane cannot take them (down, unreachable, failing to store), batches go to the spill file
// in the state dir (spill_file.h) and are sent from there, oldest first, once it can. Nothing on
// this path waits for a worker or makes a worker wait: a full ring or a full spill file drops
// the record and counts it in fwd_records_dropped_total. With --jsonl-dir the same thread writes
// each request's lines to the data plane's JSONL files (jsonl_writer.h), with or without
// central records.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/records/jsonl_writer.h"
#include "dataplane/records/record_entry.h"
#include "dataplane/records/record_ring.h"
#include "dataplane/records/record_wire.h"
#include "dataplane/records/spill_file.h"
#include "fwd/v1/records.pb.h"

namespace fwd::dataplane::records {

class Recorder {
 public:
  struct Options {
    // Records go to the control plane; false: the recorder only writes the JSONL files.
    bool central = true;
    size_t workers = 1;
    size_t ring_capacity = 4096;  // entries per worker
    std::string node_id;
    std::string address;                                    // host:port of fwd-controlplane
    std::shared_ptr<grpc::ChannelCredentials> credentials;  // null: plaintext
    std::string node_token;
    std::string spill_path;  // the spill file
    std::uint64_t spill_max_bytes = 256u << 20;
    size_t batch_records = 1000;  // per RecordBatch (the control plane takes ≤ 1,000)
    // The rings are drained at least this often (at once again while they had entries).
    std::chrono::milliseconds flush_interval{50};
    std::chrono::milliseconds push_timeout{10'000};  // one push stream, all its batches
    std::chrono::milliseconds initial_backoff{200};  // after a failed push, then doubling ...
    std::chrono::milliseconds max_backoff{5'000};    // ... up to this
    // At stop(), how long the last records may take to reach the control plane before they
    // go to the spill file.
    std::chrono::milliseconds stop_timeout{2'000};
    // The JSONL files' directory (jsonl_writer.h); empty: none.
    std::string jsonl_dir;
    std::uint64_t jsonl_max_bytes = 128u << 20;
    // Each body kept (for a record of a route or key with log_bodies, and the JSONL files) is
    // cut to this.
    size_t body_max_bytes = 64u << 10;
  };

  Recorder(Options options, prometheus::Registry& registry);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  /// Worker `i`'s ring; the worker's thread only produces into it.
  RecordRing& ring(size_t worker) { return *rings_[worker]; }
  /// Whether every request's bodies are kept, for the JSONL files.
  bool jsonl() const { return jsonl_ != nullptr; }
  size_t bodyMaxBytes() const { return options_.body_max_bytes; }

  void start();
  /// Drains the rings and pushes what they hold (or spills it), then joins. Idempotent.
  void stop();

  /// Turns an entry into the record the control plane stores (all but node_id, which goes with
  /// the batch); `out` is empty, or cleared (it keeps its strings' memory for the next record).
  /// For the JSONL files; batches are written as wire bytes (record_wire.h), the same bytes
  /// this record serializes to.
  void toProto(const RecordEntry& e, fwd::v1::Record& out);

 private:
  void run();
  /// Moves up to `max` ring entries into batches_ as records; returns how many.
  size_t drain(size_t max);
  /// Sends what is spilled, then the batches drained, on one push stream; what was not stored
  /// is spilled. Returns false when the push failed.
  bool push(std::chrono::milliseconds timeout);
  /// Writes one batch as a RecordBatch with `seq` on the push stream and reads its ack.
  bool sendBatch(grpc::ClientReaderWriter<grpc::ByteBuffer, fwd::v1::RecordAck>& stream,
                 std::string_view batch, size_t records);
  /// The entry's client address as text; empty when it has none.
  std::string_view clientIp(const RecordEntry& e);
  /// During a push of batches_[0, pushing): drains the rings into new batches, spilling what
  /// waits past kMaxBatchesWaiting.
  void drainWhilePushing(size_t pushing);
  /// Spills batches_[from, used_) and leaves the first `from`.
  void spill(size_t from);
  /// Empties the batches drained, keeping their memory for the next ones.
  void release();
  void countRingDrops();

  Options options_;
  std::vector<std::unique_ptr<RecordRing>> rings_;
  std::unique_ptr<SpillFile> spill_;  // null without central records
  std::unique_ptr<JsonlWriter> jsonl_;
  fwd::v1::Record scratch_;  // a record for the JSONL files
  std::shared_ptr<grpc::Channel> channel_;
  // RecordsService.Push with batches as bytes (sent as they are written, not serialized again).
  std::unique_ptr<grpc::internal::RpcMethod> push_method_;
  // A RecordBatch's bytes but its seq (record_wire.h).
  struct Batch {
    std::string bytes;
    size_t records = 0;
    size_t body_bytes = 0;  // a batch stays far below the control plane's 4 MiB
  };
  // Batches drained from the rings, reused round after round so that their memory is not
  // allocated anew each time; the first used_ are in use.
  std::vector<Batch> batches_;
  size_t used_ = 0;
  size_t sealed_ = 0;  // batches_[0, sealed_) are being pushed: no record joins them
  wire::Scratch wire_scratch_;
  std::string seq_bytes_;
  std::uint64_t seq_ = 0;
  // The last client address written as text: most records in a row come from the same few.
  std::array<std::uint8_t, 16> last_ip_{};
  std::string last_ip_text_;
  std::uint64_t ring_drops_counted_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point retry_at_{};
  bool failing_ = false;  // the last push failed (logged once per outage)

  prometheus::Counter& sent_;
  prometheus::Counter& spilled_;
  prometheus::Family<prometheus::Counter>& dropped_family_;
  prometheus::Counter& dropped_queue_full_;
  prometheus::Counter& dropped_spill_full_;
  prometheus::Counter& dropped_spill_error_;
  prometheus::Counter& push_failures_;
  prometheus::Gauge& spill_bytes_;

  std::mutex mu_;  // guards stopping_; cv_ wakes the thread for stop()
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

/// Bodies a record batch carries before the next record starts a new batch (the control plane
/// takes messages of up to 4 MiB; one record's bodies are at most 2 MiB).
inline constexpr size_t kMaxBatchBodyBytes = 512u << 10;

}  // namespace fwd::dataplane::records
