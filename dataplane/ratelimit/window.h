// One request-rate window shared by every worker of a data plane: "at most `limit` requests per
// `window`", counted by one of three strategies (fwd.v1.RateStrategy). Lock-free: a hit is one
// compare-and-swap on a 64-bit word that packs a 32-bit window tag with a 32-bit count, so the
// count and the window it belongs to change together and two workers never both take the last
// slot. Time is passed in (milliseconds of the wall clock, so windows align to UTC minutes);
// tests inject it.
//
// Strategies:
//  - fixed window: windows [k·W, (k+1)·W); the count starts again at each boundary. A burst
//    of 2×limit can straddle a boundary.
//  - sliding window (a sliding-window counter, as Cloudflare's and the `limits` library's
//    sliding-window-counter): the previous fixed window's count weighted by the part of it the
//    last W still covers, plus the current window's count. Exact for evenly spread traffic; a
//    burst late in one window weighs as if spread over it. No log of timestamps is kept.
//  - fixed window with elastic expiry (the `limits` library's): the window starts at the first
//    request and every request, refused ones too, pushes its end to now + W, so a client that
//    keeps calling over the limit stays refused until it pauses for W.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/config/rate.h"

namespace fwd::dataplane::ratelimit {

using common::config::RateStrategy;
using Millis = std::int64_t;  // wall-clock milliseconds since the Unix epoch

/// What a hit found.
struct WindowResult {
  bool admitted = false;
  std::uint64_t remaining = 0;  // requests left in the window after this one (0 when refused)
  Millis reset = 0;             // until the window is back to its full limit
  Millis retry = 0;             // refused: until a request would be admitted
  std::uint32_t tag = 0;        // admitted: what undo() needs
};

/// What a window holds now, read without counting (fwdctl key get).
struct WindowPeek {
  std::uint64_t used = 0;       // sliding: the weighted count, rounded up
  std::uint64_t remaining = 0;  // requests (tokens) a window would still admit now
  Millis reset = 0;             // until the count is back to zero; 0: it is
};

class WindowCounter {
 public:
  /// Counts one request at `now` if the window admits it. `limit` ≤ 2^32 − 1; `window` ≥ 1 ms.
  WindowResult hit(RateStrategy strategy, std::uint64_t limit, Millis window, Millis now);

  /// Takes back an admitted hit (another window of the same limit refused the request) at
  /// `now`. No-op when the window it was counted in is over.
  void undo(RateStrategy strategy, Millis window, const WindowResult& admitted, Millis now);

  /// The window's count at `now`, as hit() would see it, without counting anything.
  WindowPeek peek(RateStrategy strategy, std::uint64_t limit, Millis window, Millis now) const;

 private:
  // tag << 32 | count. Fixed and elastic use slots_[0]; sliding uses slots_[k & 1] for window k.
  std::atomic<std::uint64_t> slots_[2] = {0, 0};
};

/// A token window: at most `limit` tokens per fixed window (aligned as above), taken as an
/// estimate when a request is admitted and corrected to what it used when it is over. One
/// 64-bit word: a 24-bit window tag and a 40-bit count (up to 10^12 tokens).
class TokenWindow {
 public:
  struct Taken {
    bool admitted = false;
    bool too_large = false;       // `amount` alone is over the limit: no wait helps
    std::uint64_t remaining = 0;  // after the amount taken (refused: what is left)
    Millis reset = 0;             // until the window starts again
    std::uint32_t tag = 0;        // admitted: what settle() needs
  };

  /// Takes `amount` at `now` when the window has room for all of it.
  Taken take(std::uint64_t limit, Millis window, Millis now, std::uint64_t amount);
  /// A request that took `taken` in window `tag` used `used`: the count is corrected while
  /// that window lasts; after it, what it used beyond its estimate counts in the window of
  /// `now`.
  void settle(Millis window, std::uint32_t tag, std::uint64_t taken, std::uint64_t used,
              Millis now);
  /// The window's count at `now`, reservations included.
  WindowPeek peek(std::uint64_t limit, Millis window, Millis now) const;

 private:
  std::atomic<std::uint64_t> word_{0};
};

}  // namespace fwd::dataplane::ratelimit
