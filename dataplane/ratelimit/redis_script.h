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
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fwd::dataplane::ratelimit {

/// KEYS[1] = prefix. ARGV = N, then N × (limit, window ms, strategy 1|2|3) for the request
/// windows; M, then M × (limit, window ms) for the token windows; the tokens to reserve; the
/// in-flight cap (0: none).
/// Returns "admitted refusal rl rw rr rs retry tl tw tr ts now", twelve decimal integers in one
/// string (one reply object to parse, not twelve): admitted 1|0, refusal (0 none, 1 rate,
/// 2 parallel, 3 tokens, 4 too large), the rate limit, window ms, remaining, reset ms and retry
/// ms, the token limit, window ms, remaining and reset ms, and Redis's now in ms; the rate
/// (token) fields describe the tightest window, or the one that refused.
extern const char kAdmitScript[];

struct AdmitReply {
  std::int64_t v[12];
};
/// The admission script's reply text; false when it is not twelve non-negative integers.
bool parseAdmitReply(std::string_view text, AdmitReply& out);

/// KEYS[1] = prefix. ARGV = the admission's now ms, tokens reserved, tokens used, release 1|0,
/// M, then M × window ms of the token windows. Returns the in-flight count after.
extern const char kSettleScript[];

/// The scripts' SHA-1 in hex, as EVALSHA takes them.
const std::string& admitScriptSha();
const std::string& settleScriptSha();

}  // namespace fwd::dataplane::ratelimit
