#include "dataplane/records/record_wire.h"

#include <algorithm>
#include <cstring>

#include "common/log/log.h"

namespace fwd::dataplane::records::wire {
namespace {

enum WireType : std::uint32_t { kVarint = 0, kLengthDelimited = 2 };

size_t varintSize(std::uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes to memory known to have room (Scratch::room): a record's fields cost a few stores
// each, not a string append each.
class Out {
 public:
  explicit Out(char* p) : p_(p) {}
  char* at() const { return p_; }

  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<char>(v);
  }
  void tag(int field, WireType type) { varint((static_cast<std::uint64_t>(field) << 3) | type); }

  // Left out when 0, as proto3 does.
  void uint(int field, std::uint64_t v) {
    if (v != 0) {
      tag(field, kVarint);
      varint(v);
    }
  }
  // An int32 goes on the wire as its 64-bit sign extension (a negative one takes 10 bytes).
  void int32(int field, std::int32_t v) {
    uint(field, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)));
  }
  void boolean(int field, bool v) { uint(field, v ? 1 : 0); }

  void bytes(int field, std::string_view v) {
    if (v.empty()) {
      return;
    }
    tag(field, kLengthDelimited);
    varint(v.size());
    std::memcpy(p_, v.data(), v.size());
    p_ += v.size();
  }
  // A string field must be UTF-8 or the control plane cannot parse the batch (which would then
  // come back from the spill file forever): a model a client sent in a multipart form is any
  // bytes. Not UTF-8 takes up to 3 bytes a byte (U+FFFD).
  void string(int field, std::string_view v) {
    if (v.empty() || common::log::isValidUtf8(v)) {
      bytes(field, v);
    } else {
      bytes(field, common::log::validUtf8(v));
    }
  }

  // A message field, set even when empty: begin() before its fields, end() after.
  char* begin(int field) {
    tag(field, kLengthDelimited);
    return p_++;  // a byte for the length, usually enough
  }
  void end(char* length_at) {
    char* content = length_at + 1;
    auto n = static_cast<size_t>(p_ - content);
    size_t extra = varintSize(n) - 1;
    if (extra > 0) {
      std::memmove(content + extra, content, n);
      p_ += extra;
    }
    Out(length_at).varint(n);
  }

 private:
  char* p_;
};

// What a record takes at most but for its strings: 40 numbers and tags of at most 12 bytes, the
// timestamp and the failed attempts' framing.
constexpr size_t kFixedRoom = 1024;

}  // namespace

void appendVarintField(std::string& out, int field, std::uint64_t value) {
  char buf[24];
  Out o(buf);
  o.uint(field, value);
  out.append(buf, static_cast<size_t>(o.at() - buf));
}

void appendStringField(std::string& out, int field, std::string_view value) {
  char head[16];
  Out o(head);
  std::string fixed;
  if (!value.empty() && !common::log::isValidUtf8(value)) {
    fixed = common::log::validUtf8(value);
    value = fixed;
  }
  if (value.empty()) {
    return;
  }
  o.tag(field, kLengthDelimited);
  o.varint(value.size());
  out.append(head, static_cast<size_t>(o.at() - head));
  out.append(value);
}

void appendRecord(std::string& batch, const RecordEntry& e, std::string_view client_ip,
                  Scratch& scratch) {
  std::string_view id(e.id.data(), e.id.size());
  std::string_view request_body, response_body;
  if (e.bodies != nullptr && e.bodies_in_record) {
    request_body = e.bodies->request.bytes;
    response_body = e.bodies->clientAnswer().bytes;
  }
  // Every string at up to 3 bytes a byte (not UTF-8), the bodies as they are.
  size_t strings = id.size() + e.request_id.view().size() + e.key_name.view().size() +
                   client_ip.size() + e.method.view().size() + e.path.view().size() +
                   e.route.view().size() + e.model.view().size() + e.served_model.view().size() +
                   e.upstream.view().size() + e.error_code.view().size();
  for (const auto& f : e.failed) {
    strings += f.upstream.view().size() + f.reason.view().size();
  }
  size_t room = kFixedRoom + 3 * strings + request_body.size() + response_body.size();
  if (scratch.room < room) {
    scratch.buffer = std::make_unique<char[]>(room);
    scratch.room = room;
  }

  // Fields in number order, as protobuf writes them (fwd/v1/records.proto).
  Out o(scratch.buffer.get());
  o.string(1, id);
  {
    // google.protobuf.Timestamp of Unix milliseconds (nanos never negative, as TimeUtil
    // makes them).
    std::int64_t seconds = e.time_ms / 1000;
    std::int64_t millis = e.time_ms % 1000;
    if (millis < 0) {
      --seconds;
      millis += 1000;
    }
    char* time = o.begin(2);
    o.uint(1, static_cast<std::uint64_t>(seconds));
    o.int32(2, static_cast<std::int32_t>(millis * 1'000'000));
    o.end(time);
  }
  o.string(3, e.request_id.empty() ? id : e.request_id.view());
  o.string(5, e.key_name.view());
  o.uint(6, e.key_id);
  o.string(7, client_ip);
  o.string(8, e.method.view());
  o.string(9, e.path.view());
  o.string(10, e.route.view());
  o.string(11, e.model.view());
  o.string(12, e.served_model.view());
  o.string(13, e.upstream.view());
  o.int32(14, e.status);
  o.string(15, e.error_code.view());
  o.uint(16, e.attempts);
  size_t failed = std::min<size_t>(e.failed_attempts_total, RecordEntry::kMaxFailedAttempts);
  for (size_t i = 0; i < failed; ++i) {
    char* attempt = o.begin(17);
    o.string(1, e.failed[i].upstream.view());
    o.string(2, e.failed[i].reason.view());
    o.int32(3, e.failed[i].status);
    o.end(attempt);
  }
  o.boolean(18, e.stream);
  o.uint(19, e.ttfb_us);
  o.uint(20, e.latency_us);
  o.uint(21, e.overhead_us);
  o.uint(22, e.prompt_tokens);
  o.uint(23, e.completion_tokens);
  o.uint(24, e.cached_tokens);
  o.uint(25, e.reasoning_tokens);
  o.boolean(26, e.usage_estimated);
  o.uint(27, e.cost_nano_usd);
  o.boolean(28, e.priced);
  o.boolean(29, e.tool_calls);
  o.boolean(30, e.multimodal);
  o.uint(31, e.bytes_in);
  o.uint(32, e.bytes_out);
  o.uint(33, static_cast<std::uint64_t>(e.outcome));
  o.bytes(34, request_body);
  o.bytes(35, response_body);

  // RecordBatch.records (field 2): tag, length, the record.
  auto n = static_cast<size_t>(o.at() - scratch.buffer.get());
  char head[16];
  Out h(head);
  h.tag(2, kLengthDelimited);
  h.varint(n);
  batch.append(head, static_cast<size_t>(h.at() - head));
  batch.append(scratch.buffer.get(), n);
}

}  // namespace fwd::dataplane::records::wire
