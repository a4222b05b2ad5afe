// What a key spent of one budget in the current calendar period (common/config/budget.h), in a
// data plane's memory, shared by every worker. Lock-free: one 64-bit word packs the period's
// tag (its index mod 4096, in the top 12 bits) with the amount spent in it (the low 52 bits:
// up to 4.5 × 10^15 tokens or nano-USD, US$4.5M), so the first spend of a new period starts
// it again with one compare-and-swap. What a request spends counts in the period it finishes
// in. In memory a data plane counts alone and forgets at restart; Redis keeps budgets for the
// fleet (redis_script.h).
#pragma once

#include <atomic>
#include <cstdint>

#include "common/config/budget.h"

namespace fwd::dataplane::ratelimit {

class BudgetCounter {
 public:
  /// What was spent in `period` (a budgetPeriodIndex); 0 when the counter is in another one.
  std::uint64_t spent(std::int64_t period) const;
  /// Adds `amount` in `period`, starting it (from 0) when the counter was in another one.
  /// Saturates at kMax.
  void add(std::int64_t period, std::uint64_t amount);

  static constexpr std::uint64_t kMax = (std::uint64_t{1} << 52) - 1;

 private:
  std::atomic<std::uint64_t> word_{0};
};

}  // namespace fwd::dataplane::ratelimit
