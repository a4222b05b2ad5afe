// One request's record as a worker hands it over: fixed size, no heap (but the bodies of a
// request that asked for them), so finishing a request costs a copy into a ring slot and
// nothing else. Strings longer than their field are cut (a
// model name of 200 bytes is kept to 127); the sender thread turns entries into fwd.v1.Record.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "dataplane/records/bodies.h"
#include "fwd/v1/records.pb.h"

namespace fwd::dataplane::records {

/// Up to N-1 bytes of a string, inline.
template <size_t N>
class FixedString {
 public:
  void assign(std::string_view s) {
    size_t n = std::min(s.size(), N - 1);
    // Cut where a UTF-8 character starts, not inside one (at most 3 continuation bytes back).
    for (size_t back = 0;
         n < s.size() && n > 0 && back < 3 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80;
         ++back) {
      --n;
    }
    size_ = static_cast<std::uint16_t>(n);
    if (size_ != 0)
      std::memcpy(data_.data(), s.data(), size_);  // an empty view's data may be null
  }
  std::string_view view() const { return {data_.data(), size_}; }
  bool empty() const { return size_ == 0; }

 private:
  std::uint16_t size_ = 0;
  std::array<char, N - 1> data_;
};

/// An attempt that failed before the one that answered (or before fwd gave up).
struct FailedAttemptEntry {
  FixedString<64> upstream;
  FixedString<32> reason;  // the attempt's metrics outcome: connect, http_503, first_byte_timeout
  std::int32_t status = 0;
};

struct RecordEntry {
  /// Failed attempts kept per record; more are counted in `failed_attempts_total` only.
  static constexpr size_t kMaxFailedAttempts = 4;

  std::array<char, 32> id{};  // random hex: the record's id, and the request's unless
                              // the upstream named it (request_id)
  std::int64_t time_ms = 0;   // when the request arrived (Unix ms)
  std::uint64_t key_id = 0;
  std::array<std::uint8_t, 16> client_ip{};  // common::net::IpAddress bytes
  std::int32_t status = 0;
  std::uint32_t attempts = 0;
  std::uint32_t failed_attempts_total = 0;
  std::uint64_t ttfb_us = 0;
  std::uint64_t latency_us = 0;
  std::uint64_t overhead_us = 0;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  std::uint64_t cached_tokens = 0;
  std::uint64_t reasoning_tokens = 0;
  std::uint64_t cost_nano_usd = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  fwd::v1::Outcome outcome = fwd::v1::OUTCOME_UNSPECIFIED;
  bool priced = false;
  bool stream = false;
  bool usage_estimated = false;
  bool tool_calls = false;
  bool multimodal = false;
  FixedString<8> method;
  FixedString<64> key_name;
  FixedString<192> path;
  FixedString<64> route;
  FixedString<128> model;
  FixedString<128> served_model;
  FixedString<64> upstream;
  FixedString<48> error_code;
  FixedString<96> request_id;  // the upstream's x-request-id; empty: the record id is it
  std::array<FailedAttemptEntry, kMaxFailedAttempts> failed{};
  // The request's bodies, for the JSONL files and, with bodies_in_record (set only with them),
  // for the record; the recorder's thread frees them, so a slot's bodies are null when it is
  // claimed. Null for nearly every request: nothing allocated.
  std::unique_ptr<Bodies> bodies;
  bool bodies_in_record = false;
};

}  // namespace fwd::dataplane::records
