// Micro-benchmarks of the model-name glob matcher, which routing runs for every pattern of every
// upstream (and key) on each request. Cases: exact names, a trailing star, a star on both sides,
// and a hostile many-star pattern that forces the single backtrack point to retry.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "common/match/glob.h"

namespace {

using fwd::common::match::globMatch;

void runGlob(benchmark::State& state, std::string_view pattern, std::string_view text,
             bool expected) {
  if (globMatch(pattern, text) != expected) {
    state.SkipWithError("globMatch returned an unexpected result");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(pattern);
    benchmark::DoNotOptimize(text);
    bool matched = globMatch(pattern, text);
    benchmark::DoNotOptimize(matched);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}

void BM_GlobExactHit(benchmark::State& state) {
  runGlob(state, "gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", true);
}
BENCHMARK(BM_GlobExactHit);

// The common miss: the first character already differs.
void BM_GlobExactMiss(benchmark::State& state) {
  runGlob(state, "claude-3-5-sonnet-20241022", "gpt-4o-mini-2024-07-18", false);
}
BENCHMARK(BM_GlobExactMiss);

void BM_GlobPrefixHit(benchmark::State& state) {
  runGlob(state, "gpt-*", "gpt-4o-mini-2024-07-18", true);
}
BENCHMARK(BM_GlobPrefixHit);

void BM_GlobPrefixMiss(benchmark::State& state) {
  runGlob(state, "gpt-*", "qwen2.5-72b-instruct", false);
}
BENCHMARK(BM_GlobPrefixMiss);

void BM_GlobInfixHit(benchmark::State& state) {
  runGlob(state, "*qwen*", "Qwen/qwen2.5-coder-32b-instruct", true);
}
BENCHMARK(BM_GlobInfixHit);

// A miss has to slide the star over the whole name.
void BM_GlobInfixMiss(benchmark::State& state) {
  runGlob(state, "*qwen*", "meta-llama/Llama-3.3-70B-Instruct-Turbo", false);
}
BENCHMARK(BM_GlobInfixMiss);

// Hostile input: a 256-character pattern (the validation limit) of "a*" pairs ending in 'b'
// against 256 'a's. Each star's backtrack restarts the rest of the pattern; the greedy matcher
// keeps this polynomial, and this case shows the worst a model name can cost.
void BM_GlobManyStarPathological(benchmark::State& state) {
  std::string pattern;
  while (pattern.size() < 255) {
    pattern += "a*";
  }
  pattern.resize(255);
  pattern += 'b';
  std::string text(256, 'a');
  runGlob(state, pattern, text, false);
}
BENCHMARK(BM_GlobManyStarPathological);

// Same shape at a realistic size: a 20-star pattern against a 64-character model name.
void BM_GlobManyStarShort(benchmark::State& state) {
  std::string pattern;
  for (int i = 0; i < 20; ++i) {
    pattern += "a*";
  }
  pattern += 'b';
  std::string text(64, 'a');
  runGlob(state, pattern, text, false);
}
BENCHMARK(BM_GlobManyStarShort);

}  // namespace
