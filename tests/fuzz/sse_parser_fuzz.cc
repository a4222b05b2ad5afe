// Fuzzes the SSE parser: the same stream fed whole and fed in pieces (sizes from the first
// byte) must give the same events, and a counting-only parser the same count.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/sse/sse_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

struct Seen {
  std::vector<std::string> events;
  size_t count = 0;
  bool failed = false;
};

Seen run(std::string_view in, size_t step) {
  Seen out;
  fwd::common::sse::SseParser parser(
      [&](const fwd::common::sse::Event& e) {
        out.events.push_back(e.event + "\x1f" + e.id + "\x1f" + e.data);
      },
      4096);
  for (size_t at = 0; at < in.size(); at += step) {
    parser.feed(in.substr(at, step));
  }
  out.count = parser.eventCount();
  out.failed = parser.failed();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const size_t step = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  Seen whole = run(in, in.size() + 1);
  Seen pieces = run(in, step);
  FUZZ_CHECK(whole.failed == pieces.failed);
  if (!whole.failed) {
    FUZZ_CHECK(whole.events == pieces.events);
  }
  FUZZ_CHECK(whole.count == whole.events.size());

  fwd::common::sse::SseParser counting(nullptr, 4096);
  for (size_t at = 0; at < in.size(); at += step) {
    counting.feed(in.substr(at, step));
  }
  FUZZ_CHECK(counting.failed() == whole.failed);
  if (!whole.failed) {
    FUZZ_CHECK(counting.eventCount() == whole.count);
  }
  return 0;
}
