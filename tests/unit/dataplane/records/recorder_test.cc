// The recorder: entries a worker hands over reach the control plane's RecordsService as
// records, with every field; while the service is down or failing they wait in the spill file
// and arrive once it is back, each once; a full spill file drops and counts.
#include "dataplane/records/recorder.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "fwd/v1/records.grpc.pb.h"

namespace fwd::dataplane::records {
namespace recorder_test {

using namespace std::chrono_literals;

// Stores what it is pushed by record id; can be told to fail, as a control plane whose
// database is locked does (UNAVAILABLE: the data plane sends again).
class FakeRecordsService final : public fwd::v1::RecordsService::Service {
 public:
  grpc::Status Push(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<fwd::v1::RecordAck, fwd::v1::RecordBatch>* stream) override {
    auto auth = context->client_metadata().find("authorization");
    if (auth == context->client_metadata().end() || auth->second != "Bearer node-secret") {
      return {grpc::StatusCode::UNAUTHENTICATED, "bad node token"};
    }
    fwd::v1::RecordBatch batch;
    while (stream->Read(&batch)) {
      std::this_thread::sleep_for(store_delay);  // a busy records database
      std::lock_guard lock(mu);
      if (failing) {
        return {grpc::StatusCode::UNAVAILABLE, "records database is locked"};
      }
      fwd::v1::RecordAck ack;
      ack.set_seq(batch.seq());
      for (const auto& r : batch.records()) {
        ++received;
        fwd::v1::Record kept = r;
        if (kept.node_id().empty()) {
          kept.set_node_id(batch.node_id());  // as the control plane does
        }
        if (records.emplace(r.id(), kept).second) {
          ack.set_stored(ack.stored() + 1);
        }
      }
      stream->Write(ack);
    }
    return grpc::Status::OK;
  }

  size_t stored() {
    std::lock_guard lock(mu);
    return records.size();
  }

  std::mutex mu;
  bool failing = false;
  std::chrono::milliseconds store_delay{0};  // set before the server starts
  size_t received = 0;
  std::map<std::string, fwd::v1::Record> records;
};

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "fwd-recorder-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    stopServer();
    std::filesystem::remove_all(dir_);
  }

  // Serves on `port` (0: a free one, remembered for the next start).
  void startServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port_),
                             grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void stopServer() {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + 1s);
      server_.reset();
    }
  }

  Recorder::Options options(size_t workers = 1) {
    Recorder::Options o;
    o.workers = workers;
    o.ring_capacity = 1024;
    o.node_id = "node-a";
    o.address = "127.0.0.1:" + std::to_string(port_);
    o.node_token = "node-secret";
    o.spill_path = dir_ + "/records.spill";
    o.flush_interval = 10ms;
    o.initial_backoff = 10ms;
    o.max_backoff = 50ms;
    o.stop_timeout = 500ms;
    return o;
  }

  // A free port nobody listens on yet.
  void reservePort() {
    startServer();
    stopServer();
  }

  // Hands `n` entries to worker `worker`'s ring, waiting for room as a test may (a worker
  // would drop instead).
  static void put(Recorder& r, size_t worker, int n, int first = 0) {
    for (int i = 0; i < n; ++i) {
      RecordEntry* e = nullptr;
      auto until = std::chrono::steady_clock::now() + 10s;
      while ((e = r.ring(worker).claim()) == nullptr && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(1ms);
      }
      ASSERT_NE(e, nullptr);
      std::string id = std::to_string(worker) + "-" + std::to_string(first + i);
      std::memcpy(e->id.data(), id.data(), id.size());
      e->status = 200;
      e->key_name.assign("team-a");
      e->model.assign("gpt-4o");
      r.ring(worker).publish();
    }
  }

  bool waitStored(size_t n, std::chrono::milliseconds within = 10s) {
    auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      if (service_.stored() >= n) {
        return service_.stored() == n;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  // Waits until the metric reaches `at_least` (10 s at most); returns its value then.
  double waitMetric(const std::string& name, double at_least, const std::string& reason = "") {
    auto until = std::chrono::steady_clock::now() + 10s;
    while (metric(name, reason) < at_least && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    return metric(name, reason);
  }

  double metric(const std::string& name, const std::string& reason = "") {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) {
        continue;
      }
      for (const auto& m : family.metric) {
        bool match = reason.empty();
        for (const auto& l : m.label) {
          match = match || (l.name == "reason" && l.value == reason);
        }
        if (match) {
          return family.type == prometheus::MetricType::Gauge ? m.gauge.value : m.counter.value;
        }
      }
    }
    return -1;
  }

  std::string dir_;
  int port_ = 0;
  FakeRecordsService service_;
  std::unique_ptr<grpc::Server> server_;
  prometheus::Registry registry_;
};

TEST_F(RecorderTest, EntriesFromEveryWorkerArriveAsRecordsWithTheirFields) {
  startServer();
  Recorder recorder(options(2), registry_);
  recorder.start();
  RecordEntry* e = recorder.ring(1).claim();
  ASSERT_NE(e, nullptr);
  std::memcpy(e->id.data(), "0123456789abcdef0123456789abcdef", 32);
  e->time_ms = 1'700'000'000'123;
  e->key_id = 7;
  e->key_name.assign("team-a");
  e->client_ip = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 9};
  e->status = 502;
  e->attempts = 2;
  e->failed_attempts_total = 1;
  e->failed[0].upstream.assign("east");
  e->failed[0].reason.assign("http_5xx");
  e->failed[0].status = 503;
  e->ttfb_us = 1500;
  e->latency_us = 9000;
  e->overhead_us = 40;
  e->prompt_tokens = 11;
  e->completion_tokens = 5;
  e->cached_tokens = 3;
  e->reasoning_tokens = 2;
  e->usage_estimated = true;
  e->cost_nano_usd = 1234;
  e->priced = true;
  e->stream = true;
  e->tool_calls = true;
  e->multimodal = true;
  e->bytes_in = 100;
  e->bytes_out = 2000;
  e->outcome = fwd::v1::OUTCOME_PARTIAL;
  e->method.assign("POST");
  e->path.assign("/v1/chat/completions");
  e->route.assign("default");
  e->model.assign("gpt-4o");
  e->served_model.assign("gpt-4o-2024");
  e->upstream.assign("west");
  e->error_code.assign("mid_stream");
  recorder.ring(1).publish();
  put(recorder, 0, 3);
  ASSERT_TRUE(waitStored(4));
  recorder.stop();
  const fwd::v1::Record& r = service_.records.at("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.request_id(), r.id());  // no upstream id: the record's is the request's
  EXPECT_EQ(r.node_id(), "node-a");
  EXPECT_EQ(r.time().seconds(), 1'700'000'000);
  EXPECT_EQ(r.time().nanos(), 123'000'000);
  EXPECT_EQ(r.key_id(), 7u);
  EXPECT_EQ(r.key_name(), "team-a");
  EXPECT_EQ(r.client_ip(), "10.0.0.9");
  EXPECT_EQ(r.status(), 502);
  EXPECT_EQ(r.attempts(), 2u);
  ASSERT_EQ(r.failed_attempts_size(), 1);
  EXPECT_EQ(r.failed_attempts(0).upstream(), "east");
  EXPECT_EQ(r.failed_attempts(0).reason(), "http_5xx");
  EXPECT_EQ(r.failed_attempts(0).status(), 503);
  EXPECT_EQ(r.ttfb_us(), 1500u);
  EXPECT_EQ(r.latency_us(), 9000u);
  EXPECT_EQ(r.overhead_us(), 40u);
  EXPECT_EQ(r.prompt_tokens(), 11u);
  EXPECT_EQ(r.completion_tokens(), 5u);
  EXPECT_EQ(r.cached_tokens(), 3u);
  EXPECT_EQ(r.reasoning_tokens(), 2u);
  EXPECT_TRUE(r.usage_estimated());
  EXPECT_EQ(r.cost_nano_usd(), 1234u);
  EXPECT_TRUE(r.priced());
  EXPECT_TRUE(r.stream());
  EXPECT_TRUE(r.tool_calls());
  EXPECT_TRUE(r.multimodal());
  EXPECT_EQ(r.bytes_in(), 100u);
  EXPECT_EQ(r.bytes_out(), 2000u);
  EXPECT_EQ(r.outcome(), fwd::v1::OUTCOME_PARTIAL);
  EXPECT_EQ(r.method(), "POST");
  EXPECT_EQ(r.path(), "/v1/chat/completions");
  EXPECT_EQ(r.route(), "default");
  EXPECT_EQ(r.model(), "gpt-4o");
  EXPECT_EQ(r.served_model(), "gpt-4o-2024");
  EXPECT_EQ(r.upstream(), "west");
  EXPECT_EQ(r.error_code(), "mid_stream");
  EXPECT_EQ(metric("fwd_records_sent_total"), 4);
  EXPECT_EQ(metric("fwd_records_spilled_total"), 0);
}

TEST_F(RecorderTest, BytesThatAreNotUtf8NeverMakeABatchTheControlPlaneCannotParse) {
  // A model from a multipart form is any bytes, and a long name of multi-byte characters is
  // cut to its field: sent as they are, the batch would not parse at the control plane and
  // would come back from the spill file forever.
  startServer();
  Recorder recorder(options(1), registry_);
  recorder.start();
  RecordEntry* e = recorder.ring(0).claim();
  ASSERT_NE(e, nullptr);
  std::memcpy(e->id.data(), "odd0odd0odd0odd0odd0odd0odd0odd0", 32);
  e->status = 200;
  e->model.assign("gpt\xff-4o");
  std::string long_name;
  for (int i = 0; i < 60; ++i) {
    long_name += "\xe6\xa8\xa1";  // 模: three bytes; 127 bytes is not a whole number of them
  }
  e->served_model.assign(long_name);
  e->failed_attempts_total = 1;
  e->failed[0].upstream.assign("east\xc3");
  e->failed[0].reason.assign("http_5xx");
  recorder.ring(0).publish();
  put(recorder, 0, 1);
  ASSERT_TRUE(waitStored(2));
  recorder.stop();
  const fwd::v1::Record& r = service_.records.at("odd0odd0odd0odd0odd0odd0odd0odd0");
  EXPECT_EQ(r.model(), "gpt\xEF\xBF\xBD-4o");
  EXPECT_EQ(r.served_model(), long_name.substr(0, 126));  // 42 whole characters
  EXPECT_EQ(r.failed_attempts(0).upstream(), "east\xEF\xBF\xBD");
}

TEST_F(RecorderTest, WhileTheControlPlaneIsDownRecordsWaitInTheSpillFileAndArriveOnce) {
  reservePort();
  Recorder recorder(options(), registry_);
  recorder.start();
  put(recorder, 0, 2500);
  EXPECT_EQ(waitMetric("fwd_records_spilled_total", 2500), 2500);
  EXPECT_GT(metric("fwd_records_push_failures_total"), 0);
  EXPECT_GT(metric("fwd_records_spill_bytes"), 0);
  startServer();
  put(recorder, 0, 10, 2500);
  ASSERT_TRUE(waitStored(2510));
  auto until = std::chrono::steady_clock::now() + 10s;
  while (metric("fwd_records_spill_bytes") != 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(metric("fwd_records_spill_bytes"), 0);
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/records.spill"), 0u);
  recorder.stop();
  EXPECT_EQ(service_.stored(), 2510u);
  EXPECT_EQ(metric("fwd_records_dropped_total", "spill_full"), 0);
}

TEST_F(RecorderTest, AFailingControlPlaneGetsTheRecordsAgainOnceItStores) {
  startServer();
  service_.failing = true;
  Recorder recorder(options(), registry_);
  recorder.start();
  put(recorder, 0, 5);
  ASSERT_EQ(waitMetric("fwd_records_spilled_total", 5), 5);
  {
    std::lock_guard lock(service_.mu);
    service_.failing = false;
  }
  ASSERT_TRUE(waitStored(5));
  recorder.stop();
}

TEST_F(RecorderTest, RecordsLeftAtStopAreSentByTheNextRun) {
  reservePort();
  {
    Recorder recorder(options(), registry_);
    recorder.start();
    put(recorder, 0, 7);
    recorder.stop();  // nobody to send to: spilled
  }
  EXPECT_GT(std::filesystem::file_size(dir_ + "/records.spill"), 0u);
  startServer();
  prometheus::Registry second;
  Recorder again(options(), second);
  again.start();
  ASSERT_TRUE(waitStored(7));
  again.stop();
}

TEST_F(RecorderTest, AFullSpillFileDropsAndCounts) {
  reservePort();
  Recorder::Options o = options();
  o.spill_max_bytes = 0;
  Recorder recorder(o, registry_);
  recorder.start();
  put(recorder, 0, 9);
  waitMetric("fwd_records_dropped_total", 9, "spill_full");
  recorder.stop();
  EXPECT_EQ(metric("fwd_records_dropped_total", "spill_full"), 9);
  EXPECT_EQ(metric("fwd_records_spilled_total"), 0);
}

TEST_F(RecorderTest, ASlowControlPlaneDoesNotFillTheRingsWhileItStores) {
  // Each batch of 50 takes the control plane 20 ms to store (2,500 records a second), and a
  // worker finishes a request about every 0.25 ms: a push of 10 batches waits 200 ms for its
  // acks, in which the ring (256 entries here) would fill three times over. Draining it after
  // each ack into the next push's batches (and the spill file once too many wait) loses nothing.
  service_.store_delay = 20ms;
  startServer();
  Recorder::Options o = options();
  o.ring_capacity = 256;
  o.batch_records = 50;
  Recorder recorder(o, registry_);
  recorder.start();
  constexpr int kRecords = 3000;
  for (int i = 0; i < kRecords; ++i) {
    RecordEntry* e = recorder.ring(0).claim();
    ASSERT_NE(e, nullptr) << "the ring was full at record " << i;
    std::string id = "slow-" + std::to_string(i);
    std::memcpy(e->id.data(), id.data(), id.size());
    recorder.ring(0).publish();
    std::this_thread::sleep_for(200us);
  }
  ASSERT_TRUE(waitStored(kRecords, 30s));
  recorder.stop();
  EXPECT_EQ(metric("fwd_records_dropped_total", "queue_full"), 0);
  EXPECT_EQ(metric("fwd_records_sent_total"), kRecords);
}

TEST_F(RecorderTest, AFullRingIsCountedAsQueueFull) {
  startServer();
  Recorder::Options o = options();
  o.ring_capacity = 16;
  Recorder recorder(o, registry_);  // not started: nothing drains the ring
  for (int i = 0; i < 20; ++i) {
    if (RecordEntry* e = recorder.ring(0).claim()) {
      e->id[0] = static_cast<char>('a' + i);
      recorder.ring(0).publish();
    }
  }
  recorder.start();
  ASSERT_TRUE(waitStored(16));
  recorder.stop();
  EXPECT_EQ(metric("fwd_records_dropped_total", "queue_full"), 4);
}

}  // namespace recorder_test
}  // namespace fwd::dataplane::records
