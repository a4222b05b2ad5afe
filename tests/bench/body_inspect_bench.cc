// Micro-benchmark of the request-body inspection every JSON request goes through: simdjson
// On-Demand reads "model" and "stream" and validates the rest of the document. Bodies: a small
// chat request, and chat requests whose prompt makes the body ~10 KB and ~100 KB.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstdint>
#include <string>

#include "dataplane/proxy/body_inspect.h"

namespace fwd::bench {
std::uint64_t allocations();
void reportAllocations(benchmark::State& state, std::uint64_t before);
}  // namespace fwd::bench

namespace {

using fwd::dataplane::proxy::BodyError;
using fwd::dataplane::proxy::BodyInfo;
using fwd::dataplane::proxy::inspectJsonBody;

// Prose with the escapes real prompts carry (quotes, newlines, a tab, a unicode escape).
std::string promptText(size_t bytes) {
  static const std::string kParagraph =
      "Summarize the following incident report in three bullet points.\\n"
      "At 03:12 UTC the \\\"eu-west\\\" pool began returning 502s; the on-call engineer "
      "rolled back build 4821 at 03:40.\\tLatency recovered by 03:47 \\u2014 no data was lost.\\n";
  std::string out;
  while (out.size() < bytes) {
    out += kParagraph;
  }
  return out;
}

std::string chatBody(size_t prompt_bytes) {
  if (prompt_bytes == 0) {
    // ~150 bytes: the typical small chat request.
    return R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},)"
           R"({"role":"user","content":"Say hello in French."}],"temperature":0.2,"stream":true})";
  }
  return R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a careful )"
         R"(assistant."},{"role":"user","content":")" +
         promptText(prompt_bytes) +
         R"("}],"temperature":0.2,"max_tokens":512,"top_p":1,"stop":null,"stream":true,)"
         R"("stream_options":{"include_usage":true},"user":"bench"})";
}

// Arg: approximate prompt size in bytes (0: the small body).
void BM_InspectJsonBody(benchmark::State& state) {
  std::string body = chatBody(static_cast<size_t>(state.range(0)));
  // The proxy reserves the padding when it reads the body, so this is the steady state.
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::parser parser;  // one per worker, reused
  {
    BodyInfo info;
    BodyError error;
    if (!inspectJsonBody(parser, body, info, error) || info.model != "gpt-4o-mini" ||
        !info.stream) {
      state.SkipWithError(("inspectJsonBody rejected the body: " + error.message).c_str());
      return;
    }
  }
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    BodyInfo info;
    BodyError error;
    bool ok = inspectJsonBody(parser, body, info, error);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(info);
  }
  fwd::bench::reportAllocations(state, before);
  state.counters["body_bytes"] = static_cast<double>(body.size());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_InspectJsonBody)->Arg(0)->Arg(10'000)->Arg(100'000);

}  // namespace
