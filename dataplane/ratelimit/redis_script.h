// The Lua scripts that make a key's limits exact across data planes sharing one Redis: one
// script run per request checks every limit that applies and, only when all admit, counts the
// request in each (Redis runs a script atomically, so no two data planes both take the last
// slot), on Redis's clock (TIME), so every replica sees the same windows. A second script, sent
// without waiting when the request is over, replaces the token reservation with what the
// answer used and gives back the in-flight slot. The counting matches the in-memory windows
// (window.h), with Redis key expiry doing the forgetting.
//
// Keys: everything of one key lives under its prefix "fwd:{k<id>}" (one hash slot):
//   <prefix>:r:<window ms>:f:<k>   a fixed window's count (window k = now / window ms)
//   <prefix>:r:<window ms>:s:<k>   a sliding window's fixed-window counts (k and k - 1 are read)
//   <prefix>:r:<window ms>:e       an elastic-expiry window's count (expires a window after the
//                                  last request)
//   <prefix>:t:<window ms>:<k>     a token window's count
//   <prefix>:inflight              requests in flight (expires 10 minutes after the last
//                                  admission, so a data plane that died holding slots heals)
//   <prefix>:b:<kind>:<period>     what a budget spent: kind 1 nano-USD, 2 tokens, 3 a money
//                                  budget's unpriced tokens; period d<day>, m<month> (UTC,
//                                  common/config/budget.h: kept 3 and 40 days) or t (total,
//                                  kept for good). Counted when a request ends, in the period
//                                  it ends in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fwd::dataplane::ratelimit {

/// The admission script. KEYS[1] = prefix. ARGV = N, then N × (limit, window ms, strategy 1|2|3)
/// for the request windows; M, then M × (limit, window ms) for the token windows; B, then B × (kind
/// 1|2, period 1|2|3, limit) for the budgets; the tokens to reserve; the in-flight cap (0: none).
/// Returns "admitted refusal rl rw rr rs retry tl tw tr ts now bi bs", fourteen decimal
/// integers in one string (one reply object to parse, not fourteen): admitted 1|0, refusal
/// (0 none, 1 rate, 2 parallel, 3 tokens, 4 too large, 5 budget), the rate limit, window ms,
/// remaining, reset ms and retry ms, the token limit, window ms, remaining and reset ms, Redis's
/// now in ms, and the spent budget (1-based, 0: none) with what it spent; the rate (token)
/// fields describe the tightest window, or the one that refused.
const std::string& admitScript();

struct AdmitReply {
  std::int64_t v[14];
};
/// The admission script's reply text; false when it is not fourteen non-negative integers.
bool parseAdmitReply(std::string_view text, AdmitReply& out);

/// The settle script. KEYS[1] = prefix. ARGV = the admission's now ms, tokens reserved, tokens
/// used, release 1|0, M, then M × window ms of the token windows, then B, then B × (kind 1|2|3,
/// period 1|2|3, amount) to add to the budgets. Returns the in-flight count after.
const std::string& settleScript();

/// The peek script (fwdctl key get): reads a key's counts and counts nothing. KEYS[1] = prefix,
/// ARGV as the admission script's with token windows and budgets. Returns decimal integers in
/// one string: Redis's now ms; per request window used (rounded up), remaining and reset ms;
/// per token window used and reset ms; the requests in flight; per budget spent and, for a
/// money budget, its unpriced tokens (else 0). A reset of 0: the count is already zero.
const std::string& peekScript();

/// What both scripts start with: `now` from Redis's TIME, and period(1|2|3) naming the UTC day
/// ("d<days since 1970-01-01>"), month ("m<months since 1970-01>") or "t" (total) of `now`.
const std::string& scriptPreamble();

/// The scripts' SHA-1 in hex, as EVALSHA takes them.
const std::string& admitScriptSha();
const std::string& settleScriptSha();

}  // namespace fwd::dataplane::ratelimit
