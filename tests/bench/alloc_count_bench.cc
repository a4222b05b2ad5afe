// Counts heap allocations made by the benchmark thread, so each benchmark can report
// "allocs/op" next to its time: a per-request path that should not allocate shows it here.
// Replaces the global operator new/delete for the fwd_micro_bench binary only. The other files
// declare the two functions below themselves (there is no shared header).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace fwd::bench {

thread_local std::uint64_t tl_allocations = 0;

/// Allocations made so far by the calling thread.
std::uint64_t allocations() { return tl_allocations; }

/// Sets the "allocs/op" counter from the count taken before the timed loop.
void reportAllocations(benchmark::State& state, std::uint64_t before) {
  state.counters["allocs/op"] = benchmark::Counter(static_cast<double>(tl_allocations - before),
                                                   benchmark::Counter::kAvgIterations);
}

}  // namespace fwd::bench

void* operator new(std::size_t size) {
  ++fwd::bench::tl_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}

void* operator new[](std::size_t size) { return ::operator new(size); }

void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++fwd::bench::tl_allocations;
  return std::malloc(size == 0 ? 1 : size);
}

void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return ::operator new(size, tag);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
