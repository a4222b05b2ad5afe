// Micro-benchmarks of the request-path metrics: the worker-sharded families the data plane
// updates at the end of every request (cell lookup by label values, then a single-writer
// add/observe), a cell cached by the caller, and prometheus-cpp's own Counter and Histogram
// (atomic read-modify-write; the histogram takes a mutex) as the baseline the sharding replaced.
#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <string>

#include "dataplane/metrics/metrics.h"

namespace fwd::bench {
std::uint64_t allocations();
void reportAllocations(benchmark::State& state, std::uint64_t before);
}  // namespace fwd::bench

namespace {

using fwd::dataplane::metrics::Metrics;

constexpr size_t kWorkers = 2;
constexpr size_t kShard = 1;

// Label values as the proxy passes them at the end of a request.
const std::string kRoute = "/v1/chat/completions";
const std::string kModel = "gpt-4o-mini-2024-07-18";
const std::string kUpstream = "openai-primary";

// Arg: distinct label sets already in the shard (models x upstreams seen so far), so the map
// lookup runs against a realistic table rather than a single entry.
void populate(Metrics& m, int label_sets) {
  for (int i = 0; i < label_sets; ++i) {
    std::string model = "model-" + std::to_string(i);
    m.requests.cell(kShard, {kRoute, model, kUpstream, "200"}).add();
    m.request_duration.cell(kShard, {kRoute, "upstream-" + std::to_string(i)}).observe(0.1);
  }
}

void BM_MetricsRequestsCellAdd(benchmark::State& state) {
  Metrics m(kWorkers);
  populate(m, static_cast<int>(state.range(0)));
  int status = 200;
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    // Exactly what the proxy does, including formatting the status code.
    m.requests.cell(kShard, {kRoute, kModel, kUpstream, std::to_string(status)}).add();
  }
  fwd::bench::reportAllocations(state, before);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsRequestsCellAdd)->Arg(1)->Arg(100);

void BM_MetricsRequestDurationCellObserve(benchmark::State& state) {
  Metrics m(kWorkers);
  populate(m, static_cast<int>(state.range(0)));
  double seconds = 0.0;
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    seconds += 0.0123;  // walk the buckets rather than hit one
    if (seconds > 400) {
      seconds = 0.0;
    }
    m.request_duration.cell(kShard, {kRoute, kUpstream}).observe(seconds);
  }
  fwd::bench::reportAllocations(state, before);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsRequestDurationCellObserve)->Arg(1)->Arg(100);

// The floor: a cell resolved once (as in_flight is, in the worker context) and reused.
void BM_MetricsCachedCellAdd(benchmark::State& state) {
  Metrics m(kWorkers);
  auto& cell = m.requests.cell(kShard, {kRoute, kModel, kUpstream, "200"});
  for (auto _ : state) {
    cell.add();
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsCachedCellAdd);

void BM_MetricsCachedHistogramObserve(benchmark::State& state) {
  Metrics m(kWorkers);
  auto& cell = m.request_duration.cell(kShard, {kRoute, kUpstream});
  double seconds = 0.0;
  for (auto _ : state) {
    seconds += 0.0123;
    if (seconds > 400) {
      seconds = 0.0;
    }
    cell.observe(seconds);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsCachedHistogramObserve);

// Baseline: prometheus-cpp's counter (an atomic add; uncontended here, one thread).
// With two threads both hit the same cell, as workers sharing one label set would.
void BM_PrometheusCounterIncrement(benchmark::State& state) {
  static prometheus::Registry registry;
  static auto& counter =
      prometheus::BuildCounter()
          .Name("fwd_bench_requests_total")
          .Help("bench")
          .Register(registry)
          .Add({{"route", kRoute}, {"model", kModel}, {"upstream", kUpstream}, {"status", "200"}});
  for (auto _ : state) {
    counter.Increment();
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrometheusCounterIncrement)->Threads(1)->Threads(2);

// Baseline: prometheus-cpp's histogram (bucket search, then a mutex around the update).
void BM_PrometheusHistogramObserve(benchmark::State& state) {
  static prometheus::Registry registry;
  static auto& histogram = prometheus::BuildHistogram()
                               .Name("fwd_bench_request_duration_seconds")
                               .Help("bench")
                               .Register(registry)
                               .Add({{"route", kRoute}, {"upstream", kUpstream}},
                                    prometheus::Histogram::BucketBoundaries(
                                        fwd::dataplane::metrics::latencyBuckets().begin(),
                                        fwd::dataplane::metrics::latencyBuckets().end()));
  double seconds = 0.0;
  for (auto _ : state) {
    seconds += 0.0123;
    if (seconds > 400) {
      seconds = 0.0;
    }
    histogram.Observe(seconds);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrometheusHistogramObserve)->Threads(1)->Threads(2);

// Same family lookup the proxy would do with prometheus-cpp: Family::Add with the label map.
void BM_PrometheusFamilyAddIncrement(benchmark::State& state) {
  prometheus::Registry registry;
  auto& family =
      prometheus::BuildCounter().Name("fwd_bench_requests_total").Help("bench").Register(registry);
  int status = 200;
  std::uint64_t before = fwd::bench::allocations();
  for (auto _ : state) {
    family
        .Add({{"route", kRoute},
              {"model", kModel},
              {"upstream", kUpstream},
              {"status", std::to_string(status)}})
        .Increment();
  }
  fwd::bench::reportAllocations(state, before);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrometheusFamilyAddIncrement);

}  // namespace
