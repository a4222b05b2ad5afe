// Micro-benchmarks of the two per-request lookups in the compiled config snapshot: the API key
// (SHA-256 of the presented secret, then a hash-map probe) and the upstream candidates for a
// model (every pattern of every upstream, in try order).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/token.h"
#include "dataplane/config/compiled_config.h"
#include "fwd/v1/config.pb.h"

namespace fwd::bench {
std::uint64_t allocations();
void reportAllocations(benchmark::State& state, std::uint64_t before);
}  // namespace fwd::bench

namespace {

using fwd::dataplane::config::CompiledConfig;
using fwd::dataplane::config::CompiledConfigConstSharedPtr;

// The container candidates() appends to, read off its signature so the benchmark follows the
// API (a std::vector, or an inline list that does not allocate for a handful of upstreams).
template <typename F>
struct OutParam;
template <typename C, typename Out>
struct OutParam<void (C::*)(std::string_view, Out&) const> {
  using type = Out;
};
using CandidateOut = OutParam<decltype(&CompiledConfig::candidates)>::type;

CompiledConfigConstSharedPtr compileOrDie(const fwd::v1::Snapshot& snapshot) {
  auto cfg = CompiledConfig::compile(
      snapshot, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
  if (!cfg.ok()) {
    std::fprintf(stderr, "snapshot does not compile: %s\n", cfg.status().ToString().c_str());
    std::abort();
  }
  return *cfg;
}

// `n` upstreams with four patterns each, shaped like a real fleet: two exact model names, a
// family prefix and an infix for fine-tunes. Every fifth upstream also serves "gpt-*", so a
// popular model has several candidates spread over the whole list.
CompiledConfigConstSharedPtr upstreamConfig(int n) {
  fwd::v1::Snapshot s;
  s.set_version(1);
  for (int i = 0; i < n; ++i) {
    fwd::v1::Upstream* u = s.add_upstreams();
    std::string tag = std::to_string(i);
    u->set_name("upstream-" + tag);
    u->set_id(i + 1);
    u->set_base_url("http://10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) +
                    ":8000/v1");
    u->set_api_key("sk-upstream-" + tag);
    u->set_priority(i % 3);
    if (i % 5 == 0) {
      u->add_models("gpt-*");
    }
    u->add_models("org" + tag + "/llama-3.3-70b-instruct");
    u->add_models("org" + tag + "/mixtral-8x22b-instruct");
    u->add_models("family" + tag + "-*");
    u->add_models("*-ft-" + tag + "-*");
  }
  return compileOrDie(s);
}

// Args: {upstreams, which model}. 0: popular model served by every fifth upstream ("gpt-*");
// 1: an exact name only the last upstream serves; 2: a model nobody serves (full scan, no hit).
void BM_Candidates(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  CompiledConfigConstSharedPtr cfg = upstreamConfig(n);
  std::string model;
  switch (state.range(1)) {
    case 0:
      model = "gpt-4o-mini-2024-07-18";
      state.SetLabel("popular");
      break;
    case 1:
      model = "org" + std::to_string(n - 1) + "/mixtral-8x22b-instruct";
      state.SetLabel("exact-one");
      break;
    default:
      model = "unknown-model-v9";
      state.SetLabel("miss");
      break;
  }
  size_t found = 0;
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    // A fresh list per request, as the proxy holds one while it awaits the attempts; a list
    // that has to allocate shows in allocs/op.
    CandidateOut out;
    cfg->candidates(model, out);
    found = out.size();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  fwd::bench::reportAllocations(state, before);
  state.counters["candidates"] = static_cast<double>(found);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Candidates)->ArgsProduct({{1, 10, 100}, {0, 1, 2}});

// A key table of `n` keys; presented secrets look like generated ones ("fwd-" + 43 base62).
struct KeyTable {
  CompiledConfigConstSharedPtr cfg;
  std::vector<std::string> secrets;
};

KeyTable keyTable(int n) {
  KeyTable t;
  fwd::v1::Snapshot s;
  s.set_version(1);
  for (int i = 0; i < n; ++i) {
    std::string secret = fwd::common::crypto::randomToken("fwd-");
    fwd::v1::Key* k = s.add_keys();
    k->set_name("key-" + std::to_string(i));
    k->set_id(i + 1);
    k->set_secret_sha256(fwd::common::crypto::sha256Hex(secret));
    k->set_display_prefix(secret.substr(0, 8));
    t.secrets.push_back(std::move(secret));
  }
  t.cfg = compileOrDie(s);
  return t;
}

// Args: {keys, hit}. Hits cycle through all secrets so the table's cache footprint counts.
void BM_FindKey(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const bool hit = state.range(1) != 0;
  KeyTable t = keyTable(n);
  std::vector<std::string> presented = t.secrets;
  if (!hit) {
    for (auto& s : presented) {
      s = fwd::common::crypto::randomToken("fwd-");  // same shape, not in the table
    }
  }
  state.SetLabel(hit ? "hit" : "miss");
  size_t i = 0;
  size_t found = 0;
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    const auto* key = t.cfg->findKey(presented[i]);
    benchmark::DoNotOptimize(key);
    found += key != nullptr;
    if (++i == presented.size()) {
      i = 0;
    }
  }
  fwd::bench::reportAllocations(state, before);
  if ((found != 0) != hit) {
    state.SkipWithError("findKey hit/miss does not match the setup");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FindKey)->ArgsProduct({{10, 10'000}, {1, 0}});

// What a keep-alive connection pays per request: KeyMemo::find with the secret it presented on
// the previous request (a constant-time compare, no hash). Arg 1: a different key every call
// (the memo misses, hashes, and remembers the new one), for the cost of a miss.
void BM_KeyMemo(benchmark::State& state) {
  const bool alternate = state.range(0) != 0;
  KeyTable t = keyTable(10);
  fwd::dataplane::config::KeyMemo memo;
  size_t i = 0;
  size_t found = 0;
  state.SetLabel(alternate ? "new secret each call" : "same secret");
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    const auto* key = memo.find(t.cfg, t.secrets[i]);
    benchmark::DoNotOptimize(key);
    found += key != nullptr;
    if (alternate && ++i == t.secrets.size()) {
      i = 0;
    }
  }
  fwd::bench::reportAllocations(state, before);
  if (found != static_cast<size_t>(state.iterations())) {
    state.SkipWithError("KeyMemo::find missed a key of the table");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyMemo)->Arg(0)->Arg(1);

// The hash alone, as findKey computes it (OpenSSL's one-shot SHA256()), to separate SHA-256
// from the table probe. On OpenSSL 3 the one-shot fetches the digest from the provider store
// (a read lock) and allocates a context on every call; two threads show whether that shared
// state costs anything.
void BM_Sha256KeySecret(benchmark::State& state) {
  std::string secret = fwd::common::crypto::randomToken("fwd-");
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    benchmark::DoNotOptimize(secret);
    auto digest = fwd::common::crypto::sha256(secret);
    benchmark::DoNotOptimize(digest);
  }
  fwd::bench::reportAllocations(state, before);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(secret.size()));
}
BENCHMARK(BM_Sha256KeySecret)->Threads(1)->Threads(2);

// For comparison: the digest fetched once and a context reused per thread (what a per-worker
// hasher would do). Same output as the one-shot.
void BM_Sha256KeySecretReusedCtx(benchmark::State& state) {
  std::string secret = fwd::common::crypto::randomToken("fwd-");
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  fwd::common::crypto::Sha256Digest digest{};
  unsigned int len = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(secret);
    EVP_DigestInit_ex(ctx, md, nullptr);
    EVP_DigestUpdate(ctx, secret.data(), secret.size());
    EVP_DigestFinal_ex(ctx, digest.data(), &len);
    benchmark::DoNotOptimize(digest);
  }
  if (digest != fwd::common::crypto::sha256(secret)) {
    state.SkipWithError("reused-context digest differs from the one-shot");
  }
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(secret.size()));
}
BENCHMARK(BM_Sha256KeySecretReusedCtx)->Threads(1)->Threads(2);

}  // namespace
