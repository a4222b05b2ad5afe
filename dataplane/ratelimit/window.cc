#include "dataplane/ratelimit/window.h"

#include <algorithm>

namespace fwd::dataplane::ratelimit {
namespace {

using Wide = unsigned __int128;

constexpr std::uint64_t kCountMask = 0xffff'ffffu;

std::uint32_t tagOf(std::uint64_t word) { return static_cast<std::uint32_t>(word >> 32); }
std::uint64_t countOf(std::uint64_t word) { return word & kCountMask; }
std::uint64_t pack(std::uint32_t tag, std::uint64_t count) {
  return (static_cast<std::uint64_t>(tag) << 32) | std::min(count, kCountMask);
}

// Elastic expiry keeps the window's end in units of W/1024 (at least 1 ms): 32 bits of them
// cover 4 million windows, and an end more than one window ahead of now is a tag that wrapped
// around, read as expired.
constexpr Millis kElasticSteps = 1024;
Millis elasticUnit(Millis window) { return std::max<Millis>(1, window / kElasticSteps); }
Millis elasticSpan(Millis window) {
  Millis unit = elasticUnit(window);
  return (window + unit - 1) / unit;
}
bool elasticLive(std::uint64_t word, Millis now, Millis window) {
  auto ahead = static_cast<std::int32_t>(tagOf(word) -
                                         static_cast<std::uint32_t>(now / elasticUnit(window)));
  return ahead > 0 && ahead <= elasticSpan(window);
}

// Takes one request off `slot` when it still holds the window `tag` (and `live` says so).
template <typename Live>
void decrement(std::atomic<std::uint64_t>& slot, Live live) {
  std::uint64_t old = slot.load(std::memory_order_acquire);
  while (live(old) && countOf(old) > 0) {
    if (slot.compare_exchange_weak(old, old - 1, std::memory_order_acq_rel)) {
      return;
    }
  }
}

}  // namespace

WindowResult WindowCounter::hit(RateStrategy strategy, std::uint64_t limit, Millis window,
                                Millis now) {
  limit = std::min(limit, kCountMask);
  WindowResult r;
  if (strategy == RateStrategy::kFixedWindowElasticExpiry) {
    std::uint32_t end = static_cast<std::uint32_t>(now / elasticUnit(window) + elasticSpan(window));
    std::uint64_t old = slots_[0].load(std::memory_order_acquire);
    std::uint64_t count = 0;
    do {
      count = (elasticLive(old, now, window) ? countOf(old) : 0) + 1;
    } while (!slots_[0].compare_exchange_weak(old, pack(end, count), std::memory_order_acq_rel));
    r.admitted = count <= limit;
    r.remaining = r.admitted ? limit - count : 0;
    r.reset = r.retry = window;
    r.tag = end;
    if (r.admitted) {
      r.retry = 0;
    }
    return r;
  }

  std::int64_t k = now / window;
  auto tag = static_cast<std::uint32_t>(k);
  Millis into = now - k * window;  // how far into window k
  if (strategy == RateStrategy::kFixedWindow) {
    r.reset = window - into;
    std::uint64_t old = slots_[0].load(std::memory_order_acquire);
    while (true) {
      std::uint64_t count = tagOf(old) == tag ? countOf(old) : 0;
      if (count + 1 > limit) {
        r.retry = r.reset;
        return r;
      }
      if (slots_[0].compare_exchange_weak(old, pack(tag, count + 1), std::memory_order_acq_rel)) {
        r.admitted = true;
        r.remaining = limit - count - 1;
        r.tag = tag;
        return r;
      }
    }
  }

  // Sliding window: window k counts in slots_[k & 1], window k - 1 in the other.
  std::uint64_t prev_word = slots_[(k - 1) & 1].load(std::memory_order_acquire);
  std::uint64_t prev =
      tagOf(prev_word) == static_cast<std::uint32_t>(k - 1) ? countOf(prev_word) : 0;
  Wide prev_weight = static_cast<Wide>(prev) * static_cast<std::uint64_t>(window - into);
  Wide capacity = static_cast<Wide>(limit) * static_cast<std::uint64_t>(window);
  std::atomic<std::uint64_t>& slot = slots_[k & 1];
  std::uint64_t old = slot.load(std::memory_order_acquire);
  while (true) {
    std::uint64_t count = tagOf(old) == tag ? countOf(old) : 0;
    // Admitted when prev · (W − into) / W + count + 1 ≤ limit, in integers.
    Wide used = prev_weight + static_cast<Wide>(count + 1) * static_cast<std::uint64_t>(window);
    if (used > capacity) {
      r.reset = (count > 0 ? 2 * window : window) - into;
      if (count + 1 > limit) {
        // Wait for window k + 1, where this window's count is the one that fades.
        Millis fade = window - static_cast<Millis>(static_cast<Wide>(limit - 1) *
                                                   static_cast<std::uint64_t>(window) / count);
        r.retry = window - into + std::max<Millis>(0, fade);
      } else {
        // Later in this window the previous one weighs less.
        Millis needed = window - static_cast<Millis>(static_cast<Wide>(limit - count - 1) *
                                                     static_cast<std::uint64_t>(window) / prev);
        r.retry = needed - into;
      }
      r.retry = std::max<Millis>(1, r.retry);
      return r;
    }
    if (slot.compare_exchange_weak(old, pack(tag, count + 1), std::memory_order_acq_rel)) {
      r.admitted = true;
      r.remaining =
          static_cast<std::uint64_t>((capacity - used) / static_cast<std::uint64_t>(window));
      r.reset = 2 * window - into;
      r.tag = tag;
      return r;
    }
  }
}

void WindowCounter::undo(RateStrategy strategy, Millis window, const WindowResult& admitted,
                         Millis now) {
  if (!admitted.admitted) {
    return;
  }
  if (strategy == RateStrategy::kFixedWindowElasticExpiry) {
    decrement(slots_[0], [&](std::uint64_t w) { return elasticLive(w, now, window); });
    return;
  }
  std::atomic<std::uint64_t>& slot =
      strategy == RateStrategy::kFixedWindow ? slots_[0] : slots_[admitted.tag & 1];
  decrement(slot, [&](std::uint64_t w) { return tagOf(w) == admitted.tag; });
}

WindowPeek WindowCounter::peek(RateStrategy strategy, std::uint64_t limit, Millis window,
                               Millis now) const {
  limit = std::min(limit, kCountMask);
  WindowPeek p;
  if (strategy == RateStrategy::kFixedWindowElasticExpiry) {
    std::uint64_t word = slots_[0].load(std::memory_order_acquire);
    if (elasticLive(word, now, window)) {
      p.used = countOf(word);
      // The end is kept in steps of the window (modulo 2^32 of them): `ahead` steps from now's.
      auto ahead = static_cast<std::int32_t>(tagOf(word) -
                                             static_cast<std::uint32_t>(now / elasticUnit(window)));
      // Rounded to a step, the end may lie up to a step beyond a window from now.
      p.reset = std::min(
          window, static_cast<Millis>(ahead) * elasticUnit(window) - now % elasticUnit(window));
    }
    p.remaining = p.used < limit ? limit - p.used : 0;
    return p;
  }
  std::int64_t k = now / window;
  auto tag = static_cast<std::uint32_t>(k);
  Millis into = now - k * window;
  if (strategy == RateStrategy::kFixedWindow) {
    std::uint64_t word = slots_[0].load(std::memory_order_acquire);
    p.used = tagOf(word) == tag ? countOf(word) : 0;
    p.remaining = p.used < limit ? limit - p.used : 0;
    p.reset = p.used > 0 ? window - into : 0;
    return p;
  }
  std::uint64_t prev_word = slots_[(k - 1) & 1].load(std::memory_order_acquire);
  std::uint64_t prev =
      tagOf(prev_word) == static_cast<std::uint32_t>(k - 1) ? countOf(prev_word) : 0;
  std::uint64_t word = slots_[k & 1].load(std::memory_order_acquire);
  std::uint64_t count = tagOf(word) == tag ? countOf(word) : 0;
  // In units of 1/window requests: prev · (W − into) + count · W.
  Wide used = static_cast<Wide>(prev) * static_cast<std::uint64_t>(window - into) +
              static_cast<Wide>(count) * static_cast<std::uint64_t>(window);
  Wide capacity = static_cast<Wide>(limit) * static_cast<std::uint64_t>(window);
  auto w = static_cast<std::uint64_t>(window);
  p.used = static_cast<std::uint64_t>((used + w - 1) / w);
  p.remaining = used < capacity ? static_cast<std::uint64_t>((capacity - used) / w) : 0;
  p.reset = count > 0 ? 2 * window - into : (prev > 0 ? window - into : 0);
  return p;
}

namespace {

constexpr std::uint64_t kTokenCountMask = (std::uint64_t{1} << 40) - 1;
constexpr std::uint32_t kTokenTagMask = (1u << 24) - 1;

std::uint32_t tokenTag(std::uint64_t word) { return static_cast<std::uint32_t>(word >> 40); }
std::uint64_t tokenCount(std::uint64_t word) { return word & kTokenCountMask; }
std::uint64_t tokenWord(std::uint32_t tag, std::uint64_t count) {
  return (static_cast<std::uint64_t>(tag) << 40) | std::min(count, kTokenCountMask);
}

}  // namespace

TokenWindow::Taken TokenWindow::take(std::uint64_t limit, Millis window, Millis now,
                                     std::uint64_t amount) {
  std::int64_t k = now / window;
  auto tag = static_cast<std::uint32_t>(k) & kTokenTagMask;
  Taken t;
  t.reset = (k + 1) * window - now;
  if (amount > limit) {
    t.too_large = true;
  }
  std::uint64_t old = word_.load(std::memory_order_acquire);
  while (true) {
    std::uint64_t used = tokenTag(old) == tag ? tokenCount(old) : 0;
    if (t.too_large || used + amount > limit) {
      t.remaining = used < limit ? limit - used : 0;
      return t;
    }
    if (word_.compare_exchange_weak(old, tokenWord(tag, used + amount),
                                    std::memory_order_acq_rel)) {
      t.admitted = true;
      t.remaining = limit - used - amount;
      t.tag = tag;
      return t;
    }
  }
}

WindowPeek TokenWindow::peek(std::uint64_t limit, Millis window, Millis now) const {
  std::int64_t k = now / window;
  auto tag = static_cast<std::uint32_t>(k) & kTokenTagMask;
  std::uint64_t word = word_.load(std::memory_order_acquire);
  WindowPeek p;
  p.used = tokenTag(word) == tag ? tokenCount(word) : 0;
  p.remaining = p.used < limit ? limit - p.used : 0;
  p.reset = p.used > 0 ? (k + 1) * window - now : 0;
  return p;
}

void TokenWindow::settle(Millis window, std::uint32_t tag, std::uint64_t taken, std::uint64_t used,
                         Millis now) {
  auto current = static_cast<std::uint32_t>(now / window) & kTokenTagMask;
  if (current != tag && used <= taken) {
    return;  // the estimate's window is over, and it was enough
  }
  std::uint64_t old = word_.load(std::memory_order_acquire);
  while (true) {
    std::uint64_t count = tokenTag(old) == current ? tokenCount(old) : 0;
    std::uint64_t next;
    if (current == tag) {
      next = count + used >= taken ? count + used - taken : 0;
    } else {
      next = count + (used - taken);
    }
    if (word_.compare_exchange_weak(old, tokenWord(current, next), std::memory_order_acq_rel)) {
      return;
    }
  }
}

}  // namespace fwd::dataplane::ratelimit
