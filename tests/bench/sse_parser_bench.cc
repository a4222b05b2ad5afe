// Micro-benchmark of the SSE parser the data plane runs over every streamed response it relays:
// a realistic OpenAI chat-completion stream (role chunk, 48 content chunks, finish chunk,
// [DONE]), fed as the network hands it over (16 KiB reads) and one event per read (a slow
// upstream flushing each token); and of the whole per-event work of the relay, the chunked
// framing checked by ChunkedScanner with the payload counted by the parser.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/sse/sse_parser.h"
#include "dataplane/proxy/chunked_scanner.h"

namespace fwd::bench {
std::uint64_t allocations();
void reportAllocations(benchmark::State& state, std::uint64_t before);
}  // namespace fwd::bench

namespace {

using fwd::common::sse::Event;
using fwd::common::sse::SseParser;

constexpr int kContentChunks = 48;

std::string chunkEvent(std::string_view delta, std::string_view finish) {
  std::string s =
      "data: {\"id\":\"chatcmpl-AqZ3kT9bY2Lr8nV0xW5cH1dE7fG4\",\"object\":"
      "\"chat.completion.chunk\",\"created\":1732233600,\"model\":"
      "\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0ba0d124f1\","
      "\"choices\":[{\"index\":0,\"delta\":";
  s += delta;
  s += ",\"logprobs\":null,\"finish_reason\":";
  s += finish;
  s += "}]}\n\n";
  return s;
}

// Returns the events one by one; their concatenation is the stream (~50 events, ~250 B each).
std::vector<std::string> chatStream() {
  static const char* kWords[] = {" The",  " gateway", " relays", " each",    " token", " as",
                                 " soon", " as",      " it",     " arrives", ",",      " without"};
  std::vector<std::string> events;
  events.push_back(chunkEvent(R"({"role":"assistant","content":"","refusal":null})", "null"));
  for (int i = 0; i < kContentChunks; ++i) {
    std::string delta = std::string(R"({"content":")") + kWords[i % 12] + "\"}";
    events.push_back(chunkEvent(delta, "null"));
  }
  events.push_back(chunkEvent("{}", "\"stop\""));
  events.push_back("data: [DONE]\n\n");
  return events;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    out += p;
  }
  return out;
}

// Arg: piece size in bytes (the whole stream fits in one 16 KiB read).
void BM_SseParseStreamChunked(benchmark::State& state) {
  const std::vector<std::string> events = chatStream();
  const std::string stream = join(events);
  const size_t piece = static_cast<size_t>(state.range(0));
  size_t dispatched = 0;
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    // A parser per stream, as the proxy creates one per streamed response.
    SseParser parser([&](const Event& e) { dispatched += e.data.size(); });
    std::string_view rest = stream;
    while (!rest.empty()) {
      size_t n = std::min(piece, rest.size());
      parser.feed(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    benchmark::DoNotOptimize(parser.eventCount());
  }
  fwd::bench::reportAllocations(state, before);
  benchmark::DoNotOptimize(dispatched);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.counters["stream_bytes"] = static_cast<double>(stream.size());
}
BENCHMARK(BM_SseParseStreamChunked)->Arg(16 * 1024)->Arg(1024);

// One feed per event: the common case for token-by-token streaming.
// Feeds the stream one event per call to a new parser per stream, built by `make`.
template <typename MakeParser>
void parsePerEvent(benchmark::State& state, MakeParser make) {
  const std::vector<std::string> events = chatStream();
  const size_t stream_bytes = join(events).size();
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    SseParser parser = make();
    for (const auto& e : events) {
      parser.feed(e);
    }
    benchmark::DoNotOptimize(parser.eventCount());
  }
  fwd::bench::reportAllocations(state, before);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream_bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
}

void BM_SseParseStreamPerEvent(benchmark::State& state) {
  size_t dispatched = 0;
  parsePerEvent(state, [&] {
    return SseParser([&](const Event& e) { dispatched += e.data.size(); });
  });
  benchmark::DoNotOptimize(dispatched);
}
BENCHMARK(BM_SseParseStreamPerEvent);

// A callback that ignores every event: the cost of building Event::data for a consumer that
// never reads it (the proxy passes no callback; see CountOnly below).
void BM_SseParseStreamPerEventNoopCallback(benchmark::State& state) {
  parsePerEvent(state, [] { return SseParser([](const Event&) {}); });
}
BENCHMARK(BM_SseParseStreamPerEventNoopCallback);

// No callback at all: the parser counts events and keeps none of their fields. This is what
// the proxy runs on every relayed stream.
void BM_SseParseStreamPerEventCountOnly(benchmark::State& state) {
  parsePerEvent(state, [] { return SseParser(nullptr); });
}
BENCHMARK(BM_SseParseStreamPerEventCountOnly);

// The relay's work on a chunked SSE body, one chunk per event as upstreams send it:
// ChunkedScanner checks the framing and hands each payload to a count-only parser. Arg 0: the
// whole body in one read (an upstream that sent the response at once); 1: one read per chunk
// (events sent as they are generated). Items are events.
void BM_ChunkedRelayScan(benchmark::State& state) {
  const std::vector<std::string> events = chatStream();
  std::vector<std::string> chunks;
  for (const auto& e : events) {
    char size[20];
    int n = std::snprintf(size, sizeof size, "%zx\r\n", e.size());
    chunks.push_back(std::string(size, static_cast<size_t>(n)) + e + "\r\n");
  }
  chunks.push_back("0\r\n\r\n");
  const std::string body = join(chunks);
  const bool per_chunk = state.range(0) == 1;
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    fwd::dataplane::proxy::ChunkedScanner scanner;
    SseParser parser(nullptr);
    auto see = [&](std::string_view payload) { parser.feed(payload); };
    if (per_chunk) {
      for (const auto& c : chunks) {
        benchmark::DoNotOptimize(scanner.scan(c, see));
      }
    } else {
      benchmark::DoNotOptimize(scanner.scan(body, see));
    }
    if (!scanner.done() || parser.eventCount() != events.size()) {
      state.SkipWithError("the body was not scanned whole");
      break;
    }
  }
  fwd::bench::reportAllocations(state, before);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
}
BENCHMARK(BM_ChunkedRelayScan)->Arg(0)->Arg(1);

}  // namespace
