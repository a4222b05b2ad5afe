#include "dataplane/ratelimit/budget.h"

#include <algorithm>

namespace fwd::dataplane::ratelimit {
namespace {

constexpr int kTagShift = 52;

std::uint64_t tagOf(std::int64_t period) { return static_cast<std::uint64_t>(period) & 0xfff; }

}  // namespace

std::uint64_t BudgetCounter::spent(std::int64_t period) const {
  std::uint64_t w = word_.load(std::memory_order_acquire);
  return (w >> kTagShift) == tagOf(period) ? (w & kMax) : 0;
}

void BudgetCounter::add(std::int64_t period, std::uint64_t amount) {
  std::uint64_t tag = tagOf(period);
  std::uint64_t w = word_.load(std::memory_order_relaxed);
  std::uint64_t next;
  do {
    std::uint64_t base = (w >> kTagShift) == tag ? (w & kMax) : 0;
    next = tag << kTagShift | (base + std::min(amount, kMax - base));
  } while (
      !word_.compare_exchange_weak(w, next, std::memory_order_acq_rel, std::memory_order_relaxed));
}

}  // namespace fwd::dataplane::ratelimit
