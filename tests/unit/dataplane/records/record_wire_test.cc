// Records written as wire bytes straight from ring entries: byte for byte what protobuf writes
// for the record Recorder::toProto makes of the same entry, for entries short and full, with
// bytes that are not UTF-8, failed attempts, bodies and odd numbers; and a batch with its seq
// appended parses back as the RecordBatch the control plane expects.
#include "dataplane/records/record_wire.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <limits>

#include "common/net/cidr.h"
#include "dataplane/records/recorder.h"

namespace fwd::dataplane::records {
namespace record_wire_test {

class RecordWireTest : public ::testing::Test {
 protected:
  // Recorder::toProto (a recorder without central records opens nothing).
  RecordWireTest() : recorder_(options(), registry_) {}
  static Recorder::Options options() {
    Recorder::Options o;
    o.central = false;
    return o;
  }

  // The wire bytes of `e` as one batch element, and protobuf's for toProto's record.
  void expectSameBytes(const RecordEntry& e) {
    std::string ip;
    if (e.client_ip != std::array<std::uint8_t, 16>{}) {
      ip = common::net::IpAddress{e.client_ip}.toString();
    }
    std::string ours;
    wire::appendRecord(ours, e, ip, scratch_);
    fwd::v1::RecordBatch expected;
    recorder_.toProto(e, *expected.add_records());
    EXPECT_EQ(ours, expected.SerializeAsString());
    fwd::v1::RecordBatch back;
    ASSERT_TRUE(back.ParseFromString(ours));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, expected))
        << back.DebugString() << "\nvs\n"
        << expected.DebugString();
  }

  static RecordEntry full() {
    RecordEntry e;
    std::string id = "0123456789abcdef0123456789abcdef";
    std::copy(id.begin(), id.end(), e.id.begin());
    e.time_ms = 1'765'000'123'456;
    e.key_id = 42;
    e.client_ip = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
    e.status = 502;
    e.attempts = 3;
    e.failed_attempts_total = 2;
    e.failed[0].upstream.assign("east");
    e.failed[0].reason.assign("connect");
    e.failed[1].upstream.assign("west");
    e.failed[1].reason.assign("http_503");
    e.failed[1].status = 503;
    e.ttfb_us = 1234;
    e.latency_us = 567'890;
    e.overhead_us = 120;
    e.prompt_tokens = 300;
    e.completion_tokens = 1;
    e.cached_tokens = 128;
    e.reasoning_tokens = 7;
    e.cost_nano_usd = std::numeric_limits<std::uint64_t>::max();
    e.bytes_in = 1 << 20;
    e.bytes_out = 99;
    e.outcome = fwd::v1::OUTCOME_PARTIAL;
    e.priced = true;
    e.stream = true;
    e.usage_estimated = true;
    e.tool_calls = true;
    e.multimodal = true;
    e.method.assign("POST");
    e.key_name.assign("team-a");
    e.path.assign("/v1/chat/completions");
    e.route.assign("chat");
    e.model.assign("gpt-4o");
    e.served_model.assign("gpt-4o-2024-08-06");
    e.upstream.assign("north");
    e.error_code.assign("upstream_stream_cut");
    e.request_id.assign("req-from-upstream");
    return e;
  }

  prometheus::Registry registry_;
  Recorder recorder_;
  wire::Scratch scratch_;
};

TEST_F(RecordWireTest, AnEmptyEntryIsItsIdAndTimeAlone) { expectSameBytes(RecordEntry{}); }

TEST_F(RecordWireTest, AFullEntryHasEveryFieldInProtobufsBytes) {
  expectSameBytes(full());
  EXPECT_EQ(common::net::IpAddress{full().client_ip}.toString(), "10.1.2.3");
}

TEST_F(RecordWireTest, AllFourFailedAttemptsAndNoMoreAreWritten) {
  RecordEntry e = full();
  e.failed_attempts_total = 9;
  for (auto& f : e.failed) {
    f.upstream.assign("u");
  }
  expectSameBytes(e);
  e.failed_attempts_total = 1;
  e.failed[0] = FailedAttemptEntry{};  // an attempt with nothing to say is still there
  expectSameBytes(e);
}

TEST_F(RecordWireTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  RecordEntry e = full();
  e.model.assign("gpt\xff\xfe");
  e.key_name.assign("caf\xc3");  // a cut character
  e.failed[0].upstream.assign("\x80up");
  expectSameBytes(e);
  std::string ours;
  wire::appendRecord(ours, e, "", scratch_);
  fwd::v1::RecordBatch back;
  ASSERT_TRUE(back.ParseFromString(ours));  // a string field that is not UTF-8 would fail
  EXPECT_EQ(back.records(0).model(), "gpt\xef\xbf\xbd\xef\xbf\xbd");
}

TEST_F(RecordWireTest, NegativeAndZeroNumbersAreWrittenAsProtobufDoes) {
  RecordEntry e = full();
  e.status = -1;  // ten bytes of sign extension
  e.failed[1].status = std::numeric_limits<std::int32_t>::min();
  e.time_ms = -1'500;  // before 1970: seconds -2, nanos 500,000,000
  expectSameBytes(e);
  e.time_ms = 999;  // seconds 0 left out
  e.status = 0;
  expectSameBytes(e);
}

TEST_F(RecordWireTest, BodiesAreWrittenOnlyWhenTheRecordKeepsThem) {
  RecordEntry e = full();
  e.bodies = std::make_unique<Bodies>(1 << 20);
  e.bodies->request.assign(std::string(200'000, 'q'), 1 << 20);  // a three-byte length
  e.bodies->answer.assign(std::string("{\"a\":\0}", 7), 1 << 20);
  e.bodies_in_record = true;
  expectSameBytes(e);
  e.bodies_in_record = false;  // kept for the JSONL files only
  expectSameBytes(e);
  e.bodies_in_record = true;
  e.bodies->request = CappedBytes{};
  expectSameBytes(e);  // an empty body is left out
}

TEST_F(RecordWireTest, ABatchWithItsSeqAppendedParsesAsTheRecordBatch) {
  std::string batch;
  wire::appendStringField(batch, 3, "node-a");
  fwd::v1::RecordBatch expected;
  expected.set_node_id("node-a");
  for (int i = 0; i < 3; ++i) {
    RecordEntry e = full();
    e.key_id = static_cast<std::uint64_t>(i);
    e.client_ip = {};
    wire::appendRecord(batch, e, "", scratch_);
    recorder_.toProto(e, *expected.add_records());
  }
  // A seq appended after a spilled batch's earlier seq wins (the last value of a field).
  wire::appendVarintField(batch, 1, 7);
  wire::appendVarintField(batch, 1, 300);
  expected.set_seq(300);
  fwd::v1::RecordBatch back;
  ASSERT_TRUE(back.ParseFromString(batch));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, expected))
      << back.DebugString();
}

}  // namespace record_wire_test
}  // namespace fwd::dataplane::records
